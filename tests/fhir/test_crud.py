"""read, vread, create, update (incl. update-as-create), delete (FHIR R4 http.html)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from fastapi.testclient import TestClient

from tests.fhir.helpers import (
    BASE,
    FHIR,
    count,
    create,
    found,
    observation,
    outcome,
    patient,
    put,
)


def test_create_answers_201_with_id_meta_and_headers(client: TestClient) -> None:
    response = client.post(
        "/fhir/Patient", json=patient(gender="female", birthDate="1990-02-03"), headers=FHIR
    )
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    rid = body["id"]
    assert body["meta"]["versionId"] == "1"
    assert body["gender"] == "female" and body["birthDate"] == "1990-02-03"
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"] == f"{BASE}/Patient/{rid}/_history/1"
    modified = parsedate_to_datetime(response.headers["last-modified"])
    assert modified.isoformat()[:19] == body["meta"]["lastUpdated"][:19]


def test_create_ignores_client_id_and_server_meta_but_keeps_tags(client: TestClient) -> None:
    tag = {"system": "http://example.org/tags", "code": "pilot"}
    sent = patient(
        id="chosen-by-client",
        meta={"versionId": "7", "lastUpdated": "2001-01-01T00:00:00Z", "tag": [tag]},
    )
    body = create(client, sent)
    assert body["id"] != "chosen-by-client"
    assert body["meta"]["versionId"] == "1"
    assert not body["meta"]["lastUpdated"].startswith("2001")
    assert body["meta"]["tag"] == [tag]
    assert client.get("/fhir/Patient/chosen-by-client").status_code == 404


def test_read_returns_what_was_stored(client: TestClient) -> None:
    stored = create(client, patient(name=[{"family": "Okafor", "given": ["Ada"]}]))
    response = client.get(f"/fhir/Patient/{stored['id']}")
    assert response.status_code == 200
    assert response.json() == stored
    assert response.headers["etag"] == 'W/"1"'
    assert "last-modified" in response.headers


def test_read_unknown_id_is_404(client: TestClient) -> None:
    outcome(client.get("/fhir/Patient/no-such-patient"), 404, code="not-found")


def test_unsupported_resource_type_is_404_not_supported(client: TestClient) -> None:
    outcome(client.get("/fhir/Spaceship/1"), 404, code="not-supported")
    outcome(client.get("/fhir/Spaceship"), 404, code="not-supported")
    outcome(client.post("/fhir/Spaceship", json={"resourceType": "Spaceship"}, headers=FHIR), 404)


def test_update_makes_version_2(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    changed = {**stored, "gender": "male"}
    response = put(client, changed)
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'
    assert response.json()["meta"]["versionId"] == "2"
    read = client.get(f"/fhir/Patient/{stored['id']}").json()
    assert read["gender"] == "male" and read["meta"]["versionId"] == "2"


def test_update_as_create_with_client_id(client: TestClient) -> None:
    response = put(client, patient(id="mrn-000123", gender="other"))
    assert response.status_code == 201
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"] == f"{BASE}/Patient/mrn-000123/_history/1"
    assert client.get("/fhir/Patient/mrn-000123").json()["gender"] == "other"
    assert found(client, "Patient?_id=mrn-000123") == {"mrn-000123"}


def test_update_with_unchanged_content_keeps_the_version(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    response = put(client, stored)
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'
    history = client.get(f"/fhir/Patient/{stored['id']}/_history").json()
    assert history["total"] == 1


def test_update_refuses_a_malformed_id(client: TestClient) -> None:
    body = patient(id="has space")
    response = client.put("/fhir/Patient/has space", json=body, headers=FHIR)
    outcome(response, 400, expression="id")
    too_long = "x" * 65
    outcome(put(client, patient(id=too_long)), 400, expression="id")


def test_delete_then_read_is_410_gone(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    rid = stored["id"]
    response = client.delete(f"/fhir/Patient/{rid}")
    assert response.status_code == 204
    assert response.headers["etag"] == 'W/"2"'
    assert response.content == b""
    gone = client.get(f"/fhir/Patient/{rid}")
    outcome(gone, 410, code="deleted")
    assert gone.headers["etag"] == 'W/"2"'
    assert rid not in found(client, "Patient")
    assert count(client, "Patient", f"_id={rid}") == 0
    # the old version stays readable
    assert client.get(f"/fhir/Patient/{rid}/_history/1").json()["gender"] == "female"


def test_delete_is_idempotent_and_unknown_ids_are_fine(client: TestClient) -> None:
    rid = create(client, patient())["id"]
    assert client.delete(f"/fhir/Patient/{rid}").status_code == 204
    again = client.delete(f"/fhir/Patient/{rid}")
    assert again.status_code == 204
    assert client.get(f"/fhir/Patient/{rid}/_history").json()["total"] == 2
    assert client.delete("/fhir/Patient/never-existed").status_code == 204


def test_update_after_delete_recreates_with_next_version(client: TestClient) -> None:
    rid = create(client, patient(gender="female"))["id"]
    client.delete(f"/fhir/Patient/{rid}")
    response = put(client, patient(id=rid, gender="male"))
    assert response.status_code == 201
    assert response.headers["etag"] == 'W/"3"'
    assert client.get(f"/fhir/Patient/{rid}").json()["gender"] == "male"


def test_delete_is_refused_while_referenced(client: TestClient) -> None:
    pid = create(client, patient())["id"]
    oid = create(client, observation(f"Patient/{pid}"))["id"]
    issues = outcome(client.delete(f"/fhir/Patient/{pid}"), 409, code="conflict")
    assert f"Observation/{oid}" in issues[0]["diagnostics"]
    assert client.get(f"/fhir/Patient/{pid}").status_code == 200
    assert client.delete(f"/fhir/Observation/{oid}").status_code == 204
    assert client.delete(f"/fhir/Patient/{pid}").status_code == 204


def test_prefer_return_minimal_and_representation(client: TestClient) -> None:
    minimal = client.post(
        "/fhir/Patient", json=patient(), headers={**FHIR, "Prefer": "return=minimal"}
    )
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert minimal.headers["location"].startswith(f"{BASE}/Patient/")
    assert minimal.headers["etag"] == 'W/"1"'
    full = client.post(
        "/fhir/Patient", json=patient(), headers={**FHIR, "Prefer": "return=representation"}
    )
    assert full.status_code == 201 and full.json()["resourceType"] == "Patient"


def test_if_none_match_on_read_gives_304(client: TestClient) -> None:
    rid = create(client, patient())["id"]
    same = client.get(f"/fhir/Patient/{rid}", headers={"If-None-Match": 'W/"1"'})
    assert same.status_code == 304
    assert same.content == b""
    stale = client.get(f"/fhir/Patient/{rid}", headers={"If-None-Match": 'W/"0"'})
    assert stale.status_code == 200


def test_references_must_resolve(client: TestClient) -> None:
    response = client.post("/fhir/Observation", json=observation("Patient/ghost"), headers=FHIR)
    outcome(response, 400, code="not-found", expression="Observation.subject")
    assert count(client, "Observation") == 0


def test_reference_by_absolute_url_to_this_server_is_checked_and_searchable(
    client: TestClient,
) -> None:
    pid = create(client, patient())["id"]
    oid = create(client, observation(f"{BASE}/Patient/{pid}"))["id"]
    assert found(client, f"Observation?subject=Patient/{pid}") == {oid}
    missing = observation(f"{BASE}/Patient/ghost")
    outcome(client.post("/fhir/Observation", json=missing, headers=FHIR), 400, code="not-found")


def test_external_and_contained_references_are_stored_as_sent(client: TestClient) -> None:
    external = "https://other.example.org/fhir/Patient/77"
    oid = create(client, observation(external))["id"]
    assert client.get(f"/fhir/Observation/{oid}").json()["subject"]["reference"] == external
    assert found(client, f"Observation?subject={external}") == {oid}


def test_conditional_reference_is_refused_outside_a_transaction(client: TestClient) -> None:
    body = observation("Patient?identifier=http://example.org/mrn|1")
    response = client.post("/fhir/Observation", json=body, headers=FHIR)
    outcome(response, 400, expression="Observation.subject")
    assert count(client, "Observation") == 0


def test_read_and_write_other_supported_types(client: TestClient) -> None:
    org = create(client, {"resourceType": "Organization", "name": "County Crisis Line"})
    loc = create(
        client,
        {
            "resourceType": "Location",
            "name": "Unit 4B",
            "managingOrganization": {"reference": f"Organization/{org['id']}"},
        },
    )
    task = create(
        client,
        {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "owner": {"reference": f"Organization/{org['id']}"},
            "location": {"reference": f"Location/{loc['id']}"},
        },
    )
    assert client.get(f"/fhir/Task/{task['id']}").json()["owner"]["reference"] == (
        f"Organization/{org['id']}"
    )
