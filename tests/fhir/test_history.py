"""Instance, type and system history (FHIR R4 http.html#history)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.fhir.helpers import BASE, PATCH_JSON, create, link, outcome, patient, put


def history(client: TestClient, path: str) -> dict[str, Any]:
    response = client.get(f"/fhir/{path}")
    assert response.status_code == 200, response.text
    bundle: dict[str, Any] = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "history"
    return bundle


def test_instance_history_lists_every_version_newest_first(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    rid = stored["id"]
    put(client, {**stored, "gender": "male"})
    ops = [{"op": "add", "path": "/active", "value": True}]
    client.patch(f"/fhir/Patient/{rid}", json=ops, headers=PATCH_JSON)
    client.delete(f"/fhir/Patient/{rid}")
    bundle = history(client, f"Patient/{rid}/_history")
    assert bundle["total"] == 4
    entries = bundle["entry"]
    assert [e["response"]["etag"] for e in entries] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    assert [e["request"]["method"] for e in entries] == ["DELETE", "PUT", "PUT", "POST"]
    assert entries[-1]["request"]["url"] == "Patient"
    assert entries[0]["request"]["url"] == f"Patient/{rid}"
    assert entries[-1]["response"]["status"].startswith("201")
    assert "resource" not in entries[0]
    assert entries[1]["resource"]["active"] is True
    assert entries[2]["resource"]["gender"] == "male"
    assert entries[3]["resource"]["gender"] == "female"
    assert all(e["fullUrl"] == f"{BASE}/Patient/{rid}" for e in entries)
    assert all("lastModified" in e["response"] for e in entries)


def test_history_of_an_unknown_resource_is_404(client: TestClient) -> None:
    outcome(client.get("/fhir/Patient/nobody/_history"), 404)


def test_type_history_covers_only_that_type(client: TestClient) -> None:
    a = create(client, patient())
    b = create(client, patient())
    put(client, {**a, "gender": "male"})
    create(client, {"resourceType": "Organization", "name": "Mobile Crisis Team"})
    bundle = history(client, "Patient/_history")
    assert bundle["total"] == 3
    seen = [(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in bundle["entry"]]
    assert sorted(seen) == sorted([(a["id"], "1"), (a["id"], "2"), (b["id"], "1")])


def test_system_history_covers_all_types(client: TestClient) -> None:
    create(client, patient())
    create(client, {"resourceType": "Organization", "name": "Mobile Crisis Team"})
    bundle = history(client, "_history")
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Patient", "Organization"}
    assert bundle["total"] == 2


def test_history_pages_with_count_and_next_links(client: TestClient) -> None:
    stored = create(client, patient())
    rid = stored["id"]
    for gender in ("male", "female", "other", "unknown"):
        put(client, {**stored, "gender": gender})
    first = history(client, f"Patient/{rid}/_history?_count=2")
    assert first["total"] == 5 and len(first["entry"]) == 2
    versions = [e["response"]["etag"] for e in first["entry"]]
    url = link(first, "next")
    while url is not None:
        page = history(client, url.removeprefix(BASE + "/"))
        versions += [e["response"]["etag"] for e in page["entry"]]
        url = link(page, "next")
    assert versions == [f'W/"{n}"' for n in (5, 4, 3, 2, 1)]
    last = history(client, f"Patient/{rid}/_history?_count=2&_offset=4")
    assert link(last, "previous") is not None and link(last, "next") is None


def test_history_since_filters_older_versions(client: TestClient) -> None:
    stored = create(client, patient())
    second = put(client, {**stored, "gender": "male"}).json()
    since = second["meta"]["lastUpdated"]
    bundle = history(client, f"Patient/{stored['id']}/_history?_since={since}")
    assert [e["response"]["etag"] for e in bundle["entry"]] == ['W/"2"']
    future = history(client, "Patient/_history?_since=2999-01-01T00:00:00Z")
    assert future["total"] == 0


def test_history_bad_parameters_are_400(client: TestClient) -> None:
    rid = create(client, patient())["id"]
    outcome(client.get(f"/fhir/Patient/{rid}/_history?_since=yesterday"), 400, expression="_since")
    outcome(client.get(f"/fhir/Patient/{rid}/_history?_count=lots"), 400, expression="_count")
    outcome(client.get(f"/fhir/Patient/{rid}/_history?_count=-1"), 400)
    outcome(client.get("/fhir/Spaceship/_history"), 404)
