"""Conditional create (If-None-Exist), conditional update and conditional delete (R4 http.html)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx import Response

from tests.fhir.helpers import FHIR, count, create, found, outcome, patient

MRN = "http://hospital.example.org/mrn"


def mrn(value: str, **fields: object) -> dict[str, object]:
    return patient(identifier=[{"system": MRN, "value": value}], **fields)


def post_if_none_exist(client: TestClient, body: dict[str, object], query: str) -> Response:
    return client.post("/fhir/Patient", json=body, headers={**FHIR, "If-None-Exist": query})


def test_if_none_exist_creates_when_nothing_matches(client: TestClient) -> None:
    response = post_if_none_exist(client, mrn("1"), f"identifier={MRN}|1")
    assert response.status_code == 201
    assert count(client, "Patient", f"identifier={MRN}|1") == 1


def test_if_none_exist_returns_the_existing_resource_when_one_matches(client: TestClient) -> None:
    first = create(client, mrn("1", gender="female"))
    again = post_if_none_exist(client, mrn("1", gender="male"), f"identifier={MRN}|1")
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["gender"] == "female"
    assert again.headers["etag"] == 'W/"1"'
    assert count(client, "Patient") == 1


def test_if_none_exist_accepts_the_full_search_url_form(client: TestClient) -> None:
    first = create(client, mrn("1"))
    again = post_if_none_exist(client, mrn("1"), f"Patient?identifier={MRN}|1")
    assert again.status_code == 200 and again.json()["id"] == first["id"]


def test_if_none_exist_matching_several_is_412(client: TestClient) -> None:
    create(client, mrn("1"))
    create(client, mrn("1"))
    response = post_if_none_exist(client, mrn("1"), f"identifier={MRN}|1")
    outcome(response, 412, expression="If-None-Exist")
    assert count(client, "Patient") == 2


def test_if_none_exist_with_an_unknown_parameter_is_400(client: TestClient) -> None:
    response = post_if_none_exist(client, mrn("1"), "favourite-colour=blue")
    outcome(response, 400, expression="If-None-Exist")
    assert count(client, "Patient") == 0


def test_if_none_exist_without_criteria_is_400_not_a_match_of_everything(
    client: TestClient,
) -> None:
    create(client, mrn("1"))
    for query in ("_count=1", "identifier=", ""):
        outcome(post_if_none_exist(client, mrn("2"), query), 400, expression="If-None-Exist")
    assert count(client, "Patient") == 1


def test_conditional_update_creates_when_nothing_matches(client: TestClient) -> None:
    response = client.put(f"/fhir/Patient?identifier={MRN}|9", json=mrn("9"), headers=FHIR)
    assert response.status_code == 201
    rid = response.json()["id"]
    assert found(client, f"Patient?identifier={MRN}|9") == {rid}


def test_conditional_update_with_id_and_no_match_creates_that_id(client: TestClient) -> None:
    body = mrn("9", id="chosen")
    response = client.put(f"/fhir/Patient?identifier={MRN}|9", json=body, headers=FHIR)
    assert response.status_code == 201
    assert client.get("/fhir/Patient/chosen").status_code == 200


def test_conditional_update_updates_the_one_match(client: TestClient) -> None:
    first = create(client, mrn("9", gender="female"))
    response = client.put(
        f"/fhir/Patient?identifier={MRN}|9", json=mrn("9", gender="male"), headers=FHIR
    )
    assert response.status_code == 200
    assert response.json()["id"] == first["id"]
    assert response.headers["etag"] == 'W/"2"'
    assert client.get(f"/fhir/Patient/{first['id']}").json()["gender"] == "male"
    assert count(client, "Patient") == 1


def test_conditional_update_matching_several_is_412(client: TestClient) -> None:
    create(client, mrn("9"))
    create(client, mrn("9"))
    response = client.put(
        f"/fhir/Patient?identifier={MRN}|9", json=mrn("9", gender="male"), headers=FHIR
    )
    outcome(response, 412)
    assert count(client, "Patient", "gender=male") == 0


def test_conditional_update_with_a_different_body_id_is_400(client: TestClient) -> None:
    first = create(client, mrn("9"))
    body = mrn("9", id="someone-else", gender="male")
    response = client.put(f"/fhir/Patient?identifier={MRN}|9", json=body, headers=FHIR)
    outcome(response, 400, expression="Patient.id")
    assert client.get(f"/fhir/Patient/{first['id']}").json().get("gender") is None


def test_conditional_update_honours_if_match(client: TestClient) -> None:
    create(client, mrn("9"))
    stale = client.put(
        f"/fhir/Patient?identifier={MRN}|9",
        json=mrn("9", gender="male"),
        headers={**FHIR, "If-Match": 'W/"4"'},
    )
    outcome(stale, 412)
    assert count(client, "Patient", "gender=male") == 0


def test_conditional_update_needs_criteria(client: TestClient) -> None:
    create(client, mrn("9"))
    outcome(client.put("/fhir/Patient", json=mrn("9"), headers=FHIR), 400, code="required")
    outcome(client.put("/fhir/Patient?bogus=1", json=mrn("9"), headers=FHIR), 400)
    assert count(client, "Patient") == 1


def test_conditional_delete(client: TestClient) -> None:
    keep = create(client, mrn("1"))
    drop = create(client, mrn("2"))
    response = client.delete(f"/fhir/Patient?identifier={MRN}|2")
    assert response.status_code == 204
    assert client.get(f"/fhir/Patient/{drop['id']}").status_code == 410
    assert client.get(f"/fhir/Patient/{keep['id']}").status_code == 200
    assert client.delete(f"/fhir/Patient?identifier={MRN}|2").status_code == 204


def test_conditional_delete_matching_several_is_412_and_deletes_nothing(
    client: TestClient,
) -> None:
    create(client, mrn("1"))
    create(client, mrn("1"))
    outcome(client.delete(f"/fhir/Patient?identifier={MRN}|1"), 412)
    assert count(client, "Patient") == 2
    outcome(client.delete("/fhir/Patient"), 400)
    assert count(client, "Patient") == 2
