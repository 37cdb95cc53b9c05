"""The background workers deliver and escalate on their own; census reports reconcile bed counters;
settings come from the environment."""

from __future__ import annotations

import asyncio

import pytest

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.notify.topics import PLACEMENT_STATUS
from gateway.placement.transitions import OfferState, Phase
from gateway.placement.workflow_beds import free_beds, reconcile_census, set_free_beds
from gateway.placement.workflow_setup import install, workers
from gateway.placement.workflow_types import ManualClock, PlacementContext, WorkflowConfig
from gateway.settings import Settings
from tests.notify.receiver import Receiver
from tests.placement.workflow.conftest import CONFIG
from tests.placement.workflow.support import (
    FACILITIES,
    ORIGIN,
    REQUESTER,
    caller,
    finder,
    run,
    service_request,
    subscribe,
)


def test_census_reports_reconcile_with_reservations(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    unit, org = "unit-f1", "org-f1"
    with seeded.unit_of_work() as session:
        set_free_beds(session, unit, org, 5, clock.now())
    report_time = clock.now()
    clock.advance(60)
    opened = run(
        seeded, ctx, lambda wf: wf.open_request(caller(REQUESTER), service_request(), near=ORIGIN)
    )
    child = next(c["id"] for c in opened.children if c["owner"]["reference"].endswith(org))
    run(seeded, ctx, lambda wf: wf.offer_action(caller(org), child, OfferState.ACCEPTED, bed="b"))
    with seeded.unit_of_work() as session:
        assert free_beds(session, unit) == 4
        # A report made before the acceptance does not know of it: the held bed is taken off.
        assert reconcile_census(session, unit, org, 3, report_time, clock.now()) == 2
        # A report made after it counts the reserved bed itself.
        assert reconcile_census(session, unit, org, 3, clock.now() + 1, clock.now()) == 3
        assert reconcile_census(session, unit, org, 0, report_time, clock.now()) == 0
        assert reconcile_census(session, "unit-new", "org-new", 2, report_time, clock.now()) == 2
    run(
        seeded,
        ctx,
        lambda wf: wf.request_action(
            caller(REQUESTER), opened.parent["id"], Phase.CANCELLED, reason="x"
        ),
    )
    with seeded.unit_of_work() as session:
        assert free_beds(session, unit) == 1  # given back
        assert reconcile_census(session, unit, org, 3, report_time, clock.now()) == 3


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PLACEMENT_TOP_N", "5")
    monkeypatch.setenv("GATEWAY_PLACEMENT_RESPONSE_MINUTES", "15")
    monkeypatch.setenv("GATEWAY_PLACEMENT_RADII_KM", "25,75")
    monkeypatch.setenv("GATEWAY_PLACEMENT_BED_HOLD_MINUTES", "90")
    monkeypatch.setenv("GATEWAY_PLACEMENT_HOLD_ALERT_MINUTES", "45")
    config = WorkflowConfig.from_env()
    assert config == WorkflowConfig(5, 900.0, (25.0, 75.0), 5400.0, 2700.0)
    assert config.radius(7) == 75.0
    monkeypatch.delenv("GATEWAY_PLACEMENT_RADII_KM")
    assert WorkflowConfig.from_env().radii_km == (50.0, 100.0, 200.0, 400.0)


def test_workers_deliver_and_escalate_in_the_background(
    seeded: Database, settings: Settings, keystore: KeyStore, clock: ManualClock
) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        app = create_app(settings, db=seeded, keys=keystore)
        ctx = install(app, candidates=finder(FACILITIES), config=CONFIG, clock=clock)
        subscribe(seeded, REQUESTER, PLACEMENT_STATUS, receiver.url, now=clock.now())
        run(
            seeded,
            ctx,
            lambda wf: wf.open_request(caller(REQUESTER), service_request(), near=ORIGIN),
        )
        clock.advance(CONFIG.response_seconds)  # the escalation is due

        async def main() -> bool:
            running = workers(app, delivery_interval=0.05, timers_interval=0.05)
            for worker in running:
                worker.start()
            try:
                # handshake, request opened, escalation note
                return await asyncio.to_thread(receiver.wait_for, 3, 20.0)
            finally:
                for worker in running:
                    await worker.stop()

        assert asyncio.run(main())
        assert [r.kind for r in receiver.got[:3]] == ["handshake"] + ["event-notification"] * 2
        escalated = receiver.got[2].bundle["entry"][1]["resource"]
        assert "more facility" in escalated["note"][-1]["text"]
    finally:
        receiver.stop()
