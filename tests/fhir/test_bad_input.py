"""Bad input gets a 4xx OperationOutcome saying what and where: never a 500, a trace or a partial write."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from gateway.db.session import Database
from gateway.settings import Settings
from tests.fhir.conftest import app_client
from tests.fhir.helpers import FHIR, count, create, outcome, patient, put

NAME = "Zebediah"  # patient data that must never come back in an error


def post_raw(
    client: TestClient,
    body: bytes,
    ctype: str = "application/fhir+json",
    path: str = "/fhir/Patient",
) -> Response:
    return client.post(path, content=body, headers={"Content-Type": ctype})


@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceType": "Patient", "name": [{"family": "Zebediah"}',
        b"{'resourceType': 'Patient'}",
        b'{"resourceType": "Patient",}',
        b"\xff\xfe{}",
        b"[" * 2000 + b"]" * 2000,
        b"NaN",
    ],
)
def test_malformed_json_is_400_structure(client: TestClient, body: bytes) -> None:
    outcome(post_raw(client, body), 400, expression="$", secrets=(NAME,))
    assert count(client, "Patient") == 0


def test_empty_and_non_object_bodies(client: TestClient) -> None:
    outcome(post_raw(client, b""), 400, code="required", expression="$")
    outcome(post_raw(client, b"   "), 400, code="required")
    for body in (b"[]", b'"Patient"', b"42", b"null", b"true"):
        outcome(post_raw(client, body), 400, expression="$")
    assert count(client, "Patient") == 0


def test_wrong_resource_type_for_the_url(client: TestClient) -> None:
    body = {"resourceType": "Practitioner", "name": [{"family": NAME}]}
    outcome(
        client.post("/fhir/Patient", json=body, headers=FHIR),
        400,
        expression="resourceType",
        secrets=(NAME,),
    )
    outcome(
        client.post("/fhir/Patient", json={"gender": "male"}, headers=FHIR),
        400,
        expression="resourceType",
    )
    outcome(
        client.put("/fhir/Patient/x", json={**body, "id": "x"}, headers=FHIR),
        400,
        expression="resourceType",
    )
    assert count(client, "Patient") == 0 and count(client, "Practitioner") == 0


def test_id_mismatch_and_missing_id_on_update(client: TestClient) -> None:
    body = patient(id="other", name=[{"family": NAME}])
    outcome(
        client.put("/fhir/Patient/mine", json=body, headers=FHIR),
        400,
        expression="Patient.id",
        secrets=(NAME,),
    )
    no_id = patient(name=[{"family": NAME}])
    outcome(
        client.put("/fhir/Patient/mine", json=no_id, headers=FHIR), 400, expression="Patient.id"
    )
    assert client.get("/fhir/Patient/mine").status_code == 404
    assert client.get("/fhir/Patient/other").status_code == 404


@pytest.mark.parametrize(
    "fields, where, code",
    [
        ({"gender": "robot"}, "Patient.gender", "code-invalid"),
        (
            {"telecom": [{"system": "pigeon", "value": "x"}]},
            "Patient.telecom[0].system",
            "code-invalid",
        ),
        ({"birthDate": "1980-02-30"}, "Patient.birthDate", "value"),
        ({"birthDate": "01/02/1980"}, "Patient.birthDate", "value"),
        ({"deceasedDateTime": "2020-01-01T10:00:00"}, "Patient.deceasedDateTime", "value"),
        ({"active": "yes"}, "Patient.active", "value"),
        ({"active": 1}, "Patient.active", "value"),
        ({"multipleBirthInteger": "3"}, "Patient.multipleBirthInteger", "value"),
        ({"multipleBirthInteger": 3.5}, "Patient.multipleBirthInteger", None),
        (
            {"contained": [{"resourceType": "Practitioner", "id": "p1", "active": "true"}]},
            "Patient.contained[0].active",
            "value",
        ),
        (
            {"_gender": {"extension": [{"url": "http://x.org/e", "valueBoolean": "no"}]}},
            "Patient._gender.extension[0].valueBoolean",
            "value",
        ),
        ({"name": [{"family": NAME, "nickname": "Z"}]}, "Patient.name[0].nickname", "structure"),
        ({"shoeSize": 9}, "Patient.shoeSize", "structure"),
        ({"name": [{"family": ["Zebediah"]}]}, "Patient.name[0].family", "value"),
        ({"gender": None}, "Patient.gender", "structure"),
        ({"name": []}, "Patient.name", "structure"),
        ({"name": [{}]}, "Patient.name[0]", "structure"),
        ({"name": [{"given": [None]}]}, "Patient.name[0].given[0]", "structure"),
        ({"name": [{"family": ""}]}, "Patient.name[0].family", "value"),
        ({"name": [{"family": "Zebediah\u0000"}]}, "Patient.name[0].family", "value"),
        ({"multipleBirthInteger": 10**30}, "Patient.multipleBirthInteger", None),
        (
            {"managingOrganization": {"reference": "Organization/ghost"}},
            "Patient.managingOrganization",
            "not-found",
        ),
        (
            {"managingOrganization": {"reference": "Organization/bad id!"}},
            "Patient.managingOrganization",
            None,
        ),
        (
            {"managingOrganization": {"reference": "Spaceship/1"}},
            "Patient.managingOrganization",
            None,
        ),
    ],
)
def test_invalid_content_names_the_element(
    client: TestClient, fields: dict[str, object], where: str, code: str | None
) -> None:
    body = patient(**{"name": [{"family": NAME}], **fields})
    response = client.post("/fhir/Patient", json=body, headers=FHIR)
    outcome(response, 400, expression=where, code=code, secrets=(NAME,))
    assert count(client, "Patient") == 0


def test_every_problem_is_reported_at_once(client: TestClient) -> None:
    body = patient(gender="robot", birthDate="yesterday", shoeSize=9)
    issues = outcome(client.post("/fhir/Patient", json=body, headers=FHIR), 400)
    where = {e for i in issues for e in i.get("expression", [])}
    assert {"Patient.birthDate", "Patient.shoeSize"} <= where


def test_primitive_extension_alignment_is_allowed(client: TestClient) -> None:
    ext = {"extension": [{"url": "http://example.org/why", "valueString": "asked"}]}
    body = patient(name=[{"given": ["A", None], "_given": [None, ext]}])
    response = client.post("/fhir/Patient", json=body, headers=FHIR)
    assert response.status_code == 201, response.text


def test_invalid_update_leaves_the_stored_version_alone(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    outcome(
        put(client, {**stored, "gender": "robot", "name": [{"family": NAME}]}), 400, secrets=(NAME,)
    )
    current = client.get(f"/fhir/Patient/{stored['id']}").json()
    assert current["meta"]["versionId"] == "1" and current["gender"] == "female"


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/xml", "application/fhir+xml", "multipart/form-data", ""]
)
def test_unsupported_media_types_are_415(client: TestClient, ctype: str) -> None:
    body = b'{"resourceType": "Patient"}'
    headers = {"Content-Type": ctype} if ctype else {}
    outcome(
        client.post("/fhir/Patient", content=body, headers=headers), 415, expression="Content-Type"
    )
    outcome(client.put("/fhir/Patient/a", content=body, headers=headers), 415)
    outcome(client.post("/fhir", content=body, headers=headers), 415)
    assert count(client, "Patient") == 0


def test_json_media_type_parameters_are_accepted(client: TestClient) -> None:
    body = b'{"resourceType": "Patient"}'
    for ctype in (
        "application/json",
        "application/fhir+json; fhirVersion=4.0",
        "Application/FHIR+JSON",
    ):
        assert post_raw(client, body, ctype).status_code == 201, ctype


@pytest.fixture()
def small(db: Database, settings: Settings) -> Iterator[TestClient]:
    with app_client(db, settings, max_body_bytes=200) as client:
        yield client


def test_oversize_bodies_are_413_with_content_length(small: TestClient) -> None:
    body = patient(name=[{"family": NAME, "given": ["x" * 300]}])
    response = small.post("/fhir/Patient", json=body, headers=FHIR)
    issues = outcome(response, 413, code="too-costly", secrets=(NAME,))
    assert "200 bytes" in issues[0]["diagnostics"]
    assert small.get("/fhir/Patient?_summary=count").json()["total"] == 0
    assert small.post("/fhir/Patient", json=patient(), headers=FHIR).status_code == 201


def test_oversize_bodies_are_413_when_streamed_without_length(small: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"resourceType": "Patient", "name": [{"family": "Zebediah", "given": ["'
        for _ in range(10):
            yield b"x" * 50
        yield b'"]}]}'

    response = small.post("/fhir/Patient", content=chunks(), headers=FHIR)
    outcome(response, 413, code="too-costly", secrets=(NAME,))
    assert small.get("/fhir/Patient?_summary=count").json()["total"] == 0


def test_oversize_transaction_is_413(small: TestClient) -> None:
    body = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "request": {"method": "POST", "url": "Patient"},
                "resource": patient(
                    text={"status": "empty", "div": "<div>" + "x" * 300 + "</div>"}
                ),
            }
        ],
    }
    outcome(small.post("/fhir", json=body, headers=FHIR), 413)


def test_unknown_routes_and_methods_are_outcomes(client: TestClient) -> None:
    outcome(client.get("/fhir/Patient/a/b/c/d"), 404)
    outcome(client.delete("/fhir/Patient/a/_history/1"), 405)


def test_garbage_never_causes_a_500(client: TestClient) -> None:
    weird = [
        ("GET", "/fhir/Patient?birthdate=9999-12-31T23:59:59%2B14:00"),
        ("GET", "/fhir/Patient?birthdate=0001-01-01T00:00:00-14:00"),
        ("GET", "/fhir/Patient?birthdate=9999-12"),
        ("GET", "/fhir/Patient?birthdate=2024-01-01T10:00:00%2B25:00"),
        ("GET", "/fhir/Patient?_count=99999999999999999999"),
        ("GET", "/fhir/Patient?_offset=99999999999999999999"),
        ("GET", "/fhir/Patient?_sort=-"),
        ("GET", "/fhir/Patient?_include=:::"),
        ("GET", "/fhir/Patient?_id=" + "x" * 5000),
        ("GET", "/fhir/Patient/" + "x" * 300),
        ("GET", "/fhir/Patient/x/_history/99999999999999999999"),
        ("GET", "/fhir/Observation?value-quantity=1e308"),
        ("GET", "/fhir/Observation?value-quantity=-1e-400"),
        ("GET", "/fhir/Location?near=91|181|1e308|km"),
        ("GET", "/fhir/Observation?subject=Patient/"),
        ("GET", "/fhir/Observation?subject=/"),
        ("GET", "/fhir/Observation?subject=http://"),
        ("GET", "/fhir/Patient?identifier=%00"),
        ("GET", "/fhir/Patient/%00"),
        ("GET", "/fhir/Patient/%00/_history"),
        ("DELETE", "/fhir/Patient/%00"),
        ("GET", "/fhir/_history?_since=9999-12"),
        ("POST", "/fhir/Patient/_search"),
    ]
    for method, url in weird:
        response = client.request(method, url)
        assert response.status_code < 500, (url, response.text)
        if response.status_code != 204:
            assert response.json()["resourceType"] in ("Bundle", "OperationOutcome")
