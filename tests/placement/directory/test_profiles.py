"""The published extensions and their round trips through storage, and criteria edits."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class

from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement import census, directory, directory_write
from gateway.placement import profiles as p
from gateway.placement.directory_artifacts import all_artifacts, render
from tests.conftest import bearer
from tests.placement.directory.helpers import (
    FHIR,
    FHIR_BASE,
    PAVILION,
    demo_rows,
    facility_headers,
    load,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "profiles"
UNIT = f"{PAVILION}-adult-psych"


def test_published_artifacts_are_the_generated_ones() -> None:
    for doc in all_artifacts():
        path = DOCS / f"{doc['resourceType']}-{doc['id']}.json"
        assert path.read_bytes() == render(doc), f"{path.name} is out of date: regenerate it"
    published = {p.name for p in DOCS.glob("*.json")}
    assert published == {f"{d['resourceType']}-{d['id']}.json" for d in all_artifacts()}
    readme = (DOCS / "README.md").read_text()
    assert all(
        d["url"] in readme for d in all_artifacts() if d["resourceType"] == "StructureDefinition"
    )


@pytest.mark.parametrize("doc", all_artifacts(), ids=lambda d: f"{d['resourceType']}-{d['id']}")
def test_artifacts_are_valid_fhir(doc: dict[str, Any]) -> None:
    get_fhir_model_class(doc["resourceType"]).model_validate(doc)
    if doc["resourceType"] == "StructureDefinition":
        assert (doc["kind"], doc["type"], doc["fhirVersion"]) == (
            "complex-type",
            "Extension",
            "4.0.1",
        )
        assert doc["url"].startswith(p.SD_BASE + "/")
        assert doc["context"][0]["expression"] in ("HealthcareService", "Bundle.entry.search")
        values = [e for e in doc["differential"]["element"] if e["path"].endswith("value[x]")]
        assert values and all(v.get("type") or v.get("max") == "0" for v in values)


def _random_changes(rng: random.Random) -> dict[str, Any]:
    low = rng.choice([None, 0, 12, 18, 65])
    high = rng.choice([None, 17, 64, 120])
    if low is not None and high is not None and low > high:
        low, high = high, low
    return {
        "ageRange": {"low": low, "high": high},
        "sexes": rng.sample(list(p.SEXES), rng.randint(1, 4)),
        "payers": rng.sample(list(p.PAYERS), rng.randint(1, 4)),
        "acceptsInvoluntary": rng.random() < 0.5,
        "securityLevel": rng.choice(list(p.SECURITY_LEVELS)),
        "medicalAcuity": rng.choice(list(p.ACUITY_LEVELS)),
        "acceptsAggression": rng.random() < 0.5,
        "requiresMedicalClearance": rng.random() < 0.5,
        "specialties": rng.sample(list(p.SPECIALTIES), rng.randint(0, 4)) or None,
        "languages": rng.sample(["en", "es", "vi", "zh-Hant"], rng.randint(1, 3)),
        "levelsOfCare": rng.sample(list(p.LEVELS_OF_CARE), rng.randint(1, 2)),
        "cadenceMinutes": rng.choice([30, 90, 480, 1440]),
    }


def test_criteria_round_trip_through_storage(db: Database) -> None:
    load(db, demo_rows(2))
    rng = random.Random(7)
    for n in range(25):
        changes = _random_changes(rng)
        with db.unit_of_work() as session:
            svc = ResourceService(session, FHIR_BASE)  # validates every write as R4
            doc = orjson.loads(svc.read("HealthcareService", UNIT).content or "{}")
            as_of = 1_750_000_000.0 + n
            doc = directory_write.apply_criteria(doc, changes)
            new = census.census_extension(directory.Census(n % 5, 10, as_of, "unit"))
            doc = directory_write.replace_extensions(doc, {p.CENSUS}, [new])
            stored = svc.update("HealthcareService", UNIT, doc)
        got = directory.read_criteria(orjson.loads(stored.content or "{}"))
        low, high = changes["ageRange"]["low"], changes["ageRange"]["high"]
        assert got.age_stated and (got.age_low, got.age_high) == (low if low or high else 0, high)
        assert got.sexes == frozenset(changes["sexes"])
        assert got.payers == frozenset(changes["payers"])
        assert got.accepts_involuntary is changes["acceptsInvoluntary"]
        assert got.security_level == changes["securityLevel"]
        assert got.medical_acuity == changes["medicalAcuity"]
        assert got.accepts_aggression is changes["acceptsAggression"]
        assert got.requires_clearance is changes["requiresMedicalClearance"]
        assert got.specialties == frozenset(changes["specialties"] or ())
        assert got.languages == {c.split("-")[0] for c in changes["languages"]}
        assert got.levels == frozenset(changes["levelsOfCare"])
        assert got.cadence == changes["cadenceMinutes"] * 60
        assert got.census == directory.Census(n % 5, 10, as_of, "unit")
        assert got.bed_types == ("AdultPsychiatric",)
        assert not directory_write.check_unit(orjson.loads(stored.content or "{}"))


def test_clearing_criteria_returns_to_the_defaults() -> None:
    doc = {
        "resourceType": "HealthcareService",
        "id": "u",
        "extension": [{"url": "x", "valueBoolean": True}],
    }
    full = directory_write.apply_criteria(doc, _random_changes(random.Random(1)))
    cleared = directory_write.apply_criteria(full, dict.fromkeys(_random_changes(random.Random(1))))
    assert cleared == doc  # other extensions are kept; ours are gone
    crit = directory.read_criteria(cleared)
    assert (crit.sexes, crit.payers, crit.accepts_involuntary, crit.cadence) == (
        None,
        None,
        None,
        p.DEFAULT_CADENCE_SECONDS,
    )


def test_check_unit_names_bad_extensions() -> None:
    doc = {
        "resourceType": "HealthcareService",
        "extension": [
            {"url": p.PAYER_ACCEPTED, "valueCode": "cash"},
            {"url": p.CENSUS, "extension": [{"url": "totalBeds", "valueUnsignedInt": 3}]},
            {"url": p.CENSUS_CADENCE, "valueDuration": {"value": 3, "code": "mo"}},
            {"url": p.AGE_RANGE, "valueRange": {"low": {"value": 30}, "high": {"value": 20}}},
        ],
    }
    issues = directory_write.check_unit(doc)
    assert [i.expression for i in issues] == [
        (f"HealthcareService.extension[{i}]",) for i in range(4)
    ]
    assert census.unit_problems("HealthcareService", doc) == issues
    assert census.unit_problems("Location", doc) == []


def test_facility_edits_its_criteria_and_nobody_else(client: TestClient, db: Database) -> None:
    load(db, demo_rows(2))
    url = f"/placement/units/{UNIT}/criteria"
    body = {"payers": ["medicaid", "medicare"], "acceptsInvoluntary": True, "languages": ["es"]}
    stranger = client.patch(url, json=body, headers=facility_headers(client, "hifld-0000179602"))
    assert stranger.status_code == 403
    own = client.patch(url, json=body, headers=facility_headers(client, PAVILION))
    assert own.status_code == 200, own.text
    view = own.json()
    assert view["payers"] == ["medicaid", "medicare"] and view["acceptsInvoluntary"] is True
    assert view["languages"] == ["es"] and view["version"] == 2
    cleared = client.patch(url, json={"payers": None}, headers=bearer(client.app))  # an admin
    assert cleared.status_code == 200 and cleared.json()["payers"] is None
    assert cleared.json()["acceptsInvoluntary"] is True  # untouched keys stay
    stored = client.get(f"/fhir/HealthcareService/{UNIT}").json()
    assert directory.read_criteria(stored).payers is None
    no_scope = bearer(client.app, scope="system/HealthcareService.rs")
    assert client.patch(url, json=body, headers=no_scope).status_code == 403


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        ({"payers": ["cash"]}, "body.payers.0"),
        ({"securityLevel": "maximum"}, "body.securityLevel"),
        ({"ageRange": {"low": 40, "high": 20}}, "body.ageRange"),
        ({"cadenceMinutes": 0}, "body.cadenceMinutes"),
        ({"languages": ["not a tag"]}, "body"),
        ({"colour": "red"}, "body.colour"),
    ],
)
def test_bad_criteria_are_400_with_expression(
    client: TestClient, db: Database, body: dict[str, Any], expression: str
) -> None:
    load(db, demo_rows(2))
    response = client.patch(f"/placement/units/{UNIT}/criteria", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == [expression]


def test_unknown_unit_is_404(client: TestClient, db: Database) -> None:
    assert client.patch("/placement/units/nope/criteria", json={}).status_code == 404
    assert client.get("/placement/units/nope").status_code == 404
    assert client.put("/placement/units/nope/census", json={"freeBeds": 1}).status_code == 404


def test_a_unit_with_placement_extensions_is_valid_on_the_fhir_api(
    client: TestClient, db: Database
) -> None:
    load(db, demo_rows(2))
    doc = client.get(f"/fhir/HealthcareService/{UNIT}").json()
    doc = directory_write.apply_criteria(doc, _random_changes(random.Random(3)))
    headers = {**FHIR, **facility_headers(client, PAVILION)}
    response = client.put(
        f"/fhir/HealthcareService/{UNIT}", json=json.loads(json.dumps(doc)), headers=headers
    )
    assert response.status_code == 200, response.text
