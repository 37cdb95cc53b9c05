"""``gateway demo`` data: what a person trying the demo finds through the API, on both databases."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.demo import AGENCIES, load_demo, read_facilities
from gateway.demo_records import FACILITY_CSV
from gateway.settings import Settings

HIFLD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "facilities"
TEST_DATA = "http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST"
AMARILLO = (35.222, -101.831)
HOUSTON = (29.760, -95.370)
THE_PAVILION = "hifld-0079979106"  # the psychiatric hospital in Amarillo
FORT_SUPPLY_OK = "hifld-0014473841"  # across the state line, 260 km from Amarillo


def _total(client: TestClient, path: str, **params: str) -> int:
    response = client.get(f"/fhir/{path}", params={**params, "_summary": "count"})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def _ids(client: TestClient, path: str, **params: str) -> list[str]:
    response = client.get(f"/fhir/{path}", params={"_count": "200", **params})
    assert response.status_code == 200, response.text
    return [e["resource"]["id"] for e in response.json().get("entry", [])]


def _near(point: tuple[float, float], km: int) -> str:
    return f"{point[0]}|{point[1]}|{km}|km"


def load_and_check_summary(settings: Settings) -> str:
    """Run the loader; its summary starts by naming the database it wrote to."""
    summary = load_demo(settings)
    assert summary.splitlines()[0].startswith("Demo data in ")
    return summary


def test_demo_loads_the_directory_the_agencies_and_the_people(
    client: TestClient, settings: Settings, db: Database
) -> None:
    summary = load_and_check_summary(settings)
    assert "Patient" in summary and "Organization" in summary

    facilities = read_facilities()
    texas = [row for row in facilities if row["STATE"] == "TX"]
    assert len(texas) == 84
    assert _total(client, "Organization", identifier="urn:hifld:hospital|") == len(facilities)
    assert _total(client, "Organization") == len(facilities) + len(AGENCIES)
    assert _total(client, "Location", **{"address-state": "TX"}) == len(texas)
    assert _total(client, "HealthcareService", organization=f"Organization/{THE_PAVILION}") == 1

    assert _total(client, "Patient", _tag=TEST_DATA) == 10
    patient = client.get("/fhir/Patient/demo-patient-01").json()
    systems = {identifier["system"] for identifier in patient["identifier"]}
    assert len(systems) == 3  # police, hospital and behavioral health authority
    assert _total(client, "Encounter", **{"service-provider": "Organization/demo-amarillo-pd"}) > 0
    assert _total(client, "Encounter", **{"class": "EMER"}) > 0
    assert _total(client, "Condition", code="http://hl7.org/fhir/sid/icd-10-cm|F20.9") == 1
    assert _total(client, "Observation", patient="Patient/demo-patient-01") >= 1
    assert _total(client, "Flag", patient="Patient/demo-patient-01") == 1

    placement = client.get(
        "/fhir/Task",
        params={"code": "fulfill", "intent": "order", "status": "requested", "_include": "*"},
    ).json()
    by_type: dict[str, Any] = {
        e["resource"]["resourceType"]: e["resource"] for e in placement["entry"]
    }
    assert by_type["Task"]["focus"]["reference"] == "ServiceRequest/demo-placement-request-01"
    assert "ServiceRequest" in by_type

    with db.unit_of_work() as session:
        registry = Registry(session)
        registered = {rid: registry.repo.agency(rid) for rid, *_ in AGENCIES}
    assert all(row is not None and row.demo for row in registered.values())


def test_a_second_run_writes_no_new_versions(client: TestClient, settings: Settings) -> None:
    first = load_and_check_summary(settings)
    all_line = next(line for line in first.splitlines() if line.strip().startswith("all "))
    loaded = int(all_line.split()[1])
    before = client.get("/fhir/Patient/demo-patient-01").json()["meta"]
    versions = client.get("/fhir/_history", params={"_count": "1"}).json()["total"]

    second = load_and_check_summary(settings)

    assert f"(0 written, {loaded} unchanged)" in second
    assert any(
        line.startswith("Agencies in the auth registry") and "(0 new)" in line
        for line in second.splitlines()
    )
    history = client.get("/fhir/_history", params={"_count": "1"}).json()
    # the fixed records once each, and the placements played once (their Tasks have versions)
    assert history["total"] == versions > loaded
    assert client.get("/fhir/Patient/demo-patient-01/_history").json()["total"] == 1
    assert client.get("/fhir/Patient/demo-patient-01").json()["meta"] == before


def test_texas_facilities_are_found_near_a_point(client: TestClient, settings: Settings) -> None:
    load_and_check_summary(settings)

    assert _ids(client, "Location", near=_near(AMARILLO, 25)) == [THE_PAVILION]
    assert FORT_SUPPLY_OK in _ids(client, "Location", near=_near(AMARILLO, 300))

    houston = client.get(
        "/fhir/Location",
        params={"near": _near(HOUSTON, 20), "_revinclude": "HealthcareService:location"},
    ).json()
    locations = [e["resource"] for e in houston["entry"] if e["search"]["mode"] == "match"]
    services = [e["resource"] for e in houston["entry"] if e["search"]["mode"] == "include"]
    assert len(locations) >= 5
    assert {loc["address"]["state"] for loc in locations} == {"TX"}
    assert len(services) == len(locations)
    assert all(s["specialty"][0]["coding"][0]["code"] == "394587001" for s in services)


@pytest.mark.skipif(not HIFLD.is_dir(), reason="the shared HIFLD data is not beside the project")
def test_the_fixture_holds_every_open_psychiatric_hospital_in_texas() -> None:
    with (HIFLD / "hifld_hospitals.csv").open(encoding="utf-8-sig", newline="") as handle:
        source = {
            row["ID"]: row
            for row in csv.DictReader(handle)
            if row["TYPE"] == "PSYCHIATRIC" and row["STATUS"] == "OPEN"
        }
    fixture = read_facilities(FACILITY_CSV)
    assert {r["ID"] for r in fixture if r["STATE"] == "TX"} == {
        i for i, r in source.items() if r["STATE"] == "TX"
    }
    for row in fixture:
        assert source[row["ID"]]["NAME"] == row["NAME"]
        assert abs(float(source[row["ID"]]["LATITUDE"]) - float(row["LATITUDE"])) < 1e-5
