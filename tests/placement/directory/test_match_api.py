"""``$match`` over HTTP: input forms, the Bundle it answers, explain, errors and authorization."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.db.session import Database
from gateway.placement import profiles as p
from gateway.placement.census import instant
from tests.conftest import bearer
from tests.placement.directory.helpers import (
    AMARILLO,
    FHIR,
    PAVILION,
    demo_rows,
    ext,
    hits,
    load,
    match,
    params,
)

ORIGIN = {"latitude": AMARILLO[0], "longitude": AMARILLO[1]}
ROWS = demo_rows(25)  # Abilene to Austin, Amarillo and Big Spring among them


@pytest.fixture()
def demo(db: Database) -> Database:
    load(db, ROWS)
    return db


def test_match_returns_a_ranked_searchset_of_units(client: TestClient, demo: Database) -> None:
    bundle = match(client, age=34, sex="female", maxDistance=300.0, count=5, **ORIGIN)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    found = hits(bundle)
    assert 0 < len(found) <= 5 and bundle["total"] >= len(found)
    assert found[0]["resource"]["id"] == f"{PAVILION}-adult-psych"  # the one in Amarillo
    scores = [e["search"]["score"] for e in found]
    assert scores == sorted(scores, reverse=True)
    distances = [ext(e["search"], "match-distance")["value"] for e in found]
    assert all(d <= 300 for d in distances) and distances[0] < 20
    first = found[0]["search"]
    assert ext(first, "match-census-stale") is True  # nobody has reported a census yet
    assert ext(first, "match-free-beds") is None
    reasons = [e["valueString"] for e in first["extension"] if e["url"] == p.MATCH_REASON]
    assert any("km away" in r for r in reasons) and any("census" in r for r in reasons)
    assert found[0]["fullUrl"].endswith(f"/HealthcareService/{PAVILION}-adult-psych")


def test_get_with_query_parameters_equals_post(client: TestClient, demo: Database) -> None:
    query = {"age": "40", "latitude": str(AMARILLO[0]), "longitude": str(AMARILLO[1])}
    got = client.get("/fhir/ServiceRequest/$match", params={**query, "maxDistance": "250"})
    assert got.status_code == 200, got.text
    posted = match(client, age=40, maxDistance=250.0, **ORIGIN)
    assert [e["fullUrl"] for e in hits(got.json())] == [e["fullUrl"] for e in hits(posted)]


def test_service_request_body_supplies_bed_type_and_reasons(
    client: TestClient, demo: Database
) -> None:
    service_request = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"display": "a patient"},
        "code": {"coding": [{"system": p.BED_TYPE_SYSTEM, "code": "PediatricPsychiatric"}]},
        "reasonCode": [
            {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F50.01"}]}
        ],
    }
    body = params(**ORIGIN)
    body["parameter"].append({"name": "serviceRequest", "resource": service_request})
    response = client.post("/fhir/ServiceRequest/$match", json=body, headers=FHIR)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert hits(bundle) == []  # no unit is a child unit with an eating disorder program
    outcome = bundle["entry"][-1]["resource"]
    assert "eating-disorder" in outcome["issue"][0]["diagnostics"]
    bare = client.post(
        "/fhir/ServiceRequest/$match",
        json=service_request,
        headers=FHIR,
        params={"explain": "true"},
    )
    assert bare.status_code == 200, bare.text
    codes = {
        c["code"]
        for issue in bare.json()["entry"][-1]["resource"]["issue"]
        for c in issue.get("details", {}).get("coding", [])
    }
    assert codes == {"bed-type", "specialty"}


def test_explain_lists_every_excluded_unit_with_its_criteria(
    client: TestClient, demo: Database
) -> None:
    bundle = match(client, age=34, maxDistance=200.0, explain=True, count=100, **ORIGIN)
    matched = {e["resource"]["id"] for e in hits(bundle)}
    outcome = bundle["entry"][-1]
    assert outcome["search"]["mode"] == "outcome"
    excluded = {}
    for issue in outcome["resource"]["issue"]:
        unit = issue["details"]["text"].split("/", 1)[1]
        excluded[unit] = [c["code"] for c in issue["details"]["coding"]]
        assert issue["expression"] and issue["severity"] == "information"
    assert len(matched) + len(excluded) == len(ROWS)
    assert not matched & set(excluded)
    assert all(codes == ["distance"] for codes in excluded.values())


def test_explain_names_each_failed_criterion(client: TestClient, demo: Database) -> None:
    unit = f"{PAVILION}-adult-psych"
    admin = bearer(client.app)
    patch = {
        "ageRange": {"low": 18, "high": 64},
        "payers": ["medicaid"],
        "acceptsInvoluntary": False,
    }
    assert (
        client.patch(f"/placement/units/{unit}/criteria", json=patch, headers=admin).status_code
        == 200
    )
    bundle = match(
        client,
        age=70,
        payer="commercial",
        involuntary=True,
        explain=True,
        maxDistance=30.0,
        **ORIGIN,
    )
    issue = next(
        i for i in bundle["entry"][-1]["resource"]["issue"] if i["details"]["text"].endswith(unit)
    )
    assert [c["code"] for c in issue["details"]["coding"]] == ["age", "payer", "involuntary"]
    assert "excluded" in issue["diagnostics"] and "THE PAVILIION" in issue["diagnostics"]


def test_free_beds_filter_and_unreported_units(client: TestClient, demo: Database) -> None:
    unit = f"{PAVILION}-adult-psych"
    admin = bearer(client.app)
    full = client.put(f"/placement/units/{unit}/census", json={"freeBeds": 0}, headers=admin)
    assert full.status_code == 200, full.text
    bundle = match(client, maxDistance=30.0, explain=True, **ORIGIN)
    assert unit not in {e["resource"]["id"] for e in hits(bundle)}
    issue = next(
        i for i in bundle["entry"][-1]["resource"]["issue"] if i["details"]["text"].endswith(unit)
    )
    assert [c["code"] for c in issue["details"]["coding"]] == ["no-free-beds"]
    client.put(f"/placement/units/{unit}/census", json={"freeBeds": 2}, headers=admin)
    found = hits(match(client, maxDistance=30.0, includeUnreported=False, **ORIGIN))
    assert [e["resource"]["id"] for e in found] == [unit]
    assert ext(found[0]["search"], "match-free-beds") == 2
    assert ext(found[0]["search"], "match-census-stale") is False


def test_hold_expiry_excludes_units_too_far_to_reach(client: TestClient, demo: Database) -> None:
    soon = instant(time.time() + 2 * 3600)  # 2 h: about 107 km of road at 70 km/h x 1.3
    bundle = match(client, involuntary=True, holdExpires=soon, explain=True, count=200, **ORIGIN)
    distances = [ext(e["search"], "match-distance")["value"] for e in hits(bundle)]
    assert distances and max(distances) * 1.3 / 70 <= 2.0
    reasons = [
        i["details"]["coding"][0]["code"]
        for i in bundle["entry"][-1]["resource"]["issue"]
        if "details" in i
    ]
    assert "hold-expiry" in reasons


@pytest.mark.parametrize(
    ("body", "query", "expression"),
    [
        (params(age=-1), {}, "Parameters.parameter[0].valueInteger"),
        (params(sex="robot"), {}, "Parameters.parameter[0].valueCode"),
        (params(payer="cash"), {}, "Parameters.parameter[0].valueCode"),
        (params(latitude=100.0, longitude=0.0), {}, "Parameters.parameter[0].valueDecimal"),
        (params(latitude=10.0), {}, "longitude"),
        (params(maxDistance=10.0), {}, "latitude"),
        (params(count=5000), {}, "Parameters.parameter[0].valueInteger"),
        (params(levelOfCare="spa"), {}, "Parameters.parameter[0].valueCode"),
        (params(holdExpires="2001-01-01T00:00:00Z"), {}, "Parameters.parameter[0].valueDateTime"),
        (params(language="not a tag"), {}, "Parameters.parameter[0].valueCode"),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "colour", "valueCode": "x"}]},
            {},
            "Parameters.parameter[0].name",
        ),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "age", "valueString": "9"}]},
            {},
            "Parameters.parameter[0].valueString",
        ),
        ({"resourceType": "Patient"}, {}, "resourceType"),
        (params(), {"age": "old"}, "age"),
        (params(), {"explain": "yes"}, "explain"),
        (params(), {"unknown": "1"}, "unknown"),
        (params(age=3), {"age": "4"}, "age"),
    ],
)
def test_bad_parameters_are_400_with_expression(
    client: TestClient, db: Database, body: dict[str, Any], query: dict[str, str], expression: str
) -> None:
    response = client.post("/fhir/ServiceRequest/$match", json=body, headers=FHIR, params=query)
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [expression]
    assert outcome["issue"][0]["diagnostics"]


def test_body_must_be_json(client: TestClient, db: Database) -> None:
    response = client.post(
        "/fhir/ServiceRequest/$match", content=b"age=3", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    response = client.post("/fhir/ServiceRequest/$match", content=b"{", headers=FHIR)
    assert response.status_code == 400 and response.json()["issue"][0]["expression"] == ["$"]


def test_match_needs_a_token_and_search_on_healthcare_service(
    anon_client: TestClient, db: Database
) -> None:
    assert (
        anon_client.post("/fhir/ServiceRequest/$match", json=params(), headers=FHIR).status_code
        == 401
    )
    assert anon_client.get("/fhir/ServiceRequest/$match").status_code == 401
    narrow = bearer(anon_client.app, scope="system/HealthcareService.r system/Patient.s")
    refused = anon_client.post(
        "/fhir/ServiceRequest/$match", json=params(), headers={**FHIR, **narrow}
    )
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["code"] == "forbidden"
    police = bearer(anon_client.app, scope="user/HealthcareService.s", role="police_officer")
    allowed = anon_client.post(
        "/fhir/ServiceRequest/$match", json=params(), headers={**FHIR, **police}
    )
    assert allowed.status_code == 200, allowed.text
