"""Security labelling (HL7 DS4P): every rule, high-water mark, sender labels kept, never lowered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies.labelling import (
    ACT_CODE,
    CONFIDENTIALITY,
    PRIVACY_LAW,
    RULES_PATH,
    element_labels,
    label,
    load_rules,
)
from tests.policies.conftest import ICD, SNOMED, concept

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
PART2 = {"SUD", "42CFRPart2", "NORDSCLCDS"}


def codes(resource: dict[str, Any]) -> set[str]:
    return {c["code"] for c in resource["meta"]["security"]}


def confidentiality(resource: dict[str, Any]) -> list[str]:
    return [c["code"] for c in resource["meta"]["security"] if c["system"] == CONFIDENTIALITY]


def condition(system: str, code: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "c", "code": concept(system, code)}


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        (ICD, "F10.20", PART2),
        (ICD, "F19.99", PART2),
        (ICD, "F1120", PART2),
        (ICD, "F20.9", {"PSY", "MH"}),
        (ICD, "F32.A", {"PSY", "MH"}),
        (ICD, "F99", {"PSY", "MH"}),
        (ICD, "B20", {"HIV"}),
        (ICD, "Z21", {"HIV"}),
        ("http://hl7.org/fhir/sid/icd-10", "F10.2", PART2),
        (SNOMED, "66214007", PART2),
        (SNOMED, "7200002", PART2),
        (SNOMED, "58214004", {"PSY", "MH"}),
        (SNOMED, "74732009", {"PSY", "MH"}),
        (SNOMED, "86406008", {"HIV"}),
    ],
)
def test_condition_codes_are_labelled(system: str, code: str, expected: set[str]) -> None:
    out = label(condition(system, code))
    assert expected <= codes(out)
    assert confidentiality(out) == ["R"]


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (ICD, "F09"),
        (ICD, "E11.9"),
        (ICD, "S01.0"),
        (ICD, "Z20.6"),
        (SNOMED, "38341003"),
        (LOINC, "8867-4"),
    ],
)
def test_other_codes_stay_normal(system: str, code: str) -> None:
    out = label(condition(system, code))
    assert codes(out) == {"N"}


def test_every_rule_in_the_rules_file_fires() -> None:
    data = json.loads(RULES_PATH.read_text())
    for rule in data["code_rules"]:
        system = rule["systems"][0]
        samples = list(rule.get("codes", {})) + [lo for lo, _ in rule.get("ranges", [])]
        assert samples, rule["id"]
        for code in samples:
            got = codes(label(condition(system, code)))
            assert set(rule["labels"]) <= got, (rule["id"], code)
            assert rule["confidentiality"] in got, (rule["id"], code)


def test_part2_labels_carry_the_right_code_systems() -> None:
    out = label(condition(ICD, "F11.20"))
    by_code = {c["code"]: c["system"] for c in out["meta"]["security"]}
    assert by_code == {
        "SUD": ACT_CODE,
        "NORDSCLCDS": ACT_CODE,
        "42CFRPart2": PRIVACY_LAW,
        "R": CONFIDENTIALITY,
    }


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Observation", "code": concept(LOINC, "44261-6"), "valueInteger": 21},
        {
            "resourceType": "Observation",
            "code": concept(LOINC, "1234-5"),
            "valueCodeableConcept": concept(SNOMED, "58214004"),
        },
        {
            "resourceType": "Observation",
            "code": concept(LOINC, "1234-5"),
            "component": [{"code": concept(ICD, "F20.0")}],
        },
        {"resourceType": "Encounter", "reasonCode": [concept(ICD, "F20.0")]},
        {"resourceType": "ServiceRequest", "reasonCode": [concept(SNOMED, "13746004")]},
        {"resourceType": "Procedure", "code": concept("http://www.ama-assn.org/go/cpt", "90837")},
        {"resourceType": "Flag", "code": concept(SNOMED, "74732009")},
        {"resourceType": "AllergyIntolerance", "code": concept(RXNORM, "315952")},
    ],
)
def test_codes_anywhere_in_the_resource_are_found(resource: dict[str, Any]) -> None:
    got = codes(label(resource))
    assert got & {"PSY", "MH", "BH"}
    assert "R" in got


def test_medication_for_opioid_use_disorder_is_part2() -> None:
    med = {
        "resourceType": "MedicationStatement",
        "medicationCodeableConcept": concept(RXNORM, "1819"),
    }
    assert codes(label(med)) >= PART2


def test_encounter_diagnosis_via_contained_condition() -> None:
    enc = {
        "resourceType": "Encounter",
        "contained": [{"resourceType": "Condition", "id": "d1", "code": concept(ICD, "F10.10")}],
        "diagnosis": [{"condition": {"reference": "#d1"}}],
    }
    assert codes(label(enc)) >= PART2
    assert element_labels(enc)["diagnosis[0]"] >= PART2


def test_psychotherapy_note_document() -> None:
    doc = {
        "resourceType": "DocumentReference",
        "type": concept("urn:crisis-exchange:document-kind", "psychotherapy-note"),
    }
    assert {"PSYTHPN", "HIPAAPsyNotes", "R"} <= codes(label(doc))


def test_document_security_label_counts_as_sender_label() -> None:
    doc = {"resourceType": "DocumentReference", "securityLabel": [concept(ACT_CODE, "PSYTHPN")]}
    assert {"PSYTHPN", "HIPAAPsyNotes", "R"} <= codes(label(doc))


def test_resource_already_carrying_42cfrpart2_gets_the_full_part2_set() -> None:
    obs = {
        "resourceType": "Observation",
        "code": concept(LOINC, "8867-4"),
        "meta": {"security": [{"system": PRIVACY_LAW, "code": "42CFRPart2"}]},
    }
    assert PART2 | {"R"} <= codes(label(obs))


def test_eth_is_treated_as_sud() -> None:
    obs = {
        "resourceType": "Observation",
        "meta": {"security": [{"system": ACT_CODE, "code": "ETH"}]},
    }
    assert {"ETH"} | PART2 <= codes(label(obs))


def test_part2_program_source_labels_everything() -> None:
    obs = {"resourceType": "Observation", "code": concept(LOINC, "8867-4")}
    assert PART2 | {"R"} <= codes(label(obs, part2_program=True))


def test_high_water_mark_is_one_confidentiality_code() -> None:
    enc = {
        "resourceType": "Encounter",
        "meta": {
            "security": [
                {"system": CONFIDENTIALITY, "code": "N"},
                {"system": CONFIDENTIALITY, "code": "L"},
            ]
        },
        "reasonCode": [concept(ICD, "F20.0"), concept(ICD, "B20")],
    }
    out = label(enc)
    assert confidentiality(out) == ["R"]
    assert {"PSY", "MH", "HIV"} <= codes(out)


def test_sender_confidentiality_is_never_lowered() -> None:
    obs = {
        "resourceType": "Observation",
        "code": concept(ICD, "F20.0"),
        "meta": {"security": [{"system": CONFIDENTIALITY, "code": "V"}]},
    }
    assert confidentiality(label(obs)) == ["V"]


def test_sender_labels_are_kept_even_unknown_ones() -> None:
    own = {"system": "urn:example:local-labels", "code": "county-only"}
    obs = {
        "resourceType": "Observation",
        "code": concept(LOINC, "8867-4"),
        "meta": {"security": [own, {"system": ACT_CODE, "code": "SDV"}]},
    }
    out = label(obs)
    assert own in out["meta"]["security"]
    assert {"SDV", "R"} <= codes(out)


def test_labelling_is_idempotent_and_does_not_touch_the_input() -> None:
    cond = condition(ICD, "F10.20")
    once = label(cond)
    assert "meta" not in cond
    assert label(once)["meta"] == once["meta"]


def test_rules_file_can_be_extended(tmp_path: Any) -> None:
    data = json.loads(RULES_PATH.read_text())
    data["code_rules"].append(
        {
            "id": "local",
            "systems": ["urn:x"],
            "codes": {"abc": "x"},
            "labels": ["SDV"],
            "confidentiality": "R",
        }
    )
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data))
    out = label(condition("urn:x", "abc"), rules=load_rules(path))
    assert {"SDV", "R"} <= codes(out)
