"""The kick-off request: headers, parameters, scopes, refusals (Bulk Data Access IG 2.0.0), and
what the CapabilityStatement declares."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.export.runner import ExportRunner
from gateway.export.schemas import ExportConfig
from tests.export.support import (
    KICK_OFF,
    contents,
    export,
    hospital,
    kick_off,
    manifest,
    patient,
    started,
    token,
)


def refused(response: Any, status: int, expression: str | None = None) -> str:
    """The diagnostics of a refusal, checked to be an OperationOutcome with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    issue = response.json()["issue"][0]
    assert response.json()["resourceType"] == "OperationOutcome"
    if expression is not None:
        assert issue["expression"] == [expression]
    return str(issue["diagnostics"])


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Accept": "application/fhir+json"}, "Prefer"),
        ({"Accept": "application/fhir+json", "Prefer": "return=minimal"}, "Prefer"),
        ({"Prefer": "respond-async"}, "Accept"),
        ({"Accept": "application/fhir+ndjson", "Prefer": "respond-async"}, "Accept"),
    ],
)
def test_a_kick_off_needs_accept_and_prefer_respond_async(
    gateway: TestClient, headers: dict[str, str], named: str
) -> None:
    auth = {k: v for k, v in hospital(gateway).items() if k == "Authorization"}
    response = gateway.get("/fhir/$export", headers={**auth, **headers})
    assert named in refused(response, 400, named)


@pytest.mark.parametrize(
    ("params", "expression", "words"),
    [
        ({"_type": "Patient,Spaceship"}, "_type", "'Spaceship'"),
        ({"_type": "patient"}, "_type", "'patient'"),
        ({"_since": "yesterday"}, "_since", "instant"),
        ({"_since": "2026-01-01"}, "_since", "instant"),
        ({"_since": "2026-13-01T00:00:00Z"}, "_since", "instant"),
        ({"_since": "2026-01-01T00:00:00"}, "_since", "time zone"),
        ({"_outputFormat": "application/fhir+json"}, "_outputFormat", "ndjson"),
        ({"_typeFilter": "Condition?code=I10"}, "_typeFilter", "lenient"),
        ({"_elements": "id"}, "_elements", "not supported"),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    gateway: TestClient, params: dict[str, str], expression: str, words: str
) -> None:
    response = kick_off(gateway, hospital(gateway), params=params)
    assert words in refused(response, 400, expression)


def test_since_twice_is_refused(gateway: TestClient) -> None:
    response = gateway.get(
        "/fhir/$export?_since=2026-01-01T00:00:00Z&_since=2026-02-01T00:00:00Z",
        headers={**hospital(gateway), **KICK_OFF},
    )
    refused(response, 400, "_since")


def test_a_patient_level_export_takes_only_compartment_types(gateway: TestClient) -> None:
    response = kick_off(
        gateway, hospital(gateway), "/fhir/Patient/$export", {"_type": "Organization"}
    )
    assert "Patient compartment" in refused(response, 400, "_type")


@pytest.mark.parametrize("fmt", ["application/fhir+ndjson", "application/ndjson", "ndjson"])
def test_the_ndjson_output_format_is_accepted_in_all_its_spellings(
    gateway: TestClient, fmt: str
) -> None:
    headers = hospital(gateway)
    patient(gateway, headers, "Format")
    body = export(gateway, headers, params={"_outputFormat": fmt, "_type": "Patient"})
    assert [o["type"] for o in body["output"]] == ["Patient"]


def test_lenient_handling_ignores_unsupported_parameters_and_says_so(
    gateway: TestClient,
) -> None:
    headers = {**hospital(gateway), "Prefer": "respond-async, handling=lenient"}
    response = gateway.get(
        "/fhir/$export?_type=Patient&_typeFilter=Patient%3Factive%3Dtrue",
        headers={**headers, "Accept": "application/fhir+json"},
    )
    assert response.status_code == 202, response.text
    issues = response.json()["issue"]
    assert any(i["severity"] == "warning" and "_typeFilter" in i["diagnostics"] for i in issues)


def test_an_unknown_parameter_in_a_posted_parameters_body_is_refused(gateway: TestClient) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "patient", "valueReference": {"reference": "Patient/x"}}],
    }
    response = gateway.post("/fhir/$export", json=body, headers={**hospital(gateway), **KICK_OFF})
    refused(response, 400, "patient")


