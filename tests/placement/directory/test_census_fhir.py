"""The census through plain FHIR writes, over real HTTP: what ``$match`` reports follows a PUT of the
unit, a bed Location's operationalStatus and a SANER MeasureReport; the workflow's free-bed counter
follows too; a unit with bad placement extensions and another facility's report are refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement import census, directory, directory_write
from gateway.placement import profiles as p
from gateway.placement.workflow_beds import free_beds
from gateway.settings import Settings
from gateway.sharing.profile import agency_uri
from tests.conftest import bearer
from tests.placement.directory.helpers import FHIR_BASE, ext, hits, params
from tests.support.live import live_server

Resource = dict[str, Any]
ORG, WARD, UNIT = "org-census", "loc-census-ward", "unit-census"
POSITION = (31.3, -92.4)
FHIR = {"Content-Type": "application/fhir+json"}
V2_0116 = "http://terminology.hl7.org/CodeSystem/v2-0116"


class Live:
    """The live gateway, with tokens for the unit's own facility and for a stranger."""

    def __init__(self, app: Any, http: httpx.Client) -> None:
        self.app, self.http = app, http

    def headers(self, agency: str = ORG) -> dict[str, str]:
        token = bearer(self.app, scope="user/*.cruds", role="facility_intake", agency=agency)
        return {**FHIR, **token}

    def put(self, doc: Resource, agency: str = ORG) -> httpx.Response:
        path = f"/fhir/{doc['resourceType']}/{doc['id']}"
        return self.http.put(path, content=orjson.dumps(doc), headers=self.headers(agency))

    def post(self, doc: Resource, agency: str = ORG) -> httpx.Response:
        path = f"/fhir/{doc['resourceType']}"
        return self.http.post(path, content=orjson.dumps(doc), headers=self.headers(agency))

    def free_in_match(self) -> int | None:
        """Free beds ``$match`` reports for the unit; None when it excludes the unit."""
        body = params(
            bedType="AdultPsychiatric",
            latitude=POSITION[0],
            longitude=POSITION[1],
            maxDistance=50,
            count=50,
        )
        response = self.http.post(
            "/fhir/ServiceRequest/$match",
            content=orjson.dumps(body),
            headers={**FHIR, **bearer(self.app)},
        )
        assert response.status_code == 200, response.text
        found = [h for h in hits(response.json()) if h["resource"]["id"] == UNIT]
        return ext(found[0]["search"], "match-free-beds") if found else None

    def unit(self) -> Resource:
        response = self.http.get(f"/fhir/HealthcareService/{UNIT}", headers=self.headers())
        assert response.status_code == 200, response.text
        doc: Resource = response.json()
        return doc


def bed(number: int, status: str) -> Resource:
    return {
        "resourceType": "Location",
        "id": f"bed-census-{number}",
        "name": f"Bed {number}",
        "status": "active",
        "operationalStatus": {"system": V2_0116, "code": status},
        "physicalType": {"coding": [{"code": "bd"}]},
        "partOf": {"reference": f"Location/{WARD}"},
    }


@pytest.fixture()
def unit_db(db: Database) -> Database:
    """The facility's Organization, ward Location and unit, written as the facility's own."""

    def own(doc: Resource) -> Resource:
        return {**doc, "meta": {"source": agency_uri(ORG)}}

    with db.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE, labeller=own)
        svc.update("Organization", ORG, {"resourceType": "Organization", "id": ORG, "name": "H"})
        svc.update(
            "Location",
            WARD,
            {
                "resourceType": "Location",
                "id": WARD,
                "name": "Ward",
                "position": {"latitude": POSITION[0], "longitude": POSITION[1]},
                "managingOrganization": {"reference": f"Organization/{ORG}"},
            },
        )
        svc.update(
            "HealthcareService",
            UNIT,
            {
                "resourceType": "HealthcareService",
                "id": UNIT,
                "providedBy": {"reference": f"Organization/{ORG}"},
                "type": [{"coding": [{"system": p.BED_TYPE_SYSTEM, "code": "AdultPsychiatric"}]}],
                "location": [{"reference": f"Location/{WARD}"}],
            },
        )
    return db


@pytest.fixture()
def live(unit_db: Database, settings: Settings, keystore: KeyStore) -> Iterator[Live]:
    app = create_app(settings, db=unit_db, keys=keystore, background_workers=False)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield Live(app, http)


def counter(db: Database) -> int | None:
    with db.unit_of_work() as session:
        return free_beds(session, UNIT)


def with_census(doc: Resource, free: int, total: int) -> Resource:
    new = census.census_extension(directory.Census(free, total, time.time() - 60, "unit"))
    return directory_write.replace_extensions(doc, {p.CENSUS}, [new])


def test_a_plain_put_of_the_unit_changes_match_and_the_counter(
    live: Live, unit_db: Database
) -> None:
    assert live.free_in_match() is None  # never reported: not offered as having beds
    response = live.put(with_census(live.unit(), 4, 12))
    assert response.status_code == 200, response.text
    assert live.free_in_match() == 4
    assert counter(unit_db) == 4
    assert live.put(with_census(live.unit(), 0, 12)).status_code == 200
    assert live.free_in_match() is None  # no free bed: excluded
    assert counter(unit_db) == 0


def test_bed_locations_written_over_fhir_recount_the_unit(live: Live, unit_db: Database) -> None:
    for number, status in ((1, "U"), (2, "U"), (3, "O"), (4, "U")):
        response = live.put(bed(number, status))
        assert response.status_code in (200, 201), response.text
    assert live.free_in_match() == 3
    assert counter(unit_db) == 3
    taken = live.put(bed(1, "O"))  # a bed is occupied: its operationalStatus changes
    assert taken.status_code == 200, taken.text
    assert live.free_in_match() == 2
    assert directory.read_criteria(live.unit()).census.total == 4  # type: ignore[union-attr]


def test_a_saner_measure_report_posted_over_fhir_sets_the_census(
    live: Live, unit_db: Database
) -> None:
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
                    {"code": {"coding": [{"code": "numBedsOcc"}]}, "count": 14},
                ],
            }
        ],
    }
    stranger = live.post(report, agency="org-someone-else")
    assert stranger.status_code == 403, stranger.text
    assert stranger.json()["resourceType"] == "OperationOutcome"
    assert live.free_in_match() is None  # the refused report changed nothing
    response = live.post(report)
    assert response.status_code == 201, response.text
    assert live.free_in_match() == 6
    assert counter(unit_db) == 6


def test_a_measure_report_about_something_else_is_stored_as_it_is(live: Live) -> None:
    report = {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": "http://example.org/Measure/other",
        "period": {"start": "2025-01-01", "end": "2025-01-02"},
    }
    response = live.post(report)
    assert response.status_code == 201, response.text


def test_a_unit_with_a_bad_placement_extension_is_refused_with_its_location(live: Live) -> None:
    doc = live.unit()
    doc["extension"] = [{"url": p.PAYER_ACCEPTED, "valueCode": "barter"}]
    response = live.put(doc)
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] and "barter" not in issue["expression"][0]
    assert directory.read_criteria(live.unit()).payers is None  # nothing stored
