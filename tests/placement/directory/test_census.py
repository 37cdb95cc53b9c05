"""Bed census from each of the three inputs, who may send it, and staleness."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement import census, directory, directory_write
from gateway.placement import profiles as p
from tests.conftest import bearer
from tests.placement.directory.helpers import (
    EXAMPLES,
    FHIR,
    FHIR_BASE,
    PAVILION,
    demo_rows,
    ext,
    facility_headers,
    hits,
    load,
    match,
)

UNIT = f"{PAVILION}-adult-psych"
ORG = "Org-1067"  # the synthetic hospital of data/fhir-examples
WARD = "Loc-Org-1067"


def _unit(client: TestClient, unit: str = UNIT) -> dict[str, Any]:
    response = client.get(f"/placement/units/{unit}")
    assert response.status_code == 200, response.text
    return response.json()


def _example(name: str) -> dict[str, Any]:
    path = EXAMPLES / f"Org-1067-{name}.json"
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    return json.loads(path.read_text())


@pytest.fixture()
def pavilion(db: Database) -> Database:
    load(db, demo_rows(2))
    return db


@pytest.fixture()
def org_1067(db: Database) -> Database:
    """The example hospital: Organization, unit Location (with coordinates) and one unit."""
    with db.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        svc.update("Organization", ORG, {"resourceType": "Organization", "id": ORG, "name": "H"})
        svc.update(
            "Location",
            WARD,
            {
                "resourceType": "Location",
                "id": WARD,
                "name": "Ward",
                "position": {"latitude": 31.3, "longitude": -92.4},
                "managingOrganization": {"reference": f"Organization/{ORG}"},
            },
        )
        svc.update(
            "HealthcareService",
            "unit-1067",
            {
                "resourceType": "HealthcareService",
                "id": "unit-1067",
                "providedBy": {"reference": f"Organization/{ORG}"},
                "type": [{"coding": [{"system": p.BED_TYPE_SYSTEM, "code": "AdultPsychiatric"}]}],
                "location": [{"reference": f"Location/{WARD}"}],
            },
        )
    return db


def test_unit_census_endpoint_and_who_may_use_it(client: TestClient, pavilion: Database) -> None:
    body = {"freeBeds": 4, "totalBeds": 20, "cadenceMinutes": 240}
    other = facility_headers(client, "hifld-0000179602")  # another hospital's user
    refused = client.put(f"/placement/units/{UNIT}/census", json=body, headers=other)
    assert refused.status_code == 403 and refused.json()["issue"][0]["code"] == "forbidden"
    own = facility_headers(client, PAVILION)
    response = client.put(f"/placement/units/{UNIT}/census", json=body, headers=own)
    assert response.status_code == 200, response.text
    [unit] = response.json()["units"]
    assert (unit["freeBeds"], unit["totalBeds"], unit["source"], unit["cadenceMinutes"]) == (
        4,
        20,
        "unit",
        240,
    )
    view = _unit(client)
    assert view["census"]["freeBeds"] == 4 and view["stale"] is False
    assert view["cadenceMinutes"] == 240
    stored = client.get(f"/fhir/HealthcareService/{UNIT}").json()
    assert directory.read_criteria(stored).census == directory.Census(
        4, 20, directory.read_criteria(stored).census.as_of, "unit"
    )


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        ({"freeBeds": -1}, "body.freeBeds"),
        ({"totalBeds": 3}, "body.freeBeds"),
        ({"freeBeds": 1, "colour": "red"}, "body.colour"),
        ({"freeBeds": 5, "totalBeds": 3}, "freeBeds"),
        ({"freeBeds": 1, "asOf": "yesterday"}, "asOf"),
    ],
)
def test_bad_census_is_400_with_expression(
    client: TestClient, pavilion: Database, body: dict[str, Any], expression: str
) -> None:
    response = client.put(f"/placement/units/{UNIT}/census", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == [expression]


def test_census_from_a_fhir_update_of_the_unit(client: TestClient, pavilion: Database) -> None:
    doc = client.get(f"/fhir/HealthcareService/{UNIT}").json()
    now = time.time()
    new = census.census_extension(directory.Census(7, 12, now - 600, "unit"))
    doc = directory_write.replace_extensions(doc, {p.CENSUS}, [new])
    own = {**FHIR, **facility_headers(client, PAVILION)}  # sharing rules: the facility's own
    response = client.put(f"/fhir/HealthcareService/{UNIT}", json=doc, headers=own)
    assert response.status_code == 200, response.text
    [hit] = [h for h in hits(match(client, count=50)) if h["resource"]["id"] == UNIT]
    assert ext(hit["search"], "match-free-beds") == 7
    assert 9.9 <= ext(hit["search"], "match-census-age")["value"] <= 11
    assert ext(hit["search"], "match-census-stale") is False


def test_census_without_a_date_is_never_fresh(client: TestClient, pavilion: Database) -> None:
    doc = client.get(f"/fhir/HealthcareService/{UNIT}").json()
    undated = {"url": p.CENSUS, "extension": [{"url": "freeBeds", "valueUnsignedInt": 3}]}
    doc = directory_write.replace_extensions(doc, {p.CENSUS}, [undated])
    own = {**FHIR, **facility_headers(client, PAVILION)}
    assert client.put(f"/fhir/HealthcareService/{UNIT}", json=doc, headers=own).status_code == 200
    [hit] = [h for h in hits(match(client, count=50)) if h["resource"]["id"] == UNIT]
    assert ext(hit["search"], "match-free-beds") == 3
    assert ext(hit["search"], "match-census-stale") is True
    assert ext(hit["search"], "match-census-age") is None


def test_census_from_bed_locations(client: TestClient, org_1067: Database) -> None:
    beds = _example("beds")  # 10 beds: 7 active, 3 of them unoccupied (U)
    admin = bearer(client.app)
    response = client.post("/placement/census/beds", json=beds, headers=admin)
    assert response.status_code == 200, response.text
    [unit] = response.json()["units"]
    assert (unit["id"], unit["freeBeds"], unit["totalBeds"], unit["source"]) == (
        "unit-1067",
        3,
        7,
        "beds",
    )
    one = next(
        e["resource"] for e in beds["entry"] if e["resource"]["operationalStatus"]["code"] == "U"
    )
    one["operationalStatus"] = {"system": one["operationalStatus"]["system"], "code": "O"}
    again = client.post("/placement/census/beds", json=one, headers=admin)
    assert again.json()["units"][0]["freeBeds"] == 2
    stranger = facility_headers(client, "someone-else")
    refused = client.post("/placement/census/beds", json=one, headers=stranger)
    assert refused.status_code == 403
    assert _unit(client, "unit-1067")["census"]["freeBeds"] == 2  # the refusal changed nothing


def test_bed_written_through_the_fhir_path_recounts_its_unit(org_1067: Database) -> None:
    beds = [e["resource"] for e in _example("beds")["entry"]]
    with org_1067.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        for bed in beds:
            svc.update("Location", bed["id"], bed)
        written = census.after_write(svc, "Location", beds[0])
        assert [s.rid for s in written] == ["unit-1067"]
        doc = orjson.loads(svc.read("HealthcareService", "unit-1067").content or "{}")
        assert directory.read_criteria(doc).census.free == 3  # type: ignore[union-attr]
        svc.delete("Location", beds[2]["id"])  # an unoccupied bed goes away
        census.after_write(svc, "Location", None, previous=beds[2])
        doc = orjson.loads(svc.read("HealthcareService", "unit-1067").content or "{}")
        assert directory.read_criteria(doc).census.free == 2  # type: ignore[union-attr]


def test_census_from_the_saner_example_measure_report(
    client: TestClient, org_1067: Database
) -> None:
    report = _example("measureReports")["entry"][0]["resource"]
    response = client.post("/placement/census/measure-report", json=report, headers=FHIR)
    assert response.status_code == 200, response.text
    [unit] = response.json()["units"]
    assert (unit["freeBeds"], unit["totalBeds"], unit["source"]) == (3, 7, "measure-report")
    assert unit["asOf"].startswith("2020-03-26")  # the report's own date: long stale by now
    assert _unit(client, "unit-1067")["stale"] is True


def test_census_from_saner_populations(client: TestClient, org_1067: Database) -> None:
    report = {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": "http://hl7.org/fhir/us/saner/Measure/CDCPatientImpactAndHospitalCapacity",
        "subject": {"reference": f"Location/{WARD}"},
        "date": census.instant(time.time() - 60),
        "period": {"start": "2025-01-01", "end": "2025-01-02"},
        "group": [
            {
                "code": {"coding": [{"code": "Beds"}]},
                "population": [
                    {"code": {"coding": [{"code": "numbeds"}]}, "count": 20},
                    {"code": {"coding": [{"code": "numBedsOcc"}]}, "count": 15},
                ],
            }
        ],
    }
    response = client.post("/placement/census/measure-report", json=report, headers=FHIR)
    assert response.status_code == 200, response.text
    view = _unit(client, "unit-1067")
    assert (view["census"]["freeBeds"], view["census"]["totalBeds"], view["stale"]) == (
        5,
        20,
        False,
    )
    report["group"] = [{"code": {"coding": [{"code": "numICUBeds"}]}, "measureScore": {"value": 3}}]
    refused = client.post("/placement/census/measure-report", json=report, headers=FHIR)
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["expression"] == ["MeasureReport.group"]


def test_measure_report_for_a_location_with_two_units_needs_the_unit(
    client: TestClient, org_1067: Database
) -> None:
    with org_1067.unit_of_work() as session:
        ResourceService(session, FHIR_BASE).update(
            "HealthcareService",
            "unit-1067-geri",
            {
                "resourceType": "HealthcareService",
                "id": "unit-1067-geri",
                "providedBy": {"reference": f"Organization/{ORG}"},
                "location": [{"reference": f"Location/{WARD}"}],
            },
        )
    report = _example("measureReports")["entry"][0]["resource"]
    refused = client.post("/placement/census/measure-report", json=report, headers=FHIR)
    assert refused.status_code == 400 and "unit=" in refused.json()["issue"][0]["diagnostics"]
    chosen = client.post(
        "/placement/census/measure-report",
        json=report,
        headers=FHIR,
        params={"unit": "unit-1067-geri"},
    )
    assert chosen.status_code == 200 and chosen.json()["units"][0]["id"] == "unit-1067-geri"


def test_stale_census_is_flagged_and_ranked_down(client: TestClient, pavilion: Database) -> None:
    twin = json.loads(json.dumps(client.get(f"/fhir/HealthcareService/{UNIT}").json()))
    twin["id"] = "twin-unit"  # same facility and place as UNIT, so only the census differs
    twin.pop("meta")
    with pavilion.unit_of_work() as session:
        ResourceService(session, FHIR_BASE).update("HealthcareService", "twin-unit", twin)
    old = census.instant(time.time() - 9 * 3600)  # older than the default 8 h cadence
    client.put(f"/placement/units/{UNIT}/census", json={"freeBeds": 5, "asOf": old})
    client.put("/placement/units/twin-unit/census", json={"freeBeds": 5})
    found = hits(match(client, latitude=35.2, longitude=-101.9, maxDistance=30.0))
    assert [h["resource"]["id"] for h in found] == ["twin-unit", UNIT]
    assert [ext(h["search"], "match-census-stale") for h in found] == [False, True]
    reasons = [
        e["valueString"] for e in found[1]["search"]["extension"] if e["url"] == p.MATCH_REASON
    ]
    assert any(r.startswith("census stale") for r in reasons)
    assert not any(r.startswith("census fresh") for r in reasons)
    # a longer cadence (the facility's choice) makes the same count fresh again
    assert (
        client.patch(f"/placement/units/{UNIT}/criteria", json={"cadenceMinutes": 720}).status_code
        == 200
    )
    found = hits(match(client, latitude=35.2, longitude=-101.9, maxDistance=30.0))
    assert all(ext(h["search"], "match-census-stale") is False for h in found)


def test_staleness_rule() -> None:
    now = 1_000_000.0
    assert census.is_stale(None, 3600, now)
    assert census.is_stale(directory.Census(3), 3600, now)  # undated
    assert not census.is_stale(directory.Census(3, None, now - 3600), 3600, now)
    assert census.is_stale(directory.Census(3, None, now - 3601), 3600, now)
    assert not census.is_stale(directory.Census(3, None, now + 60), 3600, now)  # clock skew
