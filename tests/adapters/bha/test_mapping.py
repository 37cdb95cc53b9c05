"""Where each part of a case record ends up (docs/adapters/bha.md, "Mapping")."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.base import SourceRecord, stable_id
from adapters.bha import BhaAdapter
from adapters.bha.clinical import risk_level
from tests.adapters.bha.samples import part2_record, plain_record
from tests.adapters.kit import SOURCE

ADAPTER = BhaAdapter()


def convert(rec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    bundle = ADAPTER.to_fhir(SourceRecord(rec["record_id"], 0, rec), SOURCE).bundle
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


def test_client_becomes_patient_with_authority_and_medicaid_ids() -> None:
    patient = convert(part2_record())["Patient"][0]
    assert patient["id"] == stable_id(SOURCE.agency, "client", "C-0047731")
    by_type = {i["type"]["coding"][0]["code"]: i for i in patient["identifier"]}
    assert by_type["PI"]["value"] == "C-0047731"
    assert by_type["MA"] == {
        "type": by_type["MA"]["type"],
        "system": "urn:gateway:id:medicaid:WA",
        "value": "WA12345678",
    }
    assert patient["birthDate"] == "1988-11-02" and patient["gender"] == "male"


def test_enrolment_becomes_episode_with_case_manager_care_team() -> None:
    res = convert(part2_record())
    episode = next(e for e in res["EpisodeOfCare"] if e["identifier"][0]["value"] == "E-5521")
    assert episode["status"] == "active" and episode["period"] == {"start": "2023-09-15"}
    assert episode["type"][0]["text"] == "Assertive Community Treatment"
    manager = next(p for p in res["Practitioner"] if p["identifier"][0]["value"] == "S-210")
    assert episode["careManager"] == {"reference": f"Practitioner/{manager['id']}"}
    team = next(
        t for t in res["CareTeam"] if {"reference": f"CareTeam/{t['id']}"} in episode["team"]
    )
    assert team["participant"][0]["member"] == episode["careManager"]
    assert team["participant"][0]["role"][0]["coding"][0]["code"] == "case-manager"
    assert team["status"] == "active"


def test_substance_use_episode_is_drug_and_alcohol_rehabilitation() -> None:
    res = convert(part2_record())
    sud = next(e for e in res["EpisodeOfCare"] if e["identifier"][0]["value"] == "SUD-981")
    assert sud["type"][0]["coding"][0]["code"] == "da"


def test_staff_appearing_twice_is_one_practitioner() -> None:
    res = convert(part2_record())
    assert sorted(p["identifier"][0]["value"] for p in res["Practitioner"]) == ["S-210", "S-377"]
    casey = next(p for p in res["Practitioner"] if p["identifier"][0]["value"] == "S-210")
    assert casey["name"] == [{"family": "Manager", "given": ["Casey"]}]


def test_diagnoses_are_icd10cm_conditions_linked_to_their_episode() -> None:
    res = convert(part2_record())
    codes = {c["identifier"][0]["value"]: c["code"]["coding"][0] for c in res["Condition"]}
    assert codes["D-1"] == {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}
    assert codes["D-2"]["code"] == "F11.20", "the dot is restored"
    sud = next(e for e in res["EpisodeOfCare"] if e["identifier"][0]["value"] == "SUD-981")
    d2 = next(c for c in res["Condition"] if c["identifier"][0]["value"] == "D-2")
    assert sud["diagnosis"] == [{"condition": {"reference": f"Condition/{d2['id']}"}}]
    resolved = convert(plain_record())["Condition"][0]
    assert resolved["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert resolved["abatementDateTime"] == "2024-03-20"


def test_cssrs_becomes_response_and_loinc_panel() -> None:
    res = convert(part2_record())
    response = res["QuestionnaireResponse"][0]
    assert response["status"] == "completed" and response["authored"] == "2024-04-01T10:15:00-04:00"
    answers = {i["linkId"]: i["answer"][0]["valueCoding"]["code"] for i in response["item"]}
    assert answers["93246-7"] == "LA33-6" and answers["93249-1"] == "LA32-8"
    panel = res["Observation"][0]
    assert panel["code"]["coding"][0]["code"] == "93373-9"
    assert panel["category"][0]["coding"][0]["code"] == "survey"
    assert panel["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{response['id']}"}]
    risk = next(c for c in panel["component"] if c["code"]["coding"][0]["code"] == "93374-7")
    assert risk["valueCodeableConcept"]["coding"][0]["code"] == "moderate"
    assert len(panel["component"]) == 8


def test_unasked_items_are_left_out() -> None:
    response = convert(plain_record())["QuestionnaireResponse"][0]
    assert [i["linkId"] for i in response["item"]] == ["93246-7", "93247-5", "93267-3"]


@pytest.mark.parametrize(
    ("answers", "level"),
    [
        ({"wish_to_be_dead": False, "suicidal_thoughts": False}, "none"),
        ({"wish_to_be_dead": True, "suicidal_thoughts": False}, "low"),
        (
            {"wish_to_be_dead": True, "suicidal_thoughts": True, "thoughts_of_method": True},
            "moderate",
        ),
        (
            {"wish_to_be_dead": False, "suicidal_thoughts": False, "suicidal_behavior_ever": True},
            "moderate",
        ),
        ({"wish_to_be_dead": True, "suicidal_thoughts": True, "intent_to_act": True}, "high"),
        ({"wish_to_be_dead": True, "suicidal_thoughts": True, "plan_with_intent": True}, "high"),
        (
            {
                "wish_to_be_dead": False,
                "suicidal_thoughts": False,
                "suicidal_behavior_ever": True,
                "suicidal_behavior_past_3_months": True,
            },
            "high",
        ),
    ],
)
def test_risk_level(answers: dict[str, bool], level: str) -> None:
    assert risk_level(answers) == level


def test_consent_maps_recipients_purposes_scope_and_period() -> None:
    res = convert(part2_record())
    consents = {c["identifier"][0]["value"]: c for c in res["Consent"]}
    part2 = consents["CON-77"]
    assert part2["scope"]["coding"][0]["code"] == "patient-privacy"
    assert part2["status"] == "active" and part2["dateTime"] == "2024-01-08"
    provision = part2["provision"]
    assert provision["type"] == "permit"
    assert provision["period"] == {"start": "2024-01-08", "end": "2025-01-08"}
    assert provision["actor"][0]["role"]["coding"][0]["code"] == "IRCP"
    assert provision["actor"][0]["reference"]["identifier"] == {
        "system": "urn:gateway:agency",
        "value": "county-crisis-team",
    }
    assert [p["code"] for p in provision["purpose"]] == ["TREAT", "CAREMGT"]
    assert {c["code"] for c in provision["securityLabel"]} == {"SUD", "42CFRPart2"}
    assert [c["code"] for c in provision["class"]] == ["Condition"]
    assert part2["policyRule"]["coding"][0]["code"] == "42CFRPart2"
    mental_health = consents["CON-78"]
    assert mental_health["policyRule"]["coding"][0]["code"] == "hipaa-auth"
    assert [c["code"] for c in mental_health["provision"]["securityLabel"]] == ["MH"]
    assert len(mental_health["provision"]["actor"]) == 2


@pytest.mark.parametrize("status", ["active", "inactive", "rejected"])
def test_consent_status_and_refusal(status: str) -> None:
    rec = part2_record()
    rec["consents"][1]["status"] = status
    rec["consents"][1]["decision"] = "deny"
    consent = next(c for c in convert(rec)["Consent"] if c["identifier"][0]["value"] == "CON-78")
    assert consent["status"] == status and consent["provision"]["type"] == "deny"


def test_provenance() -> None:
    prov = convert(part2_record())["Provenance"][0]
    assert prov["recorded"] == "2024-04-02T16:30:00-04:00"
    assert prov["entity"][0]["what"]["identifier"]["value"] == "CR-2024-000812"
    assert "bha 0.1.0" in prov["entity"][0]["what"]["display"]
