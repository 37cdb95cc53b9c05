"""``GET /placement/metrics`` against numbers worked out by hand for a generated day of requests."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.placement.metrics import percentile
from gateway.placement.transitions import OfferState, Phase
from gateway.placement.workflow_codes import iso
from gateway.placement.workflow_setup import install
from gateway.placement.workflow_types import ManualClock, PlacementContext
from gateway.settings import Settings
from tests.conftest import bearer
from tests.placement.workflow.conftest import CONFIG
from tests.placement.workflow.support import (
    FACILITIES,
    ORIGIN,
    REQUESTER,
    caller,
    finder,
    run,
    service_request,
)

T0 = 1_750_000_000.0
ADULT = "AdultPsychiatric|25-44|female|Texas Medicaid"
CHILD = "PediatricPsychiatric|25-44|female|Texas Medicaid"


def at(clock: ManualClock, t: float) -> None:
    clock.t = T0 + t


def generate(db: Database, ctx: PlacementContext, clock: ManualClock) -> None:
    """Four requests in the window (A, B, C adult; D paediatric, nobody to ask) and one after it."""

    def open_at(t: float, **kw: Any) -> dict[str, str]:
        at(clock, t)
        opened = run(
            db,
            ctx,
            lambda wf: wf.open_request(caller(REQUESTER), service_request(**kw), near=ORIGIN),
        )
        out = {c["owner"]["reference"].split("/")[1]: c["id"] for c in opened.children}
        out["parent"] = opened.parent["id"]
        return out

    def offer(t: float, org: str, task: str, state: OfferState, **kw: Any) -> None:
        at(clock, t)
        run(db, ctx, lambda wf: wf.offer_action(caller(org), task, state, **kw))

    def move(t: float, who: str, parent: str, phase: Phase) -> None:
        at(clock, t)
        run(db, ctx, lambda wf: wf.request_action(caller(who), parent, phase))

    a = open_at(0)
    b = open_at(100)
    c = open_at(200)
    open_at(300, level="PediatricPsychiatric")
    offer(300, "org-f1", a["org-f1"], OfferState.REJECTED, reason="no-bed")
    offer(600, "org-f2", a["org-f2"], OfferState.ACCEPTED, bed="b1")
    move(1000, REQUESTER, a["parent"], Phase.TRANSPORT)
    move(2000, REQUESTER, a["parent"], Phase.EN_ROUTE)
    move(3600, "org-f2", a["parent"], Phase.ARRIVED)
    move(4000, "org-f2", a["parent"], Phase.COMPLETED)
    offer(160, "org-f1", b["org-f1"], OfferState.RECEIVED)
    offer(220, "org-f2", b["org-f2"], OfferState.REJECTED, reason="payer")
    offer(1000, "org-f1", b["org-f1"], OfferState.REJECTED, reason="no-bed")
    offer(1400, "org-f1", c["org-f1"], OfferState.ACCEPTED, bed="b2")
    move(1500, REQUESTER, c["parent"], Phase.TRANSPORT)
    move(1600, REQUESTER, c["parent"], Phase.EN_ROUTE)
    move(5200, REQUESTER, c["parent"], Phase.ARRIVED)
    open_at(10 * 86400)  # outside the window


@pytest.fixture()
def api(seeded: Database, settings: Settings, keystore: KeyStore, clock: ManualClock) -> TestClient:
    app = create_app(settings, db=seeded, keys=keystore)
    ctx = install(
        app, candidates=finder(FACILITIES, stale=frozenset({"unit-f2"})), config=CONFIG, clock=clock
    )
    generate(seeded, ctx, clock)
    return TestClient(app, raise_server_exceptions=False)


def window() -> str:
    return f"from={iso(T0 - 60)}&to={iso(T0 + 86400)}"


def test_metrics_match_the_hand_computed_figures(api: TestClient) -> None:
    headers = bearer(api.app, agency="bha", role="bha_auditor")
    got = api.get(f"/placement/metrics?{window()}", headers=headers)
    assert got.status_code == 200, got.text
    m = got.json()
    assert (m["requests"], m["placements"], m["admitted"], m["asks"]) == (4, 2, 1, 6)
    # first responses: A 300 s, B 60 s, C 1200 s
    assert m["timeToFirstResponse"] == {"count": 3, "median": 300.0, "p90": 1020.0}
    # acceptances: A 600 s, C 1200 s; arrivals: A 3600 s, C 5000 s
    assert m["timeToAcceptance"] == {"count": 2, "median": 900.0, "p90": pytest.approx(1140.0)}
    assert m["timeToArrival"] == {"count": 2, "median": 4300.0, "p90": pytest.approx(4860.0)}
    assert m["declinesByReason"] == {"no-bed": 2, "payer": 1}
    assert m["declinesByFacility"] == {"org-f1": 2, "org-f2": 1}
    assert m["staleCensusShare"] == 0.5  # every ask to unit-f2 (3 of 6) went on a stale census
    hardest = m["hardestToPlace"]
    assert [h["profile"] for h in hardest] == [CHILD, ADULT]
    assert hardest[0] == {
        "profile": CHILD,
        "requests": 1,
        "placements": 0,
        "placementRate": 0.0,
        "declines": 0,
        "medianTimeToAcceptance": None,
    }
    assert hardest[1]["placementRate"] == pytest.approx(2 / 3) and hardest[1]["declines"] == 3


def test_metrics_as_csv_and_who_may_see_them(api: TestClient) -> None:
    admin = bearer(api.app, agency="gw", role="gateway_admin")
    got = api.get(f"/placement/metrics?{window()}&format=csv", headers=admin)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = {(r["metric"], r["key"]): r["value"] for r in csv.DictReader(io.StringIO(got.text))}
    assert rows[("requests", "")] == "4"
    assert rows[("timeToAcceptance.median", "")] == "900"
    assert rows[("declinesByReason", "no-bed")] == "2"
    assert rows[("declinesByFacility", "org-f2")] == "1"
    assert rows[("hardestToPlace.placementRate", CHILD)] == "0"
    assert rows[("staleCensusShare", "")] == "0.5"
    hospital = bearer(api.app, agency=REQUESTER, role="hospital_ehr")
    assert api.get(f"/placement/metrics?{window()}", headers=hospital).status_code == 403
    bad = api.get("/placement/metrics?from=yesterday", headers=admin)
    assert bad.status_code == 400
    everything = api.get("/placement/metrics", headers=admin).json()
    assert everything["requests"] == 5  # no window: every request up to now


def test_percentile_is_linear_between_closest_ranks() -> None:
    assert percentile([], 90) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90) == pytest.approx(9.1)
