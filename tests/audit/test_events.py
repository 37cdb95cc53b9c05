"""The AuditEvents are valid FHIR R4 and carry the BALP patterns an auditor searches by."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.audit import codes as c
from gateway.audit.events import AuditServer, patient_refs, redact_query
from gateway.audit.fields import derive
from gateway.audit.security import AuditEvents
from gateway.fhir.model import validate
from tests.audit.conftest import clinician_ctx, police_ctx

EVENTS = AuditEvents(AuditServer("gw.example.org/audit", "https://gw.example.org"))


def agent_of(event: dict[str, Any], system: str, code: str) -> dict[str, Any]:
    for agent in event["agent"]:
        if any(cd["system"] == system and cd["code"] == code for cd in agent["type"]["coding"]):
            return agent
    raise AssertionError(f"no agent {system}#{code}")


def entities(event: dict[str, Any], system: str, code: str) -> list[dict[str, Any]]:
    return [
        e
        for e in event.get("entity", [])
        if (e["type"]["system"], e["type"]["code"]) == (system, code)
    ]


def all_events() -> list[dict[str, Any]]:
    police, clinic = police_ctx(token_id="jti-1"), clinician_ctx()
    return [
        EVENTS.rest(clinic, "read", resources=["Patient/p1"], patients=["Patient/p1"]),
        EVENTS.rest(police, "read", resources=["Patient/p1"], patients=["Patient/p1"]),
        EVENTS.rest(clinic, "search-type", resource_type="Encounter", query="subject=Patient/p1"),
        EVENTS.rest(clinic, "create", resources=["Encounter/e1"], patients=["Patient/p1"]),
        EVENTS.rest(clinic, "update", resources=["Encounter/e1"], patients=["Patient/p1"]),
        EVENTS.rest(clinic, "delete", resources=["Encounter/e1"], patients=["Patient/p1"]),
        EVENTS.rest(police, "read", outcome=8, resources=["Condition/c9"], outcome_desc="refused"),
        EVENTS.consent_decision(police, permit=False, patients=["Patient/p1"], consents=["k1"]),
        EVENTS.break_glass(clinic, patients=["Patient/p1"], reason="unconscious, no consent"),
        EVENTS.authentication(clinic, "login", success=False, outcome_desc="bad password"),
        EVENTS.authentication(police, "token", success=True, scope="system/Patient.rs"),
        EVENTS.configuration(clinic, "policy", "police-le-view", action="U"),
        EVENTS.configuration(clinic, "client", "amarillo-rms", action="C"),
        EVENTS.export(police, "CSV of 3 patients", patients=["Patient/p1"], disclosure=True),
        EVENTS.ingest(police, "police_rms:json", resources=["Patient/p2"], patients=["Patient/p2"]),
    ]


@pytest.mark.parametrize("event", all_events(), ids=lambda e: derive(e).kind)
def test_every_event_is_valid_fhir_r4(event: dict[str, Any]) -> None:
    validate(event)


def test_a_read_follows_balp_patient_read() -> None:
    event = EVENTS.rest(
        clinician_ctx(address="10.0.0.7", token_id="jti-9"),
        "read",
        resources=["Observation/o1"],
        patients=["Patient/p1"],
        policies=["treatment-team"],
        consents=["Consent/k1"],
    )
    assert event["type"] == c.coding(c.EVENT_TYPE, "rest")
    assert event["subtype"] == [c.coding(c.RESTFUL, "read")]
    assert (event["action"], event["outcome"]) == ("R", "0")
    client = agent_of(event, c.DCM, "110152")  # BALP Read: the client is the destination
    assert client["who"]["identifier"]["value"] == "panhandle-ehr"
    assert client["network"] == {"address": "10.0.0.7", "type": "2"}
    server = agent_of(event, c.DCM, "110153")
    assert server["network"]["address"] == "https://gw.example.org"
    user = agent_of(event, c.PARTICIPATION, "IRCP")
    assert user["requestor"] is True
    assert user["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
    assert user["policy"] == ["urn:gateway:policy:treatment-team"]
    agency = agent_of(event, c.PARTICIPATION, "RESP")
    assert agency["who"]["reference"] == "Organization/panhandle-er"
    [patient] = entities(event, c.ENTITY_TYPE, "1")
    assert patient["what"] == {"reference": "Patient/p1"}
    assert patient["role"]["code"] == "1"
    [data] = entities(event, c.ENTITY_TYPE, "2")
    assert data["what"] == {"reference": "Observation/o1"}
    [consent] = entities(event, c.RESOURCE_TYPES, "Consent")
    assert consent["what"] == {"reference": "Consent/k1"}
    [request] = entities(event, c.BALP_ENTITY, "XrequestId")
    assert request["what"]["identifier"]["value"] == "req-clinic"
    [token] = entities(event, c.BALP_USER_AGENT, "UserOauthAgent")
    assert token["what"]["identifier"]["value"] == "urn:ietf:params:oauth:jti:jti-9"


def test_writes_and_searches_swap_the_client_and_server_roles() -> None:
    create = EVENTS.rest(clinician_ctx(), "create", resources=["Encounter/e1"])
    assert agent_of(create, c.DCM, "110153")["who"]["identifier"]["value"] == "panhandle-ehr"
    assert agent_of(create, c.PARTICIPATION, "AUT")["requestor"] is True
    search = EVENTS.rest(clinician_ctx(), "search-type", resource_type="Encounter", query="")
    assert search["action"] == "E"  # BALP Query
    assert agent_of(search, c.DCM, "110152")["who"]["display"] == "gw.example.org/audit"


def test_a_police_read_is_a_privacy_disclosure() -> None:
    event = EVENTS.rest(police_ctx(), "read", resources=["Patient/p1"], patients=["Patient/p1"])
    assert event["type"] == c.coding(c.DCM, "110106")
    assert event["subtype"][0]["code"] == "disclose"
    assert event["subtype"][1] == c.coding(c.RESTFUL, "read")
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "HLEGAL"
    fields = derive(event)
    assert (fields.disclosure, fields.recipient, fields.purpose) == (True, "amarillo-pd", "HLEGAL")
    assert fields.patients == ("Patient/p1",)


@pytest.mark.parametrize(
    ("purpose", "outcome", "expected"),
    [
        ("TREAT", 0, False),
        ("BTG", 0, False),
        ("HLEGAL", 0, True),
        ("THREAT", 0, True),
        ("PUBHLTH", 0, True),
        ("HLEGAL", 8, False),
    ],
)
def test_what_counts_as_an_accountable_disclosure(
    purpose: str, outcome: int, expected: bool
) -> None:
    event = EVENTS.rest(
        police_ctx(purposes=(purpose,)), "read", outcome=outcome, patients=["Patient/p1"]
    )
    assert derive(event).disclosure is expected


def test_search_values_that_could_identify_someone_are_not_recorded() -> None:
    query = "family=Smith&birthdate=1980-01-02&subject=Patient/p1&_count=5&identifier=123-45-6789"
    event = EVENTS.rest(police_ctx(), "search-type", resource_type="Encounter", query=query)
    [q] = [e for e in event["entity"] if e.get("role", {}).get("code") == "24"]
    text = q["description"] + base64.b64decode(q["query"]).decode()
    assert "Smith" not in text and "1980" not in text and "6789" not in text
    assert "subject=Patient/p1" in text and "_count=5" in text
    assert redact_query("name:contains=jo") == "name:contains=*"


def test_break_glass_and_configuration_use_dicom_security_alert() -> None:
    btg = EVENTS.break_glass(clinician_ctx(), patients=["Patient/p1"], reason="unconscious")
    assert btg["type"]["code"] == "110113" and btg["subtype"][0]["code"] == "110127"
    assert derive(btg).kind == "110113/110127"
    assert btg["outcomeDesc"] == "unconscious"
    change = EVENTS.configuration(clinician_ctx(), "agreement", "dsa-7", action="C")
    assert change["subtype"][0]["code"] == "110129"
    login = EVENTS.authentication(clinician_ctx(), "login", success=False)
    assert (login["type"]["code"], login["subtype"][0]["code"], login["outcome"]) == (
        "110114",
        "110122",
        "8",
    )


def test_derived_fields_name_who_what_and_why() -> None:
    event = EVENTS.rest(
        police_ctx(), "search-type", resource_type="Encounter", query="subject=Patient/p1",
        patients=["Patient/p1", "Patient/p2"],
    )  # fmt: skip
    fields = derive(event)
    assert fields.agency == "amarillo-pd"
    assert fields.client_id == "amarillo-rms"
    assert fields.username == "officer.jones"
    assert fields.patients == ("Patient/p1", "Patient/p2")
    assert fields.what is not None and "search-type" in fields.what and "Encounter?" in fields.what
    assert fields.kind == "110106/disclose"


def test_the_patients_a_resource_is_about() -> None:
    assert patient_refs({"resourceType": "Patient", "id": "p1"}) == ["Patient/p1"]
    encounter = {"resourceType": "Encounter", "subject": {"reference": "Patient/p2/_history/3"}}
    assert patient_refs(encounter) == ["Patient/p2"]
    task = {
        "resourceType": "Task",
        "for": {"reference": "Patient/p3"},
        "owner": {"reference": "Organization/o"},
    }
    assert patient_refs(task) == ["Patient/p3"]
    assert patient_refs({"resourceType": "Organization", "id": "o"}) == []