def test_a_posted_body_must_be_parameters(gateway: TestClient) -> None:
    response = gateway.post(
        "/fhir/$export",
        json={"resourceType": "Patient"},
        headers={**hospital(gateway), **KICK_OFF},
    )
    refused(response, 400, "$")


def test_a_kick_off_needs_a_token(gateway: TestClient) -> None:
    response = gateway.get("/fhir/$export", headers=KICK_OFF)
    refused(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("scope", "types"),
    [
        ("system/Patient.rs", "Condition"),  # no scope on the type at all
        ("system/Condition.r system/Patient.rs", "Condition"),  # read without search
        ("system/Condition.s", "Condition"),  # search without read
        ("system/Patient.cud", None),  # nothing readable
    ],
)
def test_scopes_are_a_ceiling(gateway: TestClient, scope: str, types: str | None) -> None:
    headers = hospital(gateway, scope=scope)
    response = kick_off(gateway, headers, params={"_type": types} if types else None)
    refused(response, 403)


def test_without_type_only_the_types_the_scopes_cover_are_exported(gateway: TestClient) -> None:
    writer = hospital(gateway)
    pid = patient(gateway, writer, "Scoped")
    gateway.post(
        "/fhir/Condition",
        json={"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"}},
        headers=writer,
    )
    headers = hospital(gateway, scope="system/Patient.rs system/Condition.s")
    body = export(gateway, headers)
    assert {o["type"] for o in body["output"]} == {"Patient"}


def test_break_the_glass_does_not_open_bulk_export(gateway: TestClient) -> None:
    headers = token(gateway, role="crisis_clinician", agency="demo-mcot", purposes=["TREAT", "BTG"])
    response = kick_off(gateway, {**headers, "X-BTG-Reason": "unresponsive patient"})
    assert "break-the-glass" in refused(response, 403)


def test_a_client_may_run_only_a_few_exports_at_once(
    gateway: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.app.state.export_config = ExportConfig(file_resources=2, max_active=1)
    monkeypatch.setattr(ExportRunner, "run", lambda self, job_id: None)  # the work never starts
    headers = hospital(gateway)
    first = started(kick_off(gateway, headers))
    refused(kick_off(gateway, headers), 429)
    other = hospital(gateway, client_id="another-client")  # a limit per client
    started(kick_off(gateway, other))
    assert gateway.delete(first, headers=headers).status_code == 202
    started(kick_off(gateway, headers))


def test_a_posted_kick_off_takes_its_parameters_from_the_body(gateway: TestClient) -> None:
    headers = hospital(gateway)
    pid = patient(gateway, headers, "Posted")
    gateway.post(
        "/fhir/Condition",
        json={"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"}},
        headers=headers,
    )
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient"},
            {"name": "_outputFormat", "valueString": "ndjson"},
            {"name": "_since", "valueInstant": "2000-01-01T00:00:00Z"},
        ],
    }
    response = gateway.post("/fhir/$export", json=body, headers={**headers, **KICK_OFF})
    found = contents(gateway, headers, manifest(gateway, headers, started(response)))
    assert [r["id"] for r in found["Patient"]] == [pid] and "Condition" not in found


def test_the_capability_statement_declares_the_export_operations(gateway: TestClient) -> None:
    statement = gateway.get("/fhir/metadata").json()
    ig = "http://hl7.org/fhir/uv/bulkdata"
    assert f"{ig}/CapabilityStatement/bulk-data" in statement["instantiates"]
    (rest,) = statement["rest"]
    assert rest["operation"] == [
        {"name": "export", "definition": f"{ig}/OperationDefinition/export"}
    ]
    by_type = {r["type"]: r for r in rest["resource"]}
    assert by_type["Patient"]["operation"] == [
        {"name": "export", "definition": f"{ig}/OperationDefinition/patient-export"}
    ]
    assert by_type["Group"]["operation"] == [
        {"name": "export", "definition": f"{ig}/OperationDefinition/group-export"}
    ]
