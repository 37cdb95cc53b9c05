"""The real facility matcher plugs into the workflow: nearest units first, asked units left out."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.placement.workflow_matcher import MatcherCandidates, prepare_candidates
from gateway.placement.workflow_setup import install
from gateway.placement.workflow_types import ManualClock
from gateway.settings import Settings
from tests.placement.workflow.conftest import CONFIG
from tests.placement.workflow.support import ORIGIN, REQUESTER, caller, run, service_request


def test_the_matcher_proposes_the_nearest_units_not_asked_yet(
    seeded: Database, settings: Settings, keystore: KeyStore, clock: ManualClock
) -> None:
    app = create_app(settings, db=seeded, keys=keystore)
    ctx = install(app, config=CONFIG, clock=clock, routers=False)
    ctx.candidates = MatcherCandidates(app)
    with TestClient(app):
        prepare_candidates(ctx)
        opened = run(
            seeded,
            ctx,
            lambda wf: wf.open_request(caller(REQUESTER), service_request(), near=ORIGIN),
        )
    owners = [c["owner"]["reference"] for c in opened.children]
    assert owners == ["Organization/org-f1", "Organization/org-f2"]
    with seeded.unit_of_work() as session:
        from gateway.placement.workflow_types import Criteria

        found = ctx.candidates(
            session,
            Criteria(service_request=service_request(), near=ORIGIN, age=35, sex="female"),
            3,
            100.0,
            frozenset({"unit-f1"}),
        )
    assert [c.unit_id for c in found] == ["unit-f2", "unit-f3"]
    assert found[0].distance_km is not None and 29 < found[0].distance_km < 31
