"""Timers with a controllable clock: escalation widens the search and tells the requester, unused
reserved beds are released, an involuntary hold nearing expiry raises an alert."""

from __future__ import annotations

from sqlalchemy import select

from gateway.db.session import Database
from gateway.db.tables_placement import PlacementOfferRow
from gateway.notify.topics import NEW_PLACEMENT_TASK, PLACEMENT_STATUS
from gateway.placement.escalation import run_due
from gateway.placement.transitions import OfferState
from gateway.placement.workflow_beds import free_beds
from gateway.placement.workflow_codes import iso
from gateway.placement.workflow_types import ManualClock, PlacementContext
from tests.placement.workflow.support import (
    ORIGIN,
    REQUESTER,
    caller,
    event_focus,
    messages,
    read,
    run,
    service_request,
    subscribe,
)

MIN = 60.0


def asked_units(db: Database) -> list[tuple[int, str]]:
    with db.unit_of_work() as session:
        rows = session.execute(
            select(PlacementOfferRow.wave, PlacementOfferRow.unit_id).order_by(PlacementOfferRow.pk)
        )
        return [(w, u) for w, u in rows]


def tick(db: Database, ctx: PlacementContext) -> object:
    with db.unit_of_work() as session:
        return run_due(session, ctx)


def open_one(db: Database, ctx: PlacementContext, **kw: object) -> tuple[str, list[str]]:
    opened = run(
        db, ctx, lambda wf: wf.open_request(caller(REQUESTER), service_request(**kw), near=ORIGIN)
    )
    return opened.parent["id"], [c["id"] for c in opened.children]


