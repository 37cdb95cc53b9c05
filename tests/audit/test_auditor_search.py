"""Auditors search AuditEvents with ``agency`` and ``purpose`` next to R4's parameters; only they
may; a break-the-glass start is an event of its own that waits in the review queue."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.auth.registry import Registry
from gateway.db.session import Database
from tests.audit.searching import BTG_EVENTS, agents, auditor, search
from tests.conftest import bearer

# The demo partnership's agencies: the default agreements name them.
APD, PRH, MCOT, TPC = "demo-amarillo-pd", "demo-panhandle-regional", "demo-mcot", "demo-tpc"
AGENCIES = {APD: "police", PRH: "hospital", MCOT: "crisis-team", TPC: "bha"}
FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def _as(app: FastAPI, role: str, agency: str, purposes: list[str], **extra: str) -> dict[str, str]:
    user = f"{role}.user"
    return {**FHIR, **bearer(app, role=role, agency=agency, purposes=purposes, user=user), **extra}


@pytest.fixture()
def people(client: TestClient, db: Database) -> dict[str, Any]:
    """A patient with a diagnosis written by the hospital, read by the hospital and the police."""
    with db.unit_of_work() as session:
        registry = Registry(session)
        for agency, kind in AGENCIES.items():
            registry.add_agency(agency, kind, agency)
    app = client.app
    hospital = _as(app, "hospital_ehr", PRH, ["TREAT"])
    police = _as(app, "police_officer", APD, ["HLEGAL"])
    patient = client.post(
        "/fhir/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Vega"}]},
        headers=hospital,
    ).json()
    condition = client.post(
        "/fhir/Condition",
        json={
            "resourceType": "Condition",
            "subject": {"reference": f"Patient/{patient['id']}"},
            "code": {"coding": [{"system": ICD10, "code": "F20.9"}]},
        },
        headers=hospital,
    ).json()
    assert client.get(f"/fhir/Patient/{patient['id']}", headers=hospital).status_code == 200
    assert client.get(f"/fhir/Patient/{patient['id']}", headers=police).status_code == 200
    return {"patient": patient["id"], "condition": condition["id"]}


def _reads(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["action"] == "R"]


def test_agency_and_purpose_select_the_right_events(
    client: TestClient, app: FastAPI, people: dict[str, Any]
) -> None:
    patient = f"Patient/{people['patient']}"
    by_police = search(client, app, f"agency={APD}&patient={patient}")
    assert len(by_police) == 1 and f"Organization/{APD}" in agents(by_police[0])
    assert search(client, app, f"agency=Organization/{APD}&patient={patient}") == by_police
    by_hospital = search(client, app, f"agency={PRH}&patient={patient}")
    assert len(by_hospital) == 3  # two creates and a read
    assert all(f"Organization/{PRH}" in agents(e) for e in by_hospital)
    assert search(client, app, "agency=nobody") == []

    law = search(client, app, f"purpose=HLEGAL&patient={patient}")
    assert [e["id"] for e in law] == [e["id"] for e in by_police]
    coded = "http://terminology.hl7.org/CodeSystem/v3-ActReason|HLEGAL"
    assert [e["id"] for e in search(client, app, f"purpose={coded}")] == [law[0]["id"]]
    treat = search(client, app, f"purpose=TREAT&patient={patient}")
    assert {e["id"] for e in treat} == {e["id"] for e in by_hospital}
    both = search(client, app, f"purpose=TREAT,HLEGAL&patient={patient}&action=R")
    assert len(both) == 2
    # With the standard ones: the police read is a disclosure, dated today, outcome 0.
    today = law[0]["recorded"][:10]
    combined = f"agency={APD}&purpose=HLEGAL&date={today}&outcome=0&action=R&patient={patient}"
    assert [e["id"] for e in search(client, app, combined)] == [law[0]["id"]]
    assert search(client, app, f"agency={APD}&purpose=TREAT&patient={patient}") == []


def test_bad_parameter_values_get_a_located_error(client: TestClient, app: FastAPI) -> None:
    response = client.get("/fhir/AuditEvent?agency=Organization/", headers=auditor(app))
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["agency"]
    modifier = client.get("/fhir/AuditEvent?purpose:contains=TRE", headers=auditor(app))
    assert modifier.status_code == 400
    assert modifier.json()["issue"][0]["expression"] == ["purpose:contains"]
    unknown = client.get(
        "/fhir/AuditEvent?purpos=TREAT", headers={**auditor(app), "Prefer": "handling=strict"}
    )
    assert unknown.status_code == 400 and "purpos" in unknown.text


@pytest.mark.parametrize(
    ("role", "agency", "purposes"),
    [
        ("ed_clinician", PRH, ["TREAT"]),
        ("police_officer", APD, ["HLEGAL"]),
        ("gateway_admin", TPC, ["HOPERAT"]),
        ("bha_system", TPC, ["HOPERAT"]),
    ],
)
def test_only_auditors_may_see_audit_events(
    client: TestClient,
    app: FastAPI,
    people: dict[str, Any],
    role: str,
    agency: str,
    purposes: list[str],
) -> None:
    one = search(client, app, f"agency={PRH}&patient=Patient/{people['patient']}")[0]
    headers = _as(app, role, agency, purposes)
    # The sharing rules filter searches in SQL (auditor.audit-and-reports is the only policy that
    # permits the "audit" class): whatever the query, nothing comes back and the total says so.
    for query in (f"agency={PRH}", "", f"patient=Patient/{people['patient']}"):
        response = client.get(f"/fhir/AuditEvent?{query}", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 0 and "entry" not in response.json()
    assert client.get(f"/fhir/AuditEvent/{one['id']}", headers=headers).status_code in (403, 404)
    assert client.get(f"/fhir/AuditEvent/{one['id']}", headers=auditor(app)).status_code == 200


def test_the_capability_statement_lists_them(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "AuditEvent")
    params = {p["name"]: p for p in entry["searchParam"]}
    assert params["agency"]["type"] == "reference" and "agency" in params["agency"]["documentation"]
    assert (
        params["purpose"]["type"] == "token"
        and "v3-ActReason" in params["purpose"]["documentation"]
    )
    for standard in ("patient", "agent", "date", "action", "outcome"):
        assert standard in params
    assert {i["code"] for i in entry["interaction"]} == {
        "read",
        "vread",
        "history-instance",
        "history-type",
        "search-type",
    }


def test_break_the_glass_is_an_event_of_its_own_in_the_review_queue(
    client: TestClient, app: FastAPI, people: dict[str, Any]
) -> None:
    url = f"/fhir/Condition/{people['condition']}"
    clinician = _as(app, "crisis_clinician", MCOT, ["TREAT", "BTG"])
    assert client.get(url, headers=clinician).status_code == 403
    assert search(client, app, BTG_EVENTS) == []
    reason = "unresponsive patient, no history available"
    glass = {**clinician, "X-BTG-Reason": reason}
    assert client.get(url, headers=glass).status_code == 200

    (event,) = search(client, app, BTG_EVENTS)
    assert event["outcome"] == "0" and event["outcomeDesc"] == reason
    assert {"crisis_clinician.user", f"Organization/{MCOT}"} <= agents(event)
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"
    what = {e["what"].get("reference") for e in event["entity"] if "reference" in e["what"]}
    assert {f"Patient/{people['patient']}", f"Condition/{people['condition']}"} <= what
    assert search(client, app, f"{BTG_EVENTS}&purpose=BTG&agency={MCOT}") == [event]
    queue = client.get("/audit/btg", headers=auditor(app)).json()
    assert [e["event_id"] for e in queue["events"]] == [event["id"]]
