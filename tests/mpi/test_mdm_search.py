"""``:mdm``: searching a person's records through the MPI links (``Encounter?patient:mdm=Patient/X``),
transitively, never through links waiting for review or rejected, and still under the sharing rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.mpi.repository import MpiRepository
from gateway.settings import Settings
from tests.conftest import FHIR, bearer


def _link(db: Database, a: str, b: str, status: str = "linked") -> None:
    with db.unit_of_work() as session:
        MpiRepository(session).save_link(a, b, 0.99, status, "manual", by="reviewer")


def _patient(client: TestClient, family: str, headers: dict[str, str] | None = None) -> str:
    body = {"resourceType": "Patient", "name": [{"family": family, "given": ["Sam"]}]}
    response = client.post("/fhir/Patient", json=body, headers=headers or FHIR)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _encounter(client: TestClient, patient: str, headers: dict[str, str] | None = None) -> str:
    body = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "EMER",
        },
        "subject": {"reference": f"Patient/{patient}"},
    }
    response = client.post("/fhir/Encounter", json=body, headers=headers or FHIR)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _ids(client: TestClient, url: str, headers: dict[str, str] | None = None) -> set[str]:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return {e["resource"]["id"] for e in response.json().get("entry", [])}


def test_mdm_follows_links_transitively_and_only_confirmed_ones(
    client: TestClient, db: Database
) -> None:
    police, hospital, authority, stranger, maybe = (
        _patient(client, name) for name in ("Police", "Hospital", "Authority", "Other", "Maybe")
    )
    encounters = {p: _encounter(client, p) for p in (police, hospital, authority, stranger, maybe)}
    _link(db, police, hospital)
    _link(db, hospital, authority)
    _link(db, police, maybe, status="review")
    _link(db, authority, stranger, status="rejected")
    person = {encounters[p] for p in (police, hospital, authority)}

    assert _ids(client, f"/fhir/Encounter?patient:mdm=Patient/{police}") == person
    assert _ids(client, f"/fhir/Encounter?subject:mdm=Patient/{authority}") == person
    assert _ids(client, f"/fhir/Encounter?patient:mdm={hospital}") == person  # a bare id
    # Without the modifier, only the one record's Encounters.
    assert _ids(client, f"/fhir/Encounter?patient=Patient/{police}") == {encounters[police]}
    # Several values are ORed, each with its own links.
    both = _ids(client, f"/fhir/Encounter?patient:mdm=Patient/{police},Patient/{stranger}")
    assert both == person | {encounters[stranger]}
    # The count agrees with the page.
    total = client.get(f"/fhir/Encounter?patient:mdm=Patient/{police}&_summary=count").json()
    assert total["total"] == 3


def test_mdm_on_a_patient_without_links_is_that_patient(client: TestClient) -> None:
    alone = _patient(client, "Alone")
    encounter = _encounter(client, alone)
    assert _ids(client, f"/fhir/Encounter?patient:mdm=Patient/{alone}") == {encounter}
    assert _ids(client, "/fhir/Encounter?patient:mdm=Patient/nobody") == set()


@pytest.mark.parametrize(
    "query",
    [
        "Encounter?patient:mdm=Practitioner/abc",  # not a Patient reference
        "Encounter?patient:mdm=http://elsewhere.example/fhir/Patient/1",  # not on this server
        "Encounter?practitioner:mdm=Practitioner/abc",  # the parameter cannot point at Patients
    ],
)
def test_mdm_misuse_is_a_located_400(client: TestClient, query: str) -> None:
    response = client.get(f"/fhir/{query}", headers={"Prefer": "handling=strict"})
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert ":mdm" in outcome["issue"][0]["expression"][0]


# ---- with the sharing rules on ------------------------------------------------------------------
AGENCIES = {"demo-amarillo-pd": "police", "demo-panhandle-regional": "hospital"}


@pytest.fixture()
def shared(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[TestClient]:
    with db.unit_of_work() as session:
        registry = Registry(session)
        for agency, kind in AGENCIES.items():
            registry.add_agency(agency, kind, agency)
    app = create_app(settings, db=db, keys=keystore, background_workers=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _as(client: TestClient, role: str, agency: str, purpose: str) -> dict[str, Any]:
    return {**FHIR, **bearer(client.app, role=role, agency=agency, purposes=[purpose])}


def _readable(client: TestClient, rtype: str, ids: set[str], headers: dict[str, Any]) -> set[str]:
    return {i for i in ids if client.get(f"/fhir/{rtype}/{i}", headers=headers).status_code == 200}


def test_mdm_results_still_obey_the_sharing_rules(shared: TestClient, db: Database) -> None:
    hospital = _as(shared, "hospital_ehr", "demo-panhandle-regional", "TREAT")
    police = _as(shared, "police_officer", "demo-amarillo-pd", "HLEGAL")
    at_hospital = _patient(shared, "Linked", hospital)
    at_police = _patient(shared, "Linked", police)
    diagnosis = {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{at_hospital}"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F20.9"}]},
    }
    created = shared.post("/fhir/Condition", json=diagnosis, headers=hospital)
    assert created.status_code == 201, created.text
    condition = created.json()["id"]
    encounters = {_encounter(shared, at_hospital, hospital), _encounter(shared, at_police, police)}
    _link(db, at_police, at_hospital)

    # The police may never read the hospital's mental health diagnosis ...
    assert shared.get(f"/fhir/Condition/{condition}", headers=police).status_code == 403
    # ... so following the link from their own record does not show it to them either,
    mdm = f"/fhir/Condition?subject:mdm=Patient/{at_police}"
    assert _ids(shared, mdm, police) == set()
    assert shared.get(mdm, headers=police).json()["total"] == 0
    # while the hospital, which may, finds its diagnosis from the police record through the link.
    assert _ids(shared, mdm, hospital) == {condition}
    # Whatever the caller: what the link finds is exactly what the caller may read.
    for headers in (police, hospital):
        for start in (at_police, at_hospital):
            found = _ids(shared, f"/fhir/Encounter?patient:mdm=Patient/{start}", headers)
            assert found == _readable(shared, "Encounter", encounters, headers)
            assert found, "each caller sees at least its own agency's Encounter"