def test_escalation_widens_the_search_and_tells_the_requester(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    sid, _ = subscribe(seeded, REQUESTER, PLACEMENT_STATUS, now=clock.now())
    parent, _ = open_one(seeded, ctx)
    assert asked_units(seeded) == [(0, "unit-f1"), (0, "unit-f2")]
    clock.advance(29 * MIN)
    assert tick(seeded, ctx).escalated == 0
    clock.advance(1 * MIN)
    assert tick(seeded, ctx).escalated == 1
    assert asked_units(seeded)[2:] == [(1, "unit-f3")]  # nobody else within 50 km: 100 km
    notes = read(seeded, "Task", parent)["note"]
    assert "asked 1 more facility within 100 km" in notes[-1]["text"]
    assert notes[-1]["time"] == iso(clock.now())
    assert event_focus(messages(seeded, sid)[-1]) == f"Task/{parent}"
    clock.advance(30 * MIN)
    tick(seeded, ctx)
    assert asked_units(seeded)[3:] == [(2, "unit-f4")]  # 150 km: the 200 km step
    clock.advance(30 * MIN)
    tick(seeded, ctx)
    assert asked_units(seeded)[4:] == [(3, "unit-f5")]
    clock.advance(30 * MIN)
    report = tick(seeded, ctx)
    assert report.exhausted == 1 and len(asked_units(seeded)) == 5
    assert "no other facility within 400 km" in read(seeded, "Task", parent)["note"][-1]["text"]
    clock.advance(30 * MIN)
    assert tick(seeded, ctx).exhausted == 0  # told once, not every half hour
    assert len(read(seeded, "Task", parent)["note"]) == 4


def test_when_everyone_asked_declines_the_next_are_asked_at_once(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    _, children = open_one(seeded, ctx)
    for task_id, org in zip(children, ("org-f1", "org-f2"), strict=True):
        run(
            seeded,
            ctx,
            lambda wf, t=task_id, o=org: wf.offer_action(
                caller(o), t, OfferState.REJECTED, reason="no-bed"
            ),
        )
    clock.advance(1)
    assert tick(seeded, ctx).escalated == 1
    assert [u for _, u in asked_units(seeded)] == ["unit-f1", "unit-f2", "unit-f3"]


def test_facilities_hear_of_new_child_tasks_and_of_their_cancellation(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    f1, _ = subscribe(seeded, "org-f1", NEW_PLACEMENT_TASK, now=clock.now())
    f3, _ = subscribe(seeded, "org-f3", NEW_PLACEMENT_TASK, now=clock.now())
    _, children = open_one(seeded, ctx)
    clock.advance(30 * MIN)
    tick(seeded, ctx)
    assert [event_focus(m) for m in messages(seeded, f1)] == [None, f"Task/{children[0]}"]
    f3_child = event_focus(messages(seeded, f3)[-1])
    assert f3_child is not None
    run(
        seeded,
        ctx,
        lambda wf: wf.offer_action(caller("org-f1"), children[0], OfferState.ACCEPTED, bed="b2"),
    )
    last = messages(seeded, f3)[-1]
    assert event_focus(last) == f3_child
    assert last["entry"][1]["resource"]["status"] == "cancelled"


def test_a_reserved_bed_not_used_in_time_is_released(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    parent, children = open_one(seeded, ctx)
    run(
        seeded,
        ctx,
        lambda wf: wf.offer_action(caller("org-f1"), children[0], OfferState.ACCEPTED, bed="b1"),
    )
    with seeded.unit_of_work() as session:
        assert free_beds(session, "unit-f1") == 1
    clock.advance(4 * 3600 - 1)
    assert tick(seeded, ctx).released == 0
    clock.advance(1)
    assert tick(seeded, ctx).released == 1
    task = read(seeded, "Task", parent)
    assert task["status"] == "failed"
    assert task["statusReason"]["coding"][0]["code"] == "bed-hold-expired"
    assert read(seeded, "Task", children[0])["status"] == "failed"
    with seeded.unit_of_work() as session:
        assert free_beds(session, "unit-f1") == 2
    clock.advance(3600)
    assert tick(seeded, ctx).released == 0


def test_a_patient_who_arrived_keeps_the_bed(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    from gateway.placement.transitions import Phase

    parent, children = open_one(seeded, ctx)
    run(
        seeded,
        ctx,
        lambda wf: wf.offer_action(caller("org-f1"), children[0], OfferState.ACCEPTED, bed="b1"),
    )
    for phase in (Phase.TRANSPORT, Phase.EN_ROUTE, Phase.ARRIVED):
        run(seeded, ctx, lambda wf, p=phase: wf.request_action(caller(REQUESTER), parent, p))
    clock.advance(10 * 3600)
    assert tick(seeded, ctx).released == 0
    assert read(seeded, "Task", parent)["businessStatus"]["coding"][0]["code"] == "arrived"


def test_an_involuntary_hold_nearing_expiry_raises_one_alert(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    sid, _ = subscribe(seeded, REQUESTER, PLACEMENT_STATUS, now=clock.now())
    expires = clock.now() + 3 * 3600
    parent, _ = open_one(seeded, ctx, hold_expires=iso(expires))
    clock.advance(59 * MIN)
    assert tick(seeded, ctx).alerted == 0
    clock.advance(1 * MIN)
    assert tick(seeded, ctx).alerted == 1
    alert = messages(seeded, sid)[-1]
    focus = event_focus(alert)
    assert focus is not None and focus.startswith("Communication/")
    comm = read(seeded, "Communication", focus.split("/")[1])
    assert comm["priority"] == "urgent"
    assert comm["about"] == [{"reference": f"Task/{parent}"}]
    assert comm["recipient"] == [{"reference": f"Organization/{REQUESTER}"}]
    assert "in 120 min" in comm["payload"][0]["contentString"]
    clock.advance(10 * MIN)
    assert tick(seeded, ctx).alerted == 0


def test_no_alert_once_the_patient_is_admitted(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    from gateway.placement.transitions import Phase

    parent, children = open_one(seeded, ctx, hold_expires=iso(clock.now() + 3 * 3600))
    run(
        seeded,
        ctx,
        lambda wf: wf.offer_action(caller("org-f1"), children[0], OfferState.ACCEPTED, bed="b1"),
    )
    for phase, who in (
        (Phase.TRANSPORT, REQUESTER),
        (Phase.EN_ROUTE, REQUESTER),
        (Phase.ARRIVED, "org-f1"),
        (Phase.COMPLETED, "org-f1"),
    ):
        run(seeded, ctx, lambda wf, p=phase, w=who: wf.request_action(caller(w), parent, p))
    clock.advance(2 * 3600)
    assert tick(seeded, ctx).alerted == 0
