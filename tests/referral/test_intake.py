"""Referrals that arrive as plain records become routed referrals: an HL7 REF^I12 from the shared
samples (addressed to the referred-to provider) and a police crisis record asking for follow-up
(routed to the crisis team by service type); the receiver then works them through FHIR Task
updates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from adapters.base import SourceInfo
from adapters.registry import load_adapters
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.referral import codes
from gateway.referral.escalation import run_due
from gateway.referral.types import ReferralContext
from gateway.sharing.profile import agency_uri
from tests.adapters.police_rms.samples import full_record
from tests.referral.support import (
    BASE,
    CLINIC,
    CRISIS,
    HOSPITAL,
    POLICE,
    as_agency,
    referral_request,
)

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "hl7v2" / "REF-I12-01.hl7"
FHIR = {"Content-Type": "application/fhir+json"}


def referred_to_practitioner(payload: bytes) -> str:
    """The Practitioner id the HL7 adapter gives the PRD referred-to provider (PLN5010)."""
    adapter = load_adapters()["hl7v2"]
    record = adapter.parse(payload, "x-application/hl7-v2+er7")[0]
    bundle = adapter.to_fhir(record, SourceInfo(agency=HOSPITAL, client_id="x")).bundle
    for entry in bundle["entry"]:
        doc = entry["resource"]
        if doc["resourceType"] == "Practitioner" and any(
            i.get("value") == "PLN5010" for i in doc.get("identifier", [])
        ):
            return str(doc["id"])
    raise AssertionError("the sample names no referred-to provider")


def directory_role(db: Database, practitioner: str, org: str) -> None:
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        svc.update(
            "Practitioner",
            practitioner,
            {
                "resourceType": "Practitioner",
                "id": practitioner,
                "name": [{"family": "McWilliams"}],
            },
        )
        svc.update(
            "PractitionerRole",
            "role-mcwilliams",
            {
                "resourceType": "PractitionerRole",
                "id": "role-mcwilliams",
                "active": True,
                "practitioner": {"reference": f"Practitioner/{practitioner}"},
                "organization": {"reference": f"Organization/{org}"},
            },
        )


def due(db: Database, ctx: ReferralContext) -> Any:
    with db.unit_of_work() as session:
        return run_due(session, ctx)


def ingest_hl7(client: TestClient) -> None:
    response = client.post(
        "/ingest/hl7v2",
        content=SAMPLE.read_bytes(),
        headers={
            "Content-Type": "x-application/hl7-v2+er7",
            **as_agency(client, HOSPITAL, scope="system/*.cruds"),
        },
    )
    assert response.status_code in (200, 201), response.text


def ingest_police(client: TestClient) -> None:
    response = client.post(
        "/ingest/police-rms",
        content=orjson.dumps(full_record()),
        headers={
            "Content-Type": "application/json",
            **as_agency(client, POLICE, role="police_rms"),
        },
    )
    assert response.status_code in (200, 201), response.text


def queue(client: TestClient, agency: str) -> list[dict[str, Any]]:
    response = client.get("/referrals/queue", headers=as_agency(client, agency))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_hl7_referral_is_routed_to_the_referred_to_providers_organisation(
    app_client: TestClient, seeded: Database, ctx: ReferralContext
) -> None:
    directory_role(seeded, referred_to_practitioner(SAMPLE.read_bytes()), CLINIC)
    ingest_hl7(app_client)
    report = due(seeded, ctx)
    assert report.adopted == 1 and report.errors == 0
    items = queue(app_client, CLINIC)
    assert len(items) == 1
    item = items[0]
    assert item["routed_by"] == "addressed" and item["referrer"] == HOSPITAL
    assert item["urgency"] == "routine"  # RF1-2 R
    task = item["task"]
    assert task["owner"] == {"reference": "HealthcareService/svc-cm"}
    assert task["meta"]["source"] == agency_uri(HOSPITAL)  # the sender's own Task, reused
    assert due(seeded, ctx).adopted == 0  # adopted once
    # The receiver works it through plain FHIR Task updates (the workflow's write hook).
    headers = {**FHIR, **as_agency(app_client, CLINIC)}
    accepted = app_client.put(
        f"/fhir/Task/{task['id']}", json={**task, "status": "accepted"}, headers=headers
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    no_outcome = app_client.put(
        f"/fhir/Task/{task['id']}", json={**task, "status": "completed"}, headers=headers
    )
    assert no_outcome.status_code == 400 and "outcome" in no_outcome.text
    backwards = app_client.put(
        f"/fhir/Task/{task['id']}", json={**task, "status": "requested"}, headers=headers
    )
    assert backwards.status_code == 409
    wrong = app_client.put(
        f"/fhir/Task/{task['id']}",
        json={**task, "status": "cancelled"},
        headers={**FHIR, **as_agency(app_client, CRISIS)},
    )
    assert wrong.status_code == 403
    deleted = app_client.delete(f"/fhir/Task/{task['id']}", headers=headers)
    assert deleted.status_code == 409
    outcome = {
        "type": {"coding": [{"system": codes.REFERRAL_SYSTEM, "code": "outcome"}]},
        "valueCodeableConcept": {
            "coding": [{"system": codes.OUTCOME_SYSTEM, "code": "did-not-attend"}]
        },
    }
    done = app_client.put(
        f"/fhir/Task/{task['id']}",
        json={**task, "status": "completed", "output": [outcome]},
        headers=headers,
    )
    assert done.status_code == 200, done.text
    assert done.json()["businessStatus"]["coding"][0]["code"] == "did-not-attend"


def test_police_follow_up_request_goes_to_the_crisis_team(
    app_client: TestClient, seeded: Database, ctx: ReferralContext
) -> None:
    ingest_police(app_client)
    assert due(seeded, ctx).adopted == 1
    items = queue(app_client, CRISIS)
    assert len(items) == 1
    item = items[0]
    assert item["routed_by"] == "directory" and item["service_type"] == "crisis-follow-up"
    assert item["referrer"] == POLICE and item["urgency"] == "urgent"
    assert item["task"]["owner"] == {"reference": "HealthcareService/svc-mct"}
    status = app_client.get(
        f"/referrals/{item['task']['id']}", headers=as_agency(app_client, POLICE, role="police_rms")
    )
    assert status.status_code == 200, status.text
    assert status.json()["state"] == "requested"  # the referrer follows the status
    # The crisis team sees the referral and the person (it now serves them); the police system
    # does not get the ServiceRequest back through the status page (sharing rules decide).
    team = app_client.get(
        f"/referrals/{item['task']['id']}",
        headers=as_agency(app_client, CRISIS, role="crisis_team_system"),
    ).json()
    assert team["service_request"]["code"]["coding"][0]["code"] == "crisis-team-follow-up"
    assert team["patient"]["id"] == item["task"]["for"]["reference"].split("/")[1]
    stranger = app_client.get(
        f"/referrals/{item['task']['id']}", headers=as_agency(app_client, CLINIC)
    )
    assert stranger.status_code == 403


def test_a_task_posted_through_fhir_opens_a_routed_referral(
    app_client: TestClient, seeded: Database
) -> None:
    headers = {**FHIR, **as_agency(app_client, HOSPITAL)}
    sr = app_client.post("/fhir/ServiceRequest", json=referral_request(), headers=headers)
    assert sr.status_code == 201, sr.text
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]
        },
        "focus": {"reference": f"ServiceRequest/{sr.json()['id']}"},
        "for": {"reference": "Patient/pat-1"},
    }
    created = app_client.post("/fhir/Task", json=task, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["owner"] == {"reference": "HealthcareService/svc-opd"}
    assert [i["task"]["id"] for i in queue(app_client, CLINIC)] == [created.json()["id"]]
    # Another agency cannot refer the hospital's ServiceRequest.
    other = app_client.post(
        "/fhir/Task", json=task, headers={**FHIR, **as_agency(app_client, CLINIC)}
    )
    assert other.status_code == 403


def test_a_corrected_police_record_withdraws_its_referral(
    app_client: TestClient, seeded: Database, ctx: ReferralContext
) -> None:
    ingest_police(app_client)
    assert due(seeded, ctx).adopted == 1
    task_id = queue(app_client, CRISIS)[0]["task"]["id"]
    corrected = full_record()
    corrected["follow_up"]["requested"] = False
    corrected["updated_at"] = "2024-03-05T19:00:00-05:00"
    response = app_client.post(
        "/ingest/police-rms",
        content=orjson.dumps(corrected),
        headers={
            "Content-Type": "application/json",
            **as_agency(app_client, POLICE, role="police_rms"),
        },
    )
    assert response.status_code in (200, 201), response.text
    report = due(seeded, ctx)
    assert report.withdrawn == 1 and report.adopted == 0
    assert queue(app_client, CRISIS) == []
    status = app_client.get(
        f"/referrals/{task_id}", headers=as_agency(app_client, CRISIS, role="crisis_team_system")
    ).json()
    assert status["state"] == "cancelled" and status["reason"] == "withdrawn"
    assert due(seeded, ctx).withdrawn == 0
