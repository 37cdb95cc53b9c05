"""One person across agencies: certain matches linked on ingest, uncertain ones queued for a person,
and ``Patient/$match`` answering with scores."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

from tests.conftest import bearer

FHIR = {"Content-Type": "application/fhir+json"}


def _push(client: TestClient, agency: str, patient: dict[str, Any]) -> str:
    headers = {**FHIR, **bearer(client.app, agency=agency)}
    body = {
        "resourceType": "Bundle",
        "type": "transaction",
        "timestamp": "2026-11-01T10:00:00Z",
        "entry": [
            {"resource": patient, "request": {"method": "PUT", "url": f"Patient/{patient['id']}"}}
        ],
    }
    response = client.post("/ingest/fhir", content=orjson.dumps(body), headers=headers)
    assert response.status_code in (200, 201), response.text
    locations = [e["response"].get("location", "") for e in response.json()["entry"]]
    return next(loc.split("/")[1] for loc in locations if loc.startswith("Patient/"))


def _person(pid: str, family: str = "Okafor", given: str = "Chidi", **kw: Any) -> dict[str, Any]:
    patient = {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": family, "given": [given]}],
        "birthDate": "1987-06-14",
        "gender": "male",
    }
    patient.update(kw)
    return patient


def _links(client: TestClient, pid: str) -> list[str]:
    return [
        link["other"]["reference"]
        for link in client.get(f"/fhir/Patient/{pid}").json().get("link", [])
    ]


def test_shared_driver_licence_links_both_ways(client: TestClient) -> None:
    dl = [{"system": "urn:tx:dl", "value": "40123456", "type": {"coding": [{"code": "DL"}]}}]
    police = _push(client, "amarillo-pd", _person("p1", identifier=dl))
    hospital = _push(client, "panhandle", _person("h1", family="Okafor-Eze", identifier=dl))
    assert _links(client, police) == [f"Patient/{hospital}"]
    assert _links(client, hospital) == [f"Patient/{police}"]
    linked = client.get(f"/fhir/Patient?link=Patient/{police}").json()
    assert [e["resource"]["id"] for e in linked["entry"]] == [hospital]


def test_probable_match_on_demographics_is_linked(client: TestClient) -> None:
    phone = [{"system": "phone", "value": "806-555-0142"}]
    a = _push(
        client,
        "amarillo-pd",
        _person(
            "p2",
            telecom=phone,
            address=[{"line": ["12 Polk St"], "city": "Amarillo", "postalCode": "79101"}],
        ),
    )
    b = _push(
        client,
        "tpc",
        _person(
            "b2",
            family="Okafr",
            telecom=phone,
            address=[{"line": ["12 Polk St"], "city": "Amarillo", "postalCode": "79101"}],
        ),
    )
    assert _links(client, a) == [f"Patient/{b}"]


def test_uncertain_match_waits_for_a_person(client: TestClient) -> None:
    a = _push(client, "amarillo-pd", _person("p3", given="Chidi"))
    b = _push(client, "tpc", _person("b3", given="Chinedu", birthDate="1987-06-14"))
    assert _links(client, a) == []
    admin = bearer(client.app, role="gateway_admin")
    queue = client.get("/mpi/review", headers=admin).json()
    assert len(queue) == 1
    assert set(queue[0]["patients"]) == {f"Patient/{a}", f"Patient/{b}"}
    clinician = bearer(client.app, role="crisis_clinician")
    assert (
        client.post(
            f"/mpi/review/{queue[0]['id']}", json={"decision": "confirm"}, headers=clinician
        ).status_code
        == 403
    )
    decided = client.post(
        f"/mpi/review/{queue[0]['id']}", json={"decision": "confirm"}, headers=admin
    )
    assert decided.status_code == 200, decided.text
    assert _links(client, a) == [f"Patient/{b}"]
    again = client.post(f"/mpi/review/{queue[0]['id']}", json={"decision": "reject"}, headers=admin)
    assert again.status_code == 409
    assert client.get("/mpi/review", headers=admin).json() == []


def test_rejected_candidate_is_not_linked(client: TestClient) -> None:
    a = _push(client, "amarillo-pd", _person("p4", given="Chidi"))
    _push(client, "tpc", _person("b4", given="Chinedu"))
    admin = bearer(client.app, role="gateway_admin")
    (item,) = client.get("/mpi/review", headers=admin).json()
    assert (
        client.post(f"/mpi/review/{item['id']}", json={"decision": "reject"}, headers=admin).json()[
            "status"
        ]
        == "rejected"
    )
    assert _links(client, a) == []


def test_match_operation_scores_candidates(client: TestClient) -> None:
    dl = [{"system": "urn:tx:dl", "value": "40999999", "type": {"coding": [{"code": "DL"}]}}]
    _push(client, "amarillo-pd", _person("p5", identifier=dl))
    _push(
        client,
        "panhandle",
        _person("h5", family="Smith", given="Ann", birthDate="1950-01-01", gender="female"),
    )
    query = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": _person("q", identifier=dl)}],
    }
    bundle = client.post("/fhir/Patient/$match", content=orjson.dumps(query), headers=FHIR).json()
    assert bundle["type"] == "searchset"
    assert len(bundle["entry"]) == 1
    top = bundle["entry"][0]["search"]
    assert top["score"] == 1.0
    assert top["extension"][0]["valueCode"] == "certain"


def test_match_operation_refuses_bad_input(client: TestClient) -> None:
    not_params = client.post(
        "/fhir/Patient/$match", content=orjson.dumps({"resourceType": "Patient"}), headers=FHIR
    )
    assert not_params.status_code == 400
    bad_patient = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": {"resourceType": "Patient", "gender": "xx"}}
        ],
    }
    response = client.post("/fhir/Patient/$match", content=orjson.dumps(bad_patient), headers=FHIR)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Patient.gender"]
