"""Projections and redaction: exactly the allowed elements leave, always marked REDACT."""

from __future__ import annotations

from typing import Any

from policies.labelling import label
from policies.model import CRISIS_PLAN_SUMMARY, INTAKE_MINIMUM, PLACEMENT_STATUS, Obligations
from policies.redaction import apply_obligations, law_enforcement_view, project, redact
from tests.policies.conftest import ICD, SNOMED, concept

BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
SSN = "http://hl7.org/fhir/sid/us-ssn"


def security(resource: dict[str, Any]) -> set[str]:
    return {c["code"] for c in resource["meta"]["security"]}


PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {
        "versionId": "3",
        "security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
        ],
    },
    "text": {"status": "generated", "div": "<div>Schizophrenia, on clozapine</div>"},
    "identifier": [{"system": SSN, "value": "123-45-6789"}, {"system": "urn:mrn", "value": "MRN1"}],
    "name": [{"family": "Sample", "given": ["Avery"]}],
    "telecom": [{"system": "phone", "value": "555-0100"}],
    "gender": "female",
    "birthDate": "1991-04-12",
    "deceasedBoolean": False,
    "address": [{"line": ["1200 S Polk St"], "city": "Amarillo"}],
    "maritalStatus": concept("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "M"),
    "contact": [{"name": {"family": "Kin"}}],
    "communication": [{"language": concept("urn:ietf:bcp:47", "en")}],
    "generalPractitioner": [{"reference": "Practitioner/x"}],
    "extension": [
        {"url": BIRTH_PLACE, "valueAddress": {"city": "Lubbock"}},
        {"url": RACE, "extension": [{"url": "text", "valueString": "White"}]},
        {
            "url": "http://hl7.org/fhir/StructureDefinition/patient-religion",
            "valueCodeableConcept": concept("urn:r", "x"),
        },
    ],
}


def test_law_enforcement_view_of_a_patient_keeps_exactly_164_512_f_2_i() -> None:
    out = law_enforcement_view(PATIENT)
    assert out is not None
    assert set(out) == {
        "resourceType",
        "id",
        "meta",
        "name",
        "address",
        "birthDate",
        "gender",
        "deceasedBoolean",
        "identifier",
        "extension",
    }
    assert out["identifier"] == [{"system": SSN, "value": "123-45-6789"}]
    assert [e["url"] for e in out["extension"]] == [BIRTH_PLACE, RACE]
    assert "REDACT" in security(out)
    assert "R" not in security(out)  # labels do not hint at what was withheld
    assert out["meta"]["versionId"] == "3"


def test_law_enforcement_view_of_an_encounter_keeps_injury_type_and_treatment_time() -> None:
    enc = label(
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "IMP"},
            "subject": {"reference": "Patient/p1"},
            "period": {"start": "2026-01-01T10:00:00Z", "end": "2026-01-01T14:00:00Z"},
            "serviceProvider": {"reference": "Organization/psych-hospital"},
            "location": [{"location": {"reference": "Location/ward-7"}}],
            "reasonCode": [
                {"coding": [{"system": ICD, "code": "F20.0"}], "text": "schizophrenia"},
                {
                    "coding": [
                        {"system": ICD, "code": "S01.81XA", "display": "Laceration of head"}
                    ],
                    "text": "cut, said voices",
                },
                {"coding": [{"system": ICD, "code": "T40.1X1A"}]},
            ],
            "diagnosis": [{"condition": {"reference": "Condition/c1"}}],
        }
    )
    out = law_enforcement_view(enc)
    assert out is not None
    assert set(out) == {"resourceType", "id", "meta", "status", "subject", "period", "reasonCode"}
    assert out["reasonCode"] == [{"coding": [{"system": ICD, "code": "S01.81XA"}]}]
    assert security(out) == {"N", "REDACT"}


def test_law_enforcement_view_of_observations() -> None:
    height = {
        "resourceType": "Observation",
        "id": "o",
        "status": "final",
        "code": concept("http://loinc.org", "8302-2"),
        "valueQuantity": {"value": 180},
        "note": [{"text": "x"}],
    }
    out = law_enforcement_view(height)
    assert out is not None and set(out) == {
        "resourceType",
        "id",
        "meta",
        "status",
        "code",
        "valueQuantity",
    }
    phq9 = {"resourceType": "Observation", "code": concept("http://loinc.org", "44261-6")}
    assert law_enforcement_view(phq9) is None
    assert (
        law_enforcement_view({"resourceType": "Condition", "code": concept(ICD, "S01.0")}) is None
    )


def test_part2_provenance_survives_the_projection() -> None:
    part2 = label(dict(PATIENT), part2_program=True)
    out = law_enforcement_view(part2)
    assert out is not None
    assert {"42CFRPart2", "SUD", "NORDSCLCDS", "R", "REDACT"} <= security(out)


