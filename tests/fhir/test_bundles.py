"""Batch and transaction Bundles (FHIR R4 http.html#transaction)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from fastapi.testclient import TestClient
from httpx import Response

from tests.fhir.helpers import BASE, FHIR, count, create, found, observation, outcome, patient

MRN = "http://hospital.example.org/mrn"


def bundle(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def entry(
    method: str,
    url: str,
    resource: dict[str, Any] | None = None,
    full_url: str | None = None,
    **req: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"request": {"method": method, "url": url, **req}}
    if resource is not None:
        out["resource"] = resource
    if full_url is not None:
        out["fullUrl"] = full_url
    return out


def post(client: TestClient, body: dict[str, Any]) -> Response:
    return client.post("/fhir", json=body, headers=FHIR)


def ok(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = post(client, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["type"] == f"{body['type']}-response"
    assert len(answer["entry"]) == len(body["entry"])
    return list(answer["entry"])


def rid(result: dict[str, Any]) -> str:
    return str(result["response"]["location"].split("/")[1])


def test_transaction_resolves_urn_uuid_references(client: TestClient) -> None:
    results = ok(
        client,
        bundle(
            entry("POST", "Observation", observation("urn:uuid:aaaa-1"), "urn:uuid:obs-1"),
            entry("POST", "Patient", patient(gender="female"), "urn:uuid:aaaa-1"),
            entry("PUT", "Patient/fixed-id", patient(id="fixed-id"), "urn:uuid:bbbb-2"),
            entry(
                "POST",
                "Encounter",
                {
                    "resourceType": "Encounter",
                    "status": "planned",
                    "class": {"code": "EMER"},
                    "subject": {"reference": "urn:uuid:bbbb-2"},
                },
            ),
        ),
    )
    assert [r["response"]["status"][:3] for r in results] == ["201", "201", "201", "201"]
    obs_id, patient_id = rid(results[0]), rid(results[1])
    assert results[1]["fullUrl"] == f"{BASE}/Patient/{patient_id}"
    assert results[1]["response"]["etag"] == 'W/"1"'
    stored = client.get(f"/fhir/Observation/{obs_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}"
    enc = client.get(f"/fhir/Encounter/{rid(results[3])}").json()
    assert enc["subject"]["reference"] == "Patient/fixed-id"
    assert found(client, f"Observation?patient={patient_id}") == {obs_id}
    history = client.get(f"/fhir/Patient/{patient_id}/_history").json()
    assert history["entry"][0]["request"]["method"] == "POST"


def test_transaction_is_atomic_when_an_entry_is_invalid(client: TestClient) -> None:
    response = post(
        client,
        bundle(
            entry("POST", "Patient", patient(name=[{"family": "Zebediah"}]), "urn:uuid:p"),
            entry("POST", "Observation", observation("urn:uuid:p")),
            entry("POST", "Patient", patient(gender="robot")),
        ),
    )
    outcome(response, 400, expression="Bundle.entry[2].resource.gender", secrets=("Zebediah",))
    assert count(client, "Patient") == 0
    assert count(client, "Observation") == 0
    assert client.get("/fhir/_history").json()["total"] == 0


def test_transaction_with_a_reference_to_a_missing_resource_stores_nothing(
    client: TestClient,
) -> None:
    response = post(
        client,
        bundle(
            entry("POST", "Patient", patient(), "urn:uuid:p"),
            entry("POST", "Observation", observation("Patient/ghost")),
        ),
    )
    issues = outcome(response, 400, code="not-found", expression="Bundle.entry[1].resource.subject")
    assert "Patient/ghost" in issues[0]["diagnostics"]
    assert count(client, "Patient") == 0 and count(client, "Observation") == 0


def test_transaction_with_an_unresolvable_urn_uuid_stores_nothing(client: TestClient) -> None:
    response = post(
        client,
        bundle(
            entry("POST", "Patient", patient()),
            entry("POST", "Observation", observation("urn:uuid:nobody")),
        ),
    )
    outcome(response, 400, code="not-found", expression="Bundle.entry[1].resource.subject")
    assert count(client, "Patient") == 0 and count(client, "Observation") == 0


def test_transaction_fails_whole_on_a_stale_if_match(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    response = post(
        client,
        bundle(
            entry("POST", "Patient", patient()),
            entry("PUT", f"Patient/{stored['id']}", {**stored, "gender": "male"}, ifMatch='W/"3"'),
        ),
    )
    outcome(response, 412)
    assert count(client, "Patient") == 1
    assert client.get(f"/fhir/Patient/{stored['id']}").json()["gender"] == "female"


def test_conditional_create_with_urn_uuid_does_not_duplicate(client: TestClient) -> None:
    def push(value: str) -> list[dict[str, Any]]:
        return ok(
            client,
            bundle(
                entry(
                    "POST",
                    "Patient",
                    patient(identifier=[{"system": MRN, "value": value}]),
                    "urn:uuid:person",
                    ifNoneExist=f"identifier={MRN}|{value}",
                ),
                entry("POST", "Observation", observation("urn:uuid:person")),
            ),
        )

    first = push("M-1")
    second = push("M-1")
    assert first[0]["response"]["status"].startswith("201")
    assert second[0]["response"]["status"].startswith("200")
    assert rid(first[0]) == rid(second[0])
    assert count(client, "Patient") == 1
    pid = rid(first[0])
    assert found(client, f"Observation?patient={pid}") == {rid(first[1]), rid(second[1])}


def test_conditional_create_in_a_transaction_matching_several_is_412(client: TestClient) -> None:
    for _ in range(2):
        create(client, patient(identifier=[{"system": MRN, "value": "dup"}]))
    response = post(
        client,
        bundle(
            entry("POST", "Organization", {"resourceType": "Organization", "name": "X"}),
            entry("POST", "Patient", patient(), "urn:uuid:p", ifNoneExist=f"identifier={MRN}|dup"),
        ),
    )
    outcome(response, 412, expression="Bundle.entry[1].request.ifNoneExist")
    assert count(client, "Organization") == 0


def test_conditional_references_are_resolved_by_search(client: TestClient) -> None:
    pid = create(client, patient(identifier=[{"system": MRN, "value": "C-1"}]))["id"]
    results = ok(
        client, bundle(entry("POST", "Observation", observation(f"Patient?identifier={MRN}|C-1")))
    )
    stored = client.get(f"/fhir/Observation/{rid(results[0])}").json()
    assert stored["subject"]["reference"] == f"Patient/{pid}"
    missing = post(
        client, bundle(entry("POST", "Observation", observation(f"Patient?identifier={MRN}|none")))
    )
    outcome(missing, 400, expression="Bundle.entry[0].resource.subject")
    assert count(client, "Observation") == 1


def test_conditional_update_with_urn_uuid_is_referable(client: TestClient) -> None:
    existing = create(client, patient(identifier=[{"system": MRN, "value": "U-1"}]))["id"]
    results = ok(
        client,
        bundle(
            entry(
                "PUT",
                f"Patient?identifier={MRN}|U-1",
                patient(identifier=[{"system": MRN, "value": "U-1"}], gender="male"),
                "urn:uuid:u",
            ),
            entry("POST", "Observation", observation("urn:uuid:u")),
        ),
    )
    assert results[0]["response"]["status"].startswith("200")
    assert client.get(f"/fhir/Patient/{existing}").json()["gender"] == "male"
    stored = client.get(f"/fhir/Observation/{rid(results[1])}").json()
    assert stored["subject"]["reference"] == f"Patient/{existing}"


def test_entries_run_deletes_first_and_reads_last(client: TestClient) -> None:
    old = create(client, patient(gender="female"))["id"]
    results = ok(
        client,
        bundle(
            entry("GET", f"Patient?_id={old}"),
            entry("POST", "Patient", patient(gender="male"), "urn:uuid:new"),
            entry("DELETE", f"Patient/{old}"),
            entry("GET", "Patient?gender=male"),
        ),
    )
    assert results[2]["response"]["status"].startswith("204")
    assert results[0]["resource"]["total"] == 0  # the delete ran before the read
    assert results[3]["resource"]["total"] == 1
    assert client.get(f"/fhir/Patient/{old}").status_code == 410


def test_one_resource_may_change_only_once_per_transaction(client: TestClient) -> None:
    stored = create(client, patient())
    response = post(
        client,
        bundle(
            entry("PUT", f"Patient/{stored['id']}", {**stored, "gender": "male"}),
            entry("DELETE", f"Patient/{stored['id']}"),
        ),
    )
    outcome(response, 400, expression="Bundle.entry[0].request")
    assert client.get(f"/fhir/Patient/{stored['id']}").json()["meta"]["versionId"] == "1"
    twice = post(
        client,
        bundle(
            entry("POST", "Patient", patient(), "urn:uuid:same"),
            entry("POST", "Patient", patient(), "urn:uuid:same"),
        ),
    )
    outcome(twice, 400, expression="Bundle.entry[1].fullUrl")
    assert count(client, "Patient") == 1


def test_patch_read_and_vread_entries(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    ops = [{"op": "replace", "path": "/gender", "value": "male"}]
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(orjson.dumps(ops)).decode(),
    }
    results = ok(
        client,
        bundle(
            entry("PATCH", f"Patient/{stored['id']}", binary),
            entry("GET", f"Patient/{stored['id']}"),
            entry("GET", f"Patient/{stored['id']}/_history/1"),
        ),
    )
    assert results[0]["response"]["etag"] == 'W/"2"'
    assert results[1]["resource"]["gender"] == "male"
    assert results[2]["resource"]["gender"] == "female"


def test_errors_point_into_the_bundle(client: TestClient) -> None:
    cases = [
        (entry("POST", "Patient", observation()), "Bundle.entry[0].resource.resourceType"),
        (entry("PUT", "Patient/a"), "Bundle.entry[0].resource"),
        (entry("PATCH", "Patient", patient()), "Bundle.entry[0].request.url"),
        (entry("PUT", "Patient/a", patient(id="b")), "Bundle.entry[0].resource.id"),
        (
            entry("POST", "Patient", patient(name=[{"family": "Z", "x": 1}])),
            "Bundle.entry[0].resource.name[0].x",
        ),
        (entry("GET", "Patient?birthdate=soon"), "Bundle.entry[0].request.url"),
        (
            entry("PUT", "Patient/a", patient(id="a"), ifMatch="seven"),
            "Bundle.entry[0].request.ifMatch",
        ),
        ({"resource": patient()}, "Bundle.entry[0].request"),
        (entry("POST", "Patient", patient(), ifNoneExist=5), "Bundle.entry[0].request.ifNoneExist"),
        (
            entry("PUT", "Patient/a", patient(id="a"), ifMatch=["1"]),
            "Bundle.entry[0].request.ifMatch",
        ),
        (entry("FETCH", "Patient"), "Bundle.entry[0].request"),
    ]
    for item, where in cases:
        outcome(post(client, bundle(item)), 400, expression=where)
    assert count(client, "Patient") == 0


def test_batch_entries_succeed_or_fail_on_their_own(client: TestClient) -> None:
    results = ok(
        client,
        bundle(
            entry("POST", "Patient", patient(gender="female")),
            entry("POST", "Patient", patient(gender="robot", name=[{"family": "Zebediah"}])),
            entry("GET", "Patient/nobody"),
            entry("POST", "Observation", observation("Patient/ghost")),
            entry("POST", "Patient", patient(gender="male")),
            kind="batch",
        ),
    )
    statuses = [r["response"]["status"][:3] for r in results]
    assert statuses == ["201", "400", "404", "400", "201"]
    bad = results[1]["response"]["outcome"]
    assert bad["resourceType"] == "OperationOutcome"
    assert bad["issue"][0]["expression"] == ["Bundle.entry[1].resource.gender"]
    assert "Zebediah" not in orjson.dumps(results).decode()
    assert found(client, "Patient?gender=female,male") == {rid(results[0]), rid(results[4])}
    assert count(client, "Observation") == 0


def test_bundle_shape_errors(client: TestClient) -> None:
    outcome(post(client, patient()), 400, expression="resourceType")
    outcome(
        post(client, {"resourceType": "Bundle", "type": "collection"}),
        400,
        expression="Bundle.type",
    )
    outcome(post(client, {"resourceType": "Bundle", "type": "batch", "entry": {}}), 400)
    empty = post(client, {"resourceType": "Bundle", "type": "transaction"})
    assert empty.status_code == 200 and empty.json()["entry"] == []


def test_entry_urls_may_be_absolute_on_this_server(client: TestClient) -> None:
    results = ok(client, bundle(entry("PUT", f"{BASE}/Patient/abs-1", patient(id="abs-1"))))
    assert results[0]["response"]["status"].startswith("201")
    assert client.get("/fhir/Patient/abs-1").status_code == 200
