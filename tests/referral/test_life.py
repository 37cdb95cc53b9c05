"""A referral's life over /referrals: routed to the right queue, received, accepted, booked and
completed; rejections and cancellations; every refusal an OperationOutcome."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.referral.support import (
    CLINIC,
    CRISIS,
    HOSPITAL,
    OTHER,
    as_agency,
    outcome,
    refer,
    step,
)


def test_a_referral_by_service_type_goes_to_the_team_that_offers_it(app_client: TestClient) -> None:
    task = refer(app_client)
    assert task["status"] == "requested" and task["intent"] == "order"
    assert task["code"]["coding"][0]["code"] == "fulfill"
    assert task["owner"] == {"reference": "HealthcareService/svc-opd"}
    assert task["requester"] == {"reference": f"Organization/{HOSPITAL}"}
    assert task["for"] == {"reference": "Patient/pat-1"}
    assert task["restriction"]["period"]["end"]  # the urgency's answer deadline
    queue = app_client.get("/referrals/queue", headers=as_agency(app_client, CLINIC)).json()
    assert [i["task"]["id"] for i in queue["items"]] == [task["id"]]
    assert (
        queue["items"][0]["urgency"] == "urgent" and queue["items"][0]["routed_by"] == "directory"
    )
    other = app_client.get("/referrals/queue", headers=as_agency(app_client, OTHER)).json()
    assert other["items"] == []


def test_a_referral_addressed_to_an_organisation_goes_to_it(app_client: TestClient) -> None:
    task = refer(app_client, performer=[{"reference": f"Organization/{CRISIS}"}])
    assert task["owner"] == {"reference": f"Organization/{CRISIS}"}  # it lists no such team
    queue = app_client.get("/referrals/queue", headers=as_agency(app_client, CRISIS)).json()
    assert queue["items"][0]["routed_by"] == "addressed"


def test_receive_accept_book_complete_closes_the_loop(app_client: TestClient) -> None:
    task = refer(app_client)
    assert step(app_client, task["id"], "$receive", CLINIC).json()["status"] == "received"
    assert step(app_client, task["id"], "$accept", CLINIC).json()["status"] == "accepted"
    booked = step(
        app_client, task["id"], "$book", CLINIC, appointment={"start": "2026-12-03T15:00:00Z"}
    )
    assert booked.status_code == 200, booked.text
    booked_task = booked.json()
    assert booked_task["status"] == "in-progress"
    appt_ref = booked_task["output"][0]["valueReference"]["reference"]
    done = step(app_client, task["id"], "$complete", CLINIC, outcome="seen", text="seen by Dr B")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["businessStatus"]["coding"][0]["code"] == "seen"
    status = app_client.get(f"/referrals/{task['id']}", headers=as_agency(app_client, HOSPITAL))
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["state"] == "completed" and body["outcome"] == "seen"
    assert body["appointment_start"] == "2026-12-03T15:00:00.000Z"
    assert body["next"] == []
    mine = app_client.get(f"/referrals/{task['id']}", headers=as_agency(app_client, CLINIC)).json()
    assert f"Appointment/{mine['appointment']['id']}" == appt_ref
    assert mine["appointment"]["status"] == "fulfilled"
    assert mine["service_request"]["reasonCode"][0]["text"].startswith("follow-up")


def test_rejection_needs_a_reason_and_ends_the_referral(app_client: TestClient) -> None:
    task = refer(app_client)
    missing = step(app_client, task["id"], "$reject", CLINIC)
    assert missing.status_code == 400 and "reason" in outcome(missing)
    rejected = step(app_client, task["id"], "$reject", CLINIC, reason="no-capacity")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["statusReason"]["coding"][0]["code"] == "no-capacity"
    again = step(app_client, task["id"], "$accept", CLINIC)
    assert again.status_code == 409 and "already rejected" in outcome(again)


def test_only_the_receiver_answers_and_only_the_referrer_cancels(app_client: TestClient) -> None:
    task = refer(app_client)
    by_referrer = step(app_client, task["id"], "$accept", HOSPITAL)
    assert by_referrer.status_code == 409 and "only the receiver" in outcome(by_referrer)
    stranger = step(app_client, task["id"], "$accept", OTHER)
    assert stranger.status_code == 403
    by_receiver = step(app_client, task["id"], "$cancel", CLINIC)
    assert by_receiver.status_code == 409 and "only the" in outcome(by_receiver)
    cancelled = step(app_client, task["id"], "$cancel", HOSPITAL, reason="no-longer-needed")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_illegal_transitions_are_refused(app_client: TestClient) -> None:
    task = refer(app_client)
    early = step(app_client, task["id"], "$complete", CLINIC, outcome="seen")
    assert early.status_code == 409 and "cannot go from requested to completed" in outcome(early)
    step(app_client, task["id"], "$accept", CLINIC)
    no_appt = step(app_client, task["id"], "$book", CLINIC)
    assert no_appt.status_code == 400 and "appointment" in outcome(no_appt)
    bad_outcome = step(app_client, task["id"], "$complete", CLINIC, outcome="great")
    assert bad_outcome.status_code == 400 and "outcome is one of" in outcome(bad_outcome)
    unknown = step(app_client, task["id"], "$teleport", CLINIC)
    assert unknown.status_code == 404


def test_bad_referrals_get_located_errors(app_client: TestClient) -> None:
    headers = as_agency(app_client, HOSPITAL)
    not_sr = app_client.post("/referrals", json={"resourceType": "Patient"}, headers=headers)
    assert not_sr.status_code == 400
    assert not_sr.json()["issue"][0]["expression"] == ["resourceType"]
    no_patient = app_client.post(
        "/referrals",
        json={
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "code": {"coding": [{"system": "x", "code": "y"}]},
        },
        headers=headers,
    )
    assert no_patient.status_code == 400
    garbage = app_client.post("/referrals", content=b"{nope", headers=headers)
    assert garbage.status_code == 400 and garbage.json()["resourceType"] == "OperationOutcome"
    anonymous = app_client.post("/referrals", json={})
    assert anonymous.status_code == 401


def test_the_queue_filters_by_status_and_urgency(app_client: TestClient) -> None:
    urgent = refer(app_client)
    routine = refer(app_client, priority="routine")
    stat = refer(app_client, priority="stat")
    step(app_client, routine["id"], "$accept", CLINIC)
    headers = as_agency(app_client, CLINIC)
    everything = app_client.get("/referrals/queue", headers=headers).json()
    assert [i["task"]["id"] for i in everything["items"]] == [
        stat["id"],
        urgent["id"],
        routine["id"],
    ]
    assert everything["counts"]["requested"] == 2 and everything["counts"]["accepted"] == 1
    waiting = app_client.get("/referrals/queue?status=requested&urgency=urgent", headers=headers)
    assert [i["task"]["id"] for i in waiting.json()["items"]] == [urgent["id"]]
    bad = app_client.get("/referrals/queue?urgency=soon", headers=headers)
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["urgency"]
    bad_status = app_client.get("/referrals/queue?status=lost", headers=headers)
    assert bad_status.status_code == 400