def test_intake_minimum_keeps_age_sex_level_of_care_payer_and_diagnosis_category() -> None:
    assert project(PATIENT, INTAKE_MINIMUM) == {
        "resourceType": "Patient",
        "id": "p1",
        "gender": "female",
        "birthDate": "1991",
        "meta": {
            "versionId": "3",
            "security": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                    "code": "N",
                    "display": "normal",
                },
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "REDACT",
                    "display": "redact",
                },
            ],
        },
    }
    request = {
        "resourceType": "ServiceRequest",
        "id": "sr",
        "status": "active",
        "intent": "order",
        "code": concept("urn:crisis-exchange:bed-type", "AdultPsychiatric"),
        "reasonCode": [concept(ICD, "F20.0"), concept(ICD, "B20"), concept(SNOMED, "58214004")],
        "insurance": [{"reference": "Coverage/c"}],
        "note": [{"text": "history of violence toward staff"}],
        "supportingInfo": [{"reference": "DocumentReference/d"}],
    }
    out = project(request, INTAKE_MINIMUM)
    assert out is not None
    assert out["reasonCode"] == [{"coding": [{"system": ICD, "code": "F20"}]}]
    assert "note" not in out and "supportingInfo" not in out
    assert {"PSY", "MH", "R", "REDACT"} <= security(out) and "HIV" not in security(out)


def test_placement_status_and_crisis_plan_summary() -> None:
    task = {
        "resourceType": "Task",
        "id": "t",
        "status": "accepted",
        "businessStatus": {"text": "bed-reserved"},
        "owner": {"reference": "Organization/sunrise"},
        "statusReason": {"text": "too acute"},
        "input": [{"valueString": "F20"}],
    }
    out = project(task, PLACEMENT_STATUS)
    assert out is not None and set(out) == {
        "resourceType",
        "id",
        "meta",
        "status",
        "businessStatus",
        "owner",
    }
    plan = {
        "resourceType": "CarePlan",
        "id": "cp",
        "status": "active",
        "intent": "plan",
        "category": [concept("urn:crisis-exchange:careplan-kind", "crisis-plan")],
        "title": "Crisis plan",
        "description": "Call the mobile crisis team first.",
        "addresses": [{"reference": "Condition/c1"}],
        "activity": [
            {
                "detail": {
                    "status": "scheduled",
                    "code": concept(SNOMED, "228557008"),
                    "description": "Calm approach, no sirens.",
                }
            }
        ],
    }
    out = project(plan, CRISIS_PLAN_SUMMARY)
    assert out is not None
    assert out["activity"] == [
        {"detail": {"status": "scheduled", "description": "Calm approach, no sirens."}}
    ]
    assert "addresses" not in out and security(out) == {"N", "REDACT"}
    assert project({**plan, "category": []}, CRISIS_PLAN_SUMMARY) is None  # only crisis plans
    note = {
        **plan,
        "meta": {
            "security": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSYTHPN"}
            ]
        },
    }
    assert project(note, CRISIS_PLAN_SUMMARY) is None


def test_redact_removes_elements_narrative_orphans_and_their_labels() -> None:
    enc = label(
        {
            "resourceType": "Encounter",
            "id": "e",
            "text": {"div": "<div>alcohol dependence</div>"},
            "contained": [
                {"resourceType": "Condition", "id": "d1", "code": concept(ICD, "F10.20")}
            ],
            "diagnosis": [{"condition": {"reference": "#d1"}}],
            "reasonCode": [concept(ICD, "F20.0"), concept(ICD, "F10.20")],
        }
    )
    assert {"SUD", "PSY"} <= security(enc)
    out = redact(enc, ["reasonCode[1]", "diagnosis"])
    assert "text" not in out and "contained" not in out and "diagnosis" not in out
    assert out["reasonCode"] == [concept(ICD, "F20.0")]
    assert {"PSY", "MH", "R", "REDACT"} <= security(out)
    assert not security(out) & {"SUD", "42CFRPart2", "NORDSCLCDS"}
    assert "text" in enc  # the stored copy is untouched


def test_apply_obligations_projects_redacts_and_labels() -> None:
    out = apply_obligations(PATIENT, Obligations(view="law-enforcement", add_labels=("REDACT",)))
    assert out is not None and "telecom" not in out
    labelled = apply_obligations(PATIENT, Obligations(add_labels=("NORDSCLCDS",)))
    assert labelled is not None and "NORDSCLCDS" in security(labelled)
    assert "NORDSCLCDS" not in security(PATIENT)
    assert (
        apply_obligations({"resourceType": "Condition"}, Obligations(view="law-enforcement"))
        is None
    )
