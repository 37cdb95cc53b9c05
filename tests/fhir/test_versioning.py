"""meta.versionId, meta.lastUpdated, ETag, Last-Modified and If-Match (FHIR R4 http.html#versioning)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest
from fastapi.testclient import TestClient

from tests.fhir.helpers import FHIR, PATCH_JSON, create, outcome, patient, put


def test_every_write_advances_version_and_last_updated(client: TestClient) -> None:
    first = create(client, patient(gender="female"))
    rid = first["id"]
    second = put(client, {**first, "gender": "male"}).json()
    ops = [{"op": "add", "path": "/birthDate", "value": "1970-01-01"}]
    third = client.patch(f"/fhir/Patient/{rid}", json=ops, headers=PATCH_JSON).json()
    assert [r["meta"]["versionId"] for r in (first, second, third)] == ["1", "2", "3"]
    stamps = [r["meta"]["lastUpdated"] for r in (first, second, third)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    deleted = client.delete(f"/fhir/Patient/{rid}")
    assert deleted.headers["etag"] == 'W/"4"'


def test_etag_and_last_modified_match_meta(client: TestClient) -> None:
    stored = create(client, patient())
    response = client.get(f"/fhir/Patient/{stored['id']}")
    body = response.json()
    assert response.headers["etag"] == f'W/"{body["meta"]["versionId"]}"'
    modified = parsedate_to_datetime(response.headers["last-modified"])
    assert modified.strftime("%Y-%m-%dT%H:%M:%S") == body["meta"]["lastUpdated"][:19]
    assert body["meta"]["lastUpdated"].endswith("Z")


@pytest.mark.parametrize("tag", ['W/"1"', '"1"', ' W/"1" '])
def test_if_match_with_the_current_version_succeeds(client: TestClient, tag: str) -> None:
    stored = create(client, patient(gender="female"))
    response = put(client, {**stored, "gender": "male"}, **{"If-Match": tag})
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'


def test_if_match_with_a_stale_version_is_412_and_changes_nothing(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    put(client, {**stored, "gender": "male"})
    stale = put(client, {**stored, "gender": "other"}, **{"If-Match": 'W/"1"'})
    issues = outcome(stale, 412, code="conflict")
    assert "version 2" in issues[0]["diagnostics"]
    assert stale.headers["etag"] == 'W/"2"'
    current = client.get(f"/fhir/Patient/{stored['id']}").json()
    assert current["gender"] == "male" and current["meta"]["versionId"] == "2"


def test_if_match_on_patch_and_a_stale_patch_changes_nothing(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    ops = [{"op": "replace", "path": "/gender", "value": "male"}]
    url = f"/fhir/Patient/{stored['id']}"
    ok = client.patch(url, json=ops, headers={**PATCH_JSON, "If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == 'W/"2"'
    ops = [{"op": "replace", "path": "/gender", "value": "other"}]
    outcome(client.patch(url, json=ops, headers={**PATCH_JSON, "If-Match": 'W/"1"'}), 412)
    assert client.get(url).json()["gender"] == "male"


def test_if_match_on_a_resource_that_does_not_exist_is_412(client: TestClient) -> None:
    response = put(client, patient(id="not-yet"), **{"If-Match": 'W/"1"'})
    outcome(response, 412)
    assert client.get("/fhir/Patient/not-yet").status_code == 404


@pytest.mark.parametrize("tag", ["abc", 'W/"x"', ""])
def test_malformed_if_match_is_400(client: TestClient, tag: str) -> None:
    stored = create(client, patient())
    response = put(client, {**stored, "gender": "male"}, **{"If-Match": tag})
    outcome(response, 400, expression="If-Match")
    assert client.get(f"/fhir/Patient/{stored['id']}").json().get("gender") is None


def test_vread_serves_each_version_with_its_etag(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    rid = stored["id"]
    put(client, {**stored, "gender": "male"})
    v1 = client.get(f"/fhir/Patient/{rid}/_history/1")
    v2 = client.get(f"/fhir/Patient/{rid}/_history/2")
    assert (v1.status_code, v2.status_code) == (200, 200)
    assert v1.json()["gender"] == "female" and v1.headers["etag"] == 'W/"1"'
    assert v2.json()["gender"] == "male" and v2.headers["etag"] == 'W/"2"'
    assert v1.json()["meta"]["versionId"] == "1"


def test_vread_errors(client: TestClient) -> None:
    rid = create(client, patient())["id"]
    outcome(client.get(f"/fhir/Patient/{rid}/_history/9"), 404, code="not-found")
    outcome(client.get(f"/fhir/Patient/{rid}/_history/one"), 400, expression="vid")
    outcome(client.get("/fhir/Patient/nobody/_history/1"), 404)
    client.delete(f"/fhir/Patient/{rid}")
    outcome(client.get(f"/fhir/Patient/{rid}/_history/2"), 410, code="deleted")
    assert client.get(f"/fhir/Patient/{rid}/_history/1").status_code == 200


def test_reading_a_deleted_resource_is_410_and_patch_too(client: TestClient) -> None:
    rid = create(client, patient())["id"]
    client.delete(f"/fhir/Patient/{rid}")
    outcome(client.get(f"/fhir/Patient/{rid}"), 410, code="deleted")
    ops = [{"op": "add", "path": "/gender", "value": "male"}]
    outcome(client.patch(f"/fhir/Patient/{rid}", json=ops, headers=PATCH_JSON), 410)


def test_location_and_etag_on_update_as_create_and_plain_update(client: TestClient) -> None:
    created = client.put("/fhir/Patient/p-77", json=patient(id="p-77"), headers=FHIR)
    assert created.status_code == 201
    assert created.headers["location"].endswith("/fhir/Patient/p-77/_history/1")
    updated = put(client, patient(id="p-77", gender="male"))
    assert updated.status_code == 200
    assert updated.headers["etag"] == 'W/"2"'
    assert "last-modified" in updated.headers
