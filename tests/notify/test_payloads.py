"""What subscribers receive: valid R4 history Bundles in the backport shape, and for a facility that
has not accepted, only the minimum necessary of the request."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.db.session import Database
from gateway.fhir.model import model_class, validate
from gateway.notify.topics import (
    NEW_PLACEMENT_TASK,
    NOTIFICATION_PROFILE,
    PLACEMENT_STATUS,
    STATUS_PROFILE,
)
from gateway.placement.transitions import OfferState
from gateway.placement.workflow_sharing import (
    diagnosis_category,
    reduce_service_request,
)
from gateway.placement.workflow_types import ManualClock, PlacementContext
from tests.placement.workflow.support import (
    ORIGIN,
    REQUESTER,
    caller,
    messages,
    run,
    service_request,
    subscribe,
)

Resource = dict[str, Any]


def open_one(db: Database, ctx: PlacementContext, **kw: Any) -> Any:
    return run(
        db, ctx, lambda wf: wf.open_request(caller(REQUESTER), service_request(**kw), near=ORIGIN)
    )


def params(bundle: Resource) -> dict[str, Any]:
    return {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}


def test_notifications_are_backport_history_bundles(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    sid, _ = subscribe(seeded, REQUESTER, PLACEMENT_STATUS, now=clock.now())
    opened = open_one(seeded, ctx)
    handshake, event = messages(seeded, sid)
    for bundle in (handshake, event):
        model_class("Bundle").model_validate(bundle)
        assert bundle["type"] == "history"
        assert bundle["meta"]["profile"] == [NOTIFICATION_PROFILE]
        status = bundle["entry"][0]
        assert status["resource"]["meta"]["profile"] == [STATUS_PROFILE]
        assert status["request"]["url"].endswith(f"/Subscription/{sid}/$status")
    assert params(handshake)["type"]["valueCode"] == "handshake"
    got = params(event)
    assert got["type"]["valueCode"] == "event-notification"
    assert (
        got["topic"]["valueCanonical"] == "urn:crisis-exchange:subscription-topic:placement-status"
    )
    assert got["events-since-subscription-start"]["valueString"] == "1"
    part = {p["name"]: p for p in got["notification-event"]["part"]}
    assert part["focus"]["valueReference"]["reference"].endswith(f"/Task/{opened.parent['id']}")
    assert event["entry"][1]["resource"]["id"] == opened.parent["id"]  # full-resource


def test_id_only_and_empty_payloads_carry_no_resources(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    ids, _ = subscribe(seeded, "org-f1", NEW_PLACEMENT_TASK, content="id-only", now=clock.now())
    empty, _ = subscribe(seeded, "org-f1", NEW_PLACEMENT_TASK, content="empty", now=clock.now())
    opened = open_one(seeded, ctx)
    child = next(c for c in opened.children if c["owner"]["reference"] == "Organization/org-f1")
    id_only = messages(seeded, ids)[-1]
    assert len(id_only["entry"]) == 1
    focus = {p["name"]: p for p in params(id_only)["notification-event"]["part"]}["focus"]
    assert focus["valueReference"]["reference"].endswith(f"/Task/{child['id']}")
    bare = messages(seeded, empty)[-1]
    assert len(bare["entry"]) == 1
    assert [p["name"] for p in params(bare)["notification-event"]["part"]] == [
        "event-number",
        "timestamp",
    ]


def test_a_facility_sees_the_minimum_necessary_until_it_accepts(
    seeded: Database, ctx: PlacementContext, clock: ManualClock
) -> None:
    sid, _ = subscribe(seeded, "org-f1", NEW_PLACEMENT_TASK, now=clock.now())
    opened = open_one(seeded, ctx, hold_expires="2025-06-16T03:00:00Z")
    child = next(c for c in opened.children if c["owner"]["reference"] == "Organization/org-f1")
    asked = messages(seeded, sid)[-1]
    task, sr = (e["resource"] for e in asked["entry"][1:])
    assert task["id"] == child["id"]
    validate(sr)
    text = orjson.dumps(sr).decode()
    for secret in (
        "Riley",
        "Testperson",
        "MRN-12345",
        "Patient/pat-1",
        "voices",
        "F20.9",
        "Coverage/",
    ):
        assert secret not in text, secret
    patient = next(c for c in sr["contained"] if c["resourceType"] == "Patient")
    assert patient["gender"] == "female"
    assert patient["extension"][0]["valueAge"]["value"] == 35  # born 1990-06-01, now 2025-06-15
    payer = next(c for c in sr["contained"] if c["resourceType"] == "Coverage")
    assert payer["payor"] == [{"display": "Texas Medicaid"}]
    assert sr["reasonCode"][0]["coding"][0]["code"] == "F20-F29"
    assert sr["code"]["coding"][0]["code"] == "AdultPsychiatric"
    urls = {e["url"] for e in sr["extension"]}
    assert urls == {
        "urn:crisis-exchange:extension:risk-summary",
        "urn:crisis-exchange:extension:involuntary-hold-expires",
    }
    assert {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
        "code": "REDACTED",
    } in sr["meta"]["security"]
    run(
        seeded,
        ctx,
        lambda wf: wf.offer_action(caller("org-f1"), child["id"], OfferState.ACCEPTED, bed="b1"),
    )
    accepted = messages(seeded, sid)[-1]
    full = accepted["entry"][2]["resource"]
    assert full["subject"] == {"reference": "Patient/pat-1"}
    assert full["note"][0]["text"].startswith("Patient Riley")


def test_substance_use_category_is_withheld_from_part2_requests() -> None:
    sr = service_request(reasons=("F10.20", "F32.9"))
    sr["id"] = "sr-1"
    plain = reduce_service_request(sr, None, [], 0.0)
    assert [c["coding"][0]["code"] for c in plain["reasonCode"]] == ["F10-F19", "F30-F39"]
    sr["meta"] = {
        "security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2"}
        ]
    }
    part2 = reduce_service_request(sr, None, [], 0.0)
    assert [c["coding"][0]["code"] for c in part2["reasonCode"]] == ["F30-F39"]
    assert diagnosis_category("R45.851") == ("R40-R46", diagnosis_category("R45.851")[1])  # type: ignore[index]
    assert diagnosis_category("Z00.0") is None
