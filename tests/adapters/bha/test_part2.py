"""42 CFR Part 2: records of a Part 2 program carry R, SUD, 42CFRPart2 and NORDSCLCDS (STANDARDS.md,
HL7 DS4P; 42 CFR 2.12, 2.32); nothing else does."""

from __future__ import annotations

from typing import Any

from adapters.base import SourceRecord
from adapters.bha import BhaAdapter
from tests.adapters.bha.samples import part2_record, plain_record
from tests.adapters.kit import SOURCE

ADAPTER = BhaAdapter()
PART2 = {
    ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R"),
    ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "SUD"),
    ("http://terminology.hl7.org/CodeSystem/v3-ActUSPrivacyLaw", "42CFRPart2"),
    ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "NORDSCLCDS"),
}


def resources(rec: dict[str, Any]) -> list[dict[str, Any]]:
    bundle = ADAPTER.to_fhir(SourceRecord(rec["record_id"], 0, rec), SOURCE).bundle
    return [e["resource"] for e in bundle["entry"]]


def labels(res: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in res["meta"].get("security", [])}


def labelled(rec: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for res in resources(rec):
        if labels(res):
            assert labels(res) == PART2, f"{res['resourceType']} has a partial label set"
            ident = res.get("identifier")
            key = ident[0]["value"] if isinstance(ident, list) else ident["value"] if ident else ""
            out.setdefault(res["resourceType"], set()).add(key)
    return out


def test_part2_resources_carry_the_four_labels() -> None:
    got = labelled(part2_record())
    assert got == {
        "EpisodeOfCare": {"SUD-981"},
        "CareTeam": {""},
        "Condition": {"D-2"},
        "Consent": {"CON-77"},
        "Provenance": {""},
    }


def test_the_rest_of_a_part2_record_is_not_labelled() -> None:
    for res in resources(part2_record()):
        if res["resourceType"] in ("Patient", "Practitioner", "QuestionnaireResponse"):
            assert not labels(res)
        if res["resourceType"] == "Condition" and res["identifier"][0]["value"] == "D-1":
            assert not labels(res)


def test_a_record_without_a_part2_program_has_no_labels() -> None:
    assert labelled(plain_record()) == {}
    rec = part2_record()
    rec["substance_use_episodes"][0]["part2_program"] = False
    rec["consents"] = [c for c in rec["consents"] if "substance_use" not in c["scope"]]
    assert labelled(rec) == {}


def test_screening_in_a_part2_episode_is_labelled() -> None:
    rec = part2_record()
    rec["cssrs_screenings"][0]["episode_id"] = "SUD-981"
    got = labelled(rec)
    assert got["QuestionnaireResponse"] == {"SCR-3001"}
    assert "Observation" in got


def test_a_consent_to_disclose_sud_records_is_part2_even_without_an_episode() -> None:
    rec = plain_record()
    rec["consents"] = [
        {
            "consent_id": "C-1",
            "status": "active",
            "signed_on": "2024-01-01",
            "scope": ["substance_use"],
            "purposes": ["treatment"],
            "recipients": [{"agency": "county-crisis-team"}],
        }
    ]
    got = labelled(rec)
    assert got["Consent"] == {"C-1"}
    consent = next(r for r in resources(rec) if r["resourceType"] == "Consent")
    assert consent["policyRule"]["coding"][0]["code"] == "42CFRPart2"
