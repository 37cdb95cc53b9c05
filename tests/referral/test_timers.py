"""Shifts and escalation with a controllable clock: a night referral waits for the team's shift and
is flagged when it starts; an unanswered one is escalated to the supervisor once, and shows overdue."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.notify.topics import NEW_REFERRAL_TASK, REFERRAL_ESCALATION, REFERRAL_STATUS
from gateway.placement.workflow_types import ManualClock
from gateway.referral.escalation import run_due
from gateway.referral.types import ReferralContext
from tests.placement.workflow.support import event_focus, messages, subscribe
from tests.referral.support import (
    BASE,
    CLINIC,
    CRISIS,
    FRIDAY_NIGHT,
    HOSPITAL,
    MONDAY_0800,
    as_agency,
    refer,
    step,
)

HOUR = 3600.0


def _due(db: Database, ctx: ReferralContext) -> object:
    with db.unit_of_work() as session:
        return run_due(session, ctx)


def _queue(client: TestClient, agency: str) -> dict:
    response = client.get("/referrals/queue", headers=as_agency(client, agency))
    assert response.status_code == 200, response.text
    return response.json()


def _events(db: Database, sid: str) -> list[str | None]:
    return [event_focus(b) for b in messages(db, sid) if event_focus(b)]


def test_a_night_referral_waits_for_the_shift_and_is_flagged_when_it_starts(
    app_client: TestClient, seeded: Database, clock: ManualClock, ctx: ReferralContext
) -> None:
    clock.t = FRIDAY_NIGHT
    team_sub, _ = subscribe(seeded, CRISIS, NEW_REFERRAL_TASK, now=clock.t)
    referrer_sub, _ = subscribe(seeded, HOSPITAL, REFERRAL_STATUS, now=clock.t)
    task = refer(app_client, stype="crisis-follow-up")
    assert task["owner"] == {"reference": "HealthcareService/svc-mct"}
    assert task["businessStatus"]["coding"][0]["code"] == "awaiting-shift"
    item = _queue(app_client, CRISIS)["items"][0]
    assert item["awaiting_shift"] is True
    assert item["on_duty_from"] == "2026-11-30T14:00:00.000Z"  # Monday 08:00 in Chicago
    assert _events(seeded, referrer_sub) == [f"Task/{task['id']}"]
    assert _events(seeded, team_sub) == []  # nobody on duty to tell yet
    clock.t = MONDAY_0800 - 60
    report = _due(seeded, ctx)
    assert report.flagged == 0 and report.escalated == 0  # 55 h old, but its clock starts Monday
    clock.t = MONDAY_0800 + 60
    assert _due(seeded, ctx).flagged == 1
    item = _queue(app_client, CRISIS)["items"][0]
    assert item["awaiting_shift"] is False
    assert item["task"]["businessStatus"]["coding"][0]["code"] == "shift-started"
    assert _events(seeded, team_sub) == [f"Task/{task['id']}"]
    assert _due(seeded, ctx).flagged == 0  # flagged once


def test_unanswered_referrals_are_escalated_once_and_shown_overdue(
    app_client: TestClient, seeded: Database, clock: ManualClock, ctx: ReferralContext
) -> None:
    supervisor_sub, _ = subscribe(seeded, CLINIC, REFERRAL_ESCALATION, now=clock.t)
    with seeded.unit_of_work() as session:
        ResourceService(session, BASE).update(
            "PractitionerRole",
            "clinic-supervisor",
            {
                "resourceType": "PractitionerRole",
                "id": "clinic-supervisor",
                "organization": {"reference": f"Organization/{CLINIC}"},
                "code": [{"coding": [{"code": "supervisor"}]}],
            },
        )
    referrer_sub, _ = subscribe(seeded, HOSPITAL, REFERRAL_STATUS, now=clock.t)
    late = refer(app_client)  # urgent: 24 h to answer
    answered = refer(app_client)
    routine = refer(app_client, priority="routine")  # 72 h
    assert step(app_client, answered["id"], "$accept", CLINIC).status_code == 200
    clock.advance(23 * HOUR)
    assert _due(seeded, ctx).escalated == 0
    assert _queue(app_client, CLINIC)["overdue"] == 0
    clock.advance(2 * HOUR)
    assert _due(seeded, ctx).escalated == 1
    queue = _queue(app_client, CLINIC)
    assert queue["overdue"] == 1
    first = queue["items"][0]
    assert first["task"]["id"] == late["id"] and first["overdue"] and first["escalated"]
    assert first["task"]["businessStatus"]["coding"][0]["code"] == "overdue"
    assert {i["task"]["id"] for i in queue["items"]} == {late["id"], answered["id"], routine["id"]}
    alerts = [event_focus(b) for b in messages(seeded, supervisor_sub) if event_focus(b)]
    assert len(alerts) == 1 and alerts[0].startswith("Communication/")
    alert = next(
        e["resource"]
        for b in messages(seeded, supervisor_sub)
        for e in b["entry"][1:]
        if e.get("resource", {}).get("resourceType") == "Communication"
    )
    assert {r["reference"] for r in alert["recipient"]} == {
        f"Organization/{CLINIC}",
        "PractitionerRole/clinic-supervisor",
    }
    assert alert["about"] == [{"reference": f"Task/{late['id']}"}]
    assert _events(seeded, referrer_sub).count(f"Task/{late['id']}") == 2  # routed, escalated
    assert _due(seeded, ctx).escalated == 0  # once only
    # An overdue referral can still be answered; it then leaves the overdue count.
    assert step(app_client, late["id"], "$accept", CLINIC).status_code == 200
    assert _queue(app_client, CLINIC)["overdue"] == 0
    clock.advance(48 * HOUR)
    assert _due(seeded, ctx).escalated == 1  # the routine one, at 72 h
