"""Test helpers for referrals: a directory of services, people, referrals, tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.referral.codes import SERVICE_TYPE_SYSTEM, TIMEZONE_EXT
from gateway.sharing.profile import agency_uri
from tests.conftest import bearer

Resource = dict[str, Any]
BASE = "http://testserver/fhir"
# Agency ids of the demo partnership (policies/agreements/example.toml), so the sharing rules'
# agreements apply between them.
HOSPITAL = "panhandle-regional"
POLICE = "amarillo-pd"
CRISIS = "amarillo-crisis-team"
CLINIC = "tpc-bha"
OTHER = "sunrise-psych"
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
CHICAGO = ZoneInfo("America/Chicago")
# Friday 2026-11-27 23:00 in Chicago: the crisis team (weekdays 08-17) is off until Monday 08:00.
FRIDAY_NIGHT = datetime(2026, 11, 27, 23, 0, tzinfo=CHICAGO).timestamp()
MONDAY_0800 = datetime(2026, 11, 30, 8, 0, tzinfo=CHICAGO).timestamp()
WEDNESDAY_0900 = datetime(2026, 12, 2, 9, 0, tzinfo=CHICAGO).timestamp()


def service(
    sid: str, org: str, stype: str, hours: list[Resource] | None = None, **extra: Any
) -> Resource:
    doc: Resource = {
        "resourceType": "HealthcareService",
        "id": sid,
        "active": True,
        "name": sid,
        "providedBy": {"reference": f"Organization/{org}"},
        "type": [{"coding": [{"system": SERVICE_TYPE_SYSTEM, "code": stype}]}],
        "extension": [{"url": TIMEZONE_EXT, "valueCode": "America/Chicago"}],
        **extra,
    }
    if hours is not None:
        doc["availableTime"] = hours
    return doc


def seed(db: Database, *, crisis_hours: bool = True) -> None:
    """Organisations, their teams and a patient held by the hospital."""
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        for org in (HOSPITAL, POLICE, CRISIS, CLINIC, OTHER):
            svc.update(
                "Organization", org, {"resourceType": "Organization", "id": org, "name": org}
            )
        office = [
            {
                "daysOfWeek": WEEKDAYS,
                "availableStartTime": "08:00:00",
                "availableEndTime": "17:00:00",
            }
        ]
        for doc in (
            service("svc-mct", CRISIS, "crisis-follow-up", office if crisis_hours else None),
            service("svc-opd", CLINIC, "outpatient-psychiatry"),
            service("svc-cm", CLINIC, "case-management"),
            service("svc-sud", CLINIC, "sud-treatment"),
        ):
            svc.update("HealthcareService", doc["id"], doc)
        svc.update(
            "Patient",
            "pat-1",
            {
                "resourceType": "Patient",
                "id": "pat-1",
                "meta": {"source": agency_uri(HOSPITAL)},
                "name": [{"family": "Testperson", "given": ["Riley"]}],
                "gender": "female",
                "birthDate": "1990-06-01",
            },
        )


def add_patient(db: Database, pid: str, holder: str = HOSPITAL) -> None:
    with db.unit_of_work() as session:
        ResourceService(session, BASE).update(
            "Patient",
            pid,
            {
                "resourceType": "Patient",
                "id": pid,
                "meta": {"source": agency_uri(holder)},
                "name": [{"family": "Generated", "given": [pid]}],
                "gender": "male",
                "birthDate": "1985-01-01",
            },
        )


def referral_request(stype: str = "outpatient-psychiatry", **extra: Any) -> Resource:
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "code": {"coding": [{"system": SERVICE_TYPE_SYSTEM, "code": stype}]},
        "subject": {"reference": "Patient/pat-1"},
        "reasonCode": [{"text": "follow-up after ED visit for suicidal ideation"}],
        **extra,
    }


def as_agency(
    client: TestClient, agency: str, role: str = "hospital_ehr", **kw: Any
) -> dict[str, str]:
    return bearer(client.app, agency=agency, role=role, client_id=f"{agency}-client", **kw)


def refer(client: TestClient, agency: str = HOSPITAL, **kw: Any) -> Resource:
    """POST /referrals; returns the Task."""
    response = client.post(
        "/referrals", json=referral_request(**kw), headers=as_agency(client, agency)
    )
    assert response.status_code == 201, response.text
    return response.json()["entry"][1]["resource"]


def step(client: TestClient, task_id: str, op: str, agency: str, **body: Any) -> Any:
    return client.post(f"/referrals/{task_id}/{op}", json=body, headers=as_agency(client, agency))


def outcome(response: Any) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return str(body["issue"][0]["diagnostics"])
