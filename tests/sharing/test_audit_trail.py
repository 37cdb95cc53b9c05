"""Every FHIR interaction leaves an AuditEvent (allowed or refused), written with the access; a read
whose audit cannot be written discloses nothing; AuditEvents cannot be written through the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.audit.log import AuditLog
from tests.sharing.conftest import as_, hospital, police, post


def _events(client: TestClient, **params: str) -> list[dict[str, Any]]:
    auditor = as_(client, "bha_auditor", "demo-tpc", ["HOPERAT"])
    response = client.get("/audit/events", params=params, headers=auditor)
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def test_reads_and_refusals_are_audited(gateway: TestClient) -> None:
    patient = post(
        gateway, hospital(gateway), {"resourceType": "Patient", "name": [{"family": "Vega"}]}
    )
    ref = f"Patient/{patient['id']}"
    assert gateway.get(f"/fhir/{ref}", headers=police(gateway)).status_code == 200
    condition = post(
        gateway,
        hospital(gateway),
        {
            "resourceType": "Condition",
            "subject": {"reference": ref},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F20.9"}]},
        },
    )
    assert (
        gateway.get(f"/fhir/Condition/{condition['id']}", headers=police(gateway)).status_code
        == 403
    )
    events = _events(gateway, patient=ref)
    outcomes = sorted(str(e.get("outcome")) for e in events)
    assert len(events) >= 4, events  # two creates, the allowed read, the refused read
    assert "0" in outcomes and any(o != "0" for o in outcomes)
    assert "Vega" not in str(events)


def test_a_read_whose_audit_fails_discloses_nothing(
    gateway: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient = post(
        gateway, hospital(gateway), {"resourceType": "Patient", "name": [{"family": "Ortega"}]}
    )

    def broken(self: AuditLog, session: Any, event: dict[str, Any]) -> str:
        from gateway.audit.errors import AuditUnavailable

        raise AuditUnavailable("the audit trail cannot be written")

    monkeypatch.setattr(AuditLog, "append", broken)
    response = gateway.get(f"/fhir/Patient/{patient['id']}", headers=hospital(gateway))
    assert response.status_code == 503
    assert "Ortega" not in response.text
    created = gateway.post(
        "/fhir/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Lost"}]},
        headers=hospital(gateway),
    )
    assert created.status_code == 503
    monkeypatch.undo()
    assert gateway.get("/fhir/Patient?family=Lost", headers=hospital(gateway)).json()["total"] == 0


def test_audit_events_cannot_be_written_through_the_api(gateway: TestClient) -> None:
    event = {
        "resourceType": "AuditEvent",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
        },
        "recorded": "2026-01-01T00:00:00Z",
        "agent": [{"requestor": True}],
        "source": {"observer": {"display": "forger"}},
    }
    admin = as_(gateway, "gateway_admin", "demo-tpc", ["HOPERAT"])
    response = gateway.post("/fhir/AuditEvent", json=event, headers=admin)
    assert response.status_code in (403, 405)
