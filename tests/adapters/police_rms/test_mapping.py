"""Where each field of a crisis call ends up (docs/adapters/police-rms.md, "Mapping")."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from adapters.base import SourceRecord, stable_id
from adapters.police_rms import PoliceRmsAdapter
from tests.adapters.kit import SOURCE
from tests.adapters.police_rms.samples import full_record, minimal_record

ADAPTER = PoliceRmsAdapter()


def convert(rec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The resources of one record, grouped by type."""
    bundle = ADAPTER.to_fhir(SourceRecord("k", 0, rec), SOURCE).bundle
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


def obs(res: dict[str, list[dict[str, Any]]], code: str) -> dict[str, Any]:
    return next(o for o in res["Observation"] if o["code"]["coding"][0]["code"] == code)


def test_encounter_times_are_the_officers_time() -> None:
    enc = convert(full_record())["Encounter"][0]
    assert enc["class"]["code"] == "FLD"
    assert enc["period"] == {
        "start": "2024-03-05T14:02:11-05:00",
        "end": "2024-03-05T17:48:30-05:00",
    }
    assert enc["statusHistory"][0] == {
        "status": "planned",
        "period": {"start": "2024-03-05T14:02:11-05:00", "end": "2024-03-05T14:05:40-05:00"},
    }
    officer_periods = {p["period"]["start"] for p in enc["participant"]}
    assert officer_periods == {"2024-03-05T14:14:02-05:00"}
    assert enc["status"] == "finished"
    assert enc["identifier"][0]["value"] == "TPS-2024-0031187"


def test_open_call_is_in_progress() -> None:
    enc = convert(minimal_record())["Encounter"][0]
    assert enc["status"] == "in-progress"
    assert "end" not in enc["period"]


def test_primary_officer_requests_and_performs() -> None:
    res = convert(full_record())
    primary = next(p for p in res["Practitioner"] if p["identifier"][0]["value"] == "10452")
    assert primary["qualification"][0]["code"]["coding"][0]["code"] == "cit"
    assert res["ServiceRequest"][0]["requester"] == {"reference": f"Practitioner/{primary['id']}"}
    enc = res["Encounter"][0]
    roles = {
        p["individual"]["reference"]: p["type"][0]["coding"][0]["code"] for p in enc["participant"]
    }
    assert roles[f"Practitioner/{primary['id']}"] == "PPRF"
    assert sorted(roles.values()) == ["CON", "PPRF", "SPRF"]


def test_subject_becomes_patient_with_identifiers() -> None:
    patient = convert(full_record())["Patient"][0]
    assert patient["birthDate"] == "1991-07-14" and patient["gender"] == "female"
    assert patient["name"] == [{"family": "Testperson", "given": ["Alex", "Jordan"]}]
    dl = next(i for i in patient["identifier"] if i["type"]["coding"][0]["code"] == "DL")
    assert dl["system"] == "urn:gateway:id:driver-licence:ON"
    assert patient["id"] == stable_id(SOURCE.agency, "person", "MNI-884120")


def test_patient_id_falls_back_to_licence_then_incident() -> None:
    rec = full_record()
    del rec["persons"][0]["person_id"]
    patient = convert(rec)["Patient"][0]
    assert patient["id"] == stable_id(SOURCE.agency, "dl", "ON", "T12345678910714")
    rec = minimal_record()
    assert convert(rec)["Patient"][0]["id"] == stable_id(
        SOURCE.agency, "incident", rec["incident_number"], "person", "0"
    )


def test_related_complainant_is_a_contact_and_the_witness_is_not_mapped() -> None:
    rec = full_record()
    res = convert(rec)
    assert len(res["RelatedPerson"]) == 1
    contact = res["RelatedPerson"][0]
    assert contact["relationship"][0]["coding"][0]["code"] == "MTH"
    assert set(contact) == {
        "resourceType",
        "id",
        "meta",
        "patient",
        "relationship",
        "name",
        "telecom",
    }
    unmapped = ADAPTER.to_fhir(SourceRecord("k", 0, rec), SOURCE).unmapped
    assert any("persons[2]" in u for u in unmapped)


