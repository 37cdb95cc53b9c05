"""Patient- and Group-level exports: the Patient compartments of the patients the caller may read,
of a Group's active members only; the Group itself must be readable."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.audit.checkpoint import sequence
from gateway.export import runner
from tests.export.support import (
    condition,
    contents,
    export,
    hospital,
    ids,
    kick_off,
    patient,
    post,
    started,
    token,
)


def observation(client: TestClient, headers: dict[str, str], subject: str | None) -> str:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
    }
    if subject:
        body["subject"] = {"reference": f"Patient/{subject}"}
    return post(client, headers, body)


def group(client: TestClient, headers: dict[str, str], members: list[dict[str, Any]]) -> str:
    body: dict[str, Any] = {"resourceType": "Group", "type": "person", "actual": True}
    return post(client, headers, {**body, "member": members} if members else body)


def test_patient_level_takes_the_patient_compartment_types_only(open_gateway: TestClient) -> None:
    headers = token(open_gateway)
    first, second = patient(open_gateway, headers, "One"), patient(open_gateway, headers, "Two")
    conditions = [condition(open_gateway, headers, p) for p in (first, second)]
    about = observation(open_gateway, headers, first)
    observation(open_gateway, headers, None)  # in nobody's compartment
    post(open_gateway, headers, {"resourceType": "Organization", "name": "Clinic"})
    body = export(open_gateway, headers, "/fhir/Patient/$export")
    found = contents(open_gateway, headers, body)
    assert set(found) == {"Patient", "Condition", "Observation"}
    assert ids(found, "Patient") == sorted([first, second])
    assert ids(found, "Condition") == sorted(conditions)
    assert ids(found, "Observation") == [about]


@pytest.mark.parametrize("listed", [True, False])
def test_a_group_export_takes_its_active_patient_members_only(
    open_gateway: TestClient, monkeypatch: pytest.MonkeyPatch, listed: bool
) -> None:
    if not listed:  # a Group too large to name its members in the query: filtered after it
        monkeypatch.setattr(runner, "MAX_LISTED", 1)
    headers = token(open_gateway)
    member, former, outsider = (patient(open_gateway, headers, n) for n in ("In", "Was", "Out"))
    kept = [condition(open_gateway, headers, member) for _ in range(3)]
    for other in (former, outsider):
        condition(open_gateway, headers, other)
    practitioner = post(open_gateway, headers, {"resourceType": "Practitioner"})
    gid = group(
        open_gateway,
        headers,
        [
            {"entity": {"reference": f"Patient/{member}"}},
            {"entity": {"reference": f"Patient/{former}"}, "inactive": True},
            {"entity": {"reference": f"Practitioner/{practitioner}"}},
        ],
    )
    found = contents(
        open_gateway, headers, export(open_gateway, headers, f"/fhir/Group/{gid}/$export")
    )
    assert ids(found, "Patient") == [member]
    assert ids(found, "Condition") == sorted(kept)
    only = export(open_gateway, headers, f"/fhir/Group/{gid}/$export", {"_type": "Condition"})
    assert {o["type"] for o in only["output"]} == {"Condition"}


def test_a_group_without_patient_members_exports_nothing(open_gateway: TestClient) -> None:
    headers = token(open_gateway)
    condition(open_gateway, headers, patient(open_gateway, headers, "Alone"))
    gid = group(open_gateway, headers, [])
    assert export(open_gateway, headers, f"/fhir/Group/{gid}/$export")["output"] == []


def test_a_group_must_exist_and_be_readable_under_the_scopes(open_gateway: TestClient) -> None:
    headers = token(open_gateway)
    gid = group(open_gateway, headers, [])
    narrow = token(open_gateway, scope="system/Patient.rs system/Condition.rs")
    assert kick_off(open_gateway, narrow, f"/fhir/Group/{gid}/$export").status_code == 403
    assert kick_off(open_gateway, headers, "/fhir/Group/nope/$export").status_code == 404
    assert open_gateway.delete(f"/fhir/Group/{gid}", headers=headers).status_code == 204
    assert kick_off(open_gateway, headers, f"/fhir/Group/{gid}/$export").status_code == 410


def test_a_group_the_rules_withhold_cannot_be_exported(gateway: TestClient) -> None:
    writer = hospital(gateway)
    member = patient(gateway, writer, "Grouped")
    condition(gateway, writer, member)
    gid = group(gateway, writer, [{"entity": {"reference": f"Patient/{member}"}}])
    police = token(gateway, role="police_officer", agency="demo-amarillo-pd", purposes=["HLEGAL"])
    for headers in (writer, police):
        response = kick_off(gateway, headers, f"/fhir/Group/{gid}/$export")
        assert response.status_code == 403, response.text
        assert "Grouped" not in response.text


def test_patient_level_leaves_out_compartments_of_patients_the_caller_may_not_read(
    gateway: TestClient,
) -> None:
    writer = hospital(gateway)
    condition(gateway, writer, patient(gateway, writer, "Audited"))
    sequence(gateway.app.state.db)  # the audit log's events become searchable AuditEvents
    auditor = token(gateway, role="bha_auditor", agency="demo-tpc", purposes=["HOPERAT"])
    everything = export(gateway, auditor, params={"_type": "AuditEvent,Patient,Condition"})
    found = contents(gateway, auditor, everything)
    assert set(found) == {"AuditEvent"}  # events about the patient, and nothing clinical
    assert any("Patient/" in str(event) for event in found["AuditEvent"])
    compartments = export(
        gateway, auditor, "/fhir/Patient/$export", {"_type": "AuditEvent,Patient"}
    )
    assert compartments["output"] == []  # the auditor may not read the patient


def test_patient_level_for_the_hospital_that_holds_the_records(gateway: TestClient) -> None:
    writer = hospital(gateway)
    pid = patient(gateway, writer, "Held")
    kept = condition(gateway, writer, pid)
    post(gateway, writer, {"resourceType": "Organization", "name": "Panhandle Regional"})
    body = export(gateway, writer, "/fhir/Patient/$export")
    found = contents(gateway, writer, body)
    assert ids(found, "Patient") == [pid] and ids(found, "Condition") == [kept]
    assert "Organization" not in found
    status = started(kick_off(gateway, writer, "/fhir/Patient/$export", {"_type": "Condition"}))
    assert gateway.get(status, headers=writer).status_code == 200