def test_disposition_and_apprehension() -> None:
    res = convert(full_record())
    assert obs(res, "mha-apprehension")["valueBoolean"] is True
    disposition = obs(res, "disposition")
    assert disposition["valueCodeableConcept"]["coding"][0]["code"] == "mha_apprehension"
    assert len(disposition["component"]) == 3
    discharge = res["Encounter"][0]["hospitalization"]["dischargeDisposition"]["coding"]
    assert {c["code"] for c in discharge} == {"mha_apprehension", "other-hcf"}
    assert obs(convert(minimal_record()), "mha-apprehension")["valueBoolean"] is False


def test_weapons_force_injuries() -> None:
    res = convert(full_record())
    weapons = obs(res, "weapons")
    assert weapons["valueBoolean"] is True
    assert weapons["component"][0]["valueCodeableConcept"]["coding"][0]["code"] == "knife"
    assert obs(res, "use-of-force")["valueBoolean"] is False
    injuries = obs(res, "injuries")
    assert injuries["component"][0]["code"]["coding"][0]["code"] == "injury-to-subject"
    minimal = convert(minimal_record())
    assert {o["code"]["coding"][0]["code"] for o in minimal["Observation"]} == {
        "disposition",
        "mha-apprehension",
    }


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"weapons": [{"type": "firearm"}]}, "active"),
        ({"use_of_force": [{"type": "oc_spray"}]}, "active"),
        ({"injuries": [{"to": "officer", "severity": "minor"}]}, "active"),
        ({"officer_safety_caution": True}, "active"),
        ({"injuries": [{"to": "subject", "severity": "minor"}]}, "inactive"),
        ({"weapons": [], "officer_safety_caution": False}, "inactive"),
        ({}, None),
    ],
)
def test_officer_safety_flag(changes: dict[str, Any], status: str | None) -> None:
    res = convert(minimal_record() | changes)
    if status is None:
        assert "Flag" not in res
        return
    flag = res["Flag"][0]
    assert flag["status"] == status
    assert flag["category"][0]["coding"][0]["code"] == "safety"


def test_referral_to_the_crisis_team() -> None:
    res = convert(full_record())
    referral = res["ServiceRequest"][0]
    assert referral["intent"] == "order" and referral["status"] == "active"
    assert referral["category"][0]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "3457005",
        "display": "Patient referral",
    }
    assert referral["subject"] == {"reference": f"Patient/{res['Patient'][0]['id']}"}
    assert referral["priority"] == "urgent"
    assert "ServiceRequest" not in convert(minimal_record())
    withdrawn = convert(minimal_record() | {"follow_up": {"requested": False}})
    assert withdrawn["ServiceRequest"][0]["status"] == "revoked"


def test_locations_scene_and_destination() -> None:
    res = convert(full_record())
    scene, dest = res["Location"]
    assert scene["position"] == {"latitude": 43.6452, "longitude": -79.3948}
    assert dest["name"] == "Example General Hospital"
    enc = res["Encounter"][0]
    assert enc["hospitalization"]["destination"] == {"reference": f"Location/{dest['id']}"}
    assert enc["location"][1]["period"]["start"] == "2024-03-05T15:07:30-05:00"
    transport = obs(res, "transport")
    assert transport["valueQuantity"]["value"] == 4.2
    assert transport["effectivePeriod"]["end"] == "2024-03-05T15:07:30-05:00"


def test_narrative_is_a_tagged_document_and_nowhere_else() -> None:
    rec = full_record()
    res = convert(rec)
    doc = res["DocumentReference"][0]
    text = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
    assert text == rec["narrative"]
    assert doc["meta"]["tag"][0]["code"] == "free-text-narrative"
    others = [r for t, rs in res.items() if t != "DocumentReference" for r in rs]
    assert all("kitchen knife, put it down" not in str(r) for r in others)
    assert "text" not in res["Encounter"][0]


def test_provenance_recorded_from_the_record() -> None:
    res = convert(full_record())
    prov = res["Provenance"][0]
    assert prov["recorded"] == "2024-03-05T18:20:00-05:00"
    assert prov["entity"][0]["what"]["identifier"]["value"] == "TPS-2024-0031187"
    assert prov["agent"][0]["who"]["display"] == SOURCE.agency
    rec = minimal_record()
    assert convert(rec)["Provenance"][0]["recorded"] == rec["reported_at"]


def test_every_reference_points_inside_the_bundle() -> None:
    res = convert(full_record())
    ids = {f"{t}/{r['id']}" for t, rs in res.items() for r in rs}
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                refs.append(node["reference"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(res)
    assert refs and set(refs) <= ids
