"""The FHIR API over a real socket: what an agency system sees from a running gateway."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.server import MAX_BODY_BYTES, Gateway

pytestmark = pytest.mark.e2e

FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def _outcome(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/fhir+json"), response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return body


def test_create_read_update_and_search(api: httpx.Client) -> None:
    family = f"Roundtrip{uuid.uuid4().hex[:8]}"
    patient = {"resourceType": "Patient", "name": [{"family": family, "given": ["Ada"]}]}

    created = api.post("/Patient", json=patient, headers=FHIR)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == 'W/"1"'
    rid = created.json()["id"]
    assert created.headers["location"].endswith(f"Patient/{rid}/_history/1")

    read = api.get(f"/Patient/{rid}")
    assert read.status_code == 200
    assert read.json()["name"][0]["family"] == family
    assert api.get(f"/Patient/{rid}", headers={"If-None-Match": 'W/"1"'}).status_code == 304

    updated = api.put(
        f"/Patient/{rid}",
        json={**read.json(), "gender": "female"},
        headers={**FHIR, "If-Match": 'W/"1"'},
    )
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == 'W/"2"'
    stale = api.put(
        f"/Patient/{rid}",
        json={**read.json(), "gender": "male"},
        headers={**FHIR, "If-Match": 'W/"1"'},
    )
    assert stale.status_code == 412
    _outcome(stale)

    found = api.get("/Patient", params={"family": family, "gender": "female"}).json()
    assert found["resourceType"] == "Bundle" and found["type"] == "searchset"
    assert found["total"] == 1
    assert found["entry"][0]["resource"]["id"] == rid
    assert api.get(f"/Patient/{rid}/_history").json()["total"] == 2


def test_paging_links_use_the_public_base_url(api: httpx.Client, gateway: Gateway) -> None:
    family = f"Paged{uuid.uuid4().hex[:8]}"
    for given in ("A", "B", "C"):
        patient = {"resourceType": "Patient", "name": [{"family": family, "given": [given]}]}
        assert api.post("/Patient", json=patient, headers=FHIR).status_code == 201

    seen: list[str] = []
    page = api.get("/Patient", params={"family": family, "_count": "2", "_sort": "given"}).json()
    while True:
        seen += [e["resource"]["name"][0]["given"][0] for e in page.get("entry", [])]
        links = {link["relation"]: link["url"] for link in page["link"]}
        if "next" not in links:
            break
        assert links["next"].startswith(f"{gateway.fhir}/Patient?")
        assert "_offset=2" in links["next"]
        page = api.get(links["next"]).json()
    assert seen == ["A", "B", "C"]


def test_conditional_create_is_idempotent(api: httpx.Client) -> None:
    value = uuid.uuid4().hex
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:e2e:mrn", "value": value}]}
    condition = {"If-None-Exist": f"identifier=urn:e2e:mrn|{value}"}
    first = api.post("/Patient", json=patient, headers={**FHIR, **condition})
    second = api.post("/Patient", json=patient, headers={**FHIR, **condition})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


def test_transaction_round_trip(api: httpx.Client) -> None:
    value = uuid.uuid4().hex
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "EMER",
                    },
                    "subject": {"reference": patient_url},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "fullUrl": patient_url,
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:e2e:mrn", "value": value}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    response = api.post("", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created"] * 2
    patient_id = result["entry"][1]["response"]["location"].split("/")[1]

    found = api.get(
        "/Encounter",
        params={"subject": f"Patient/{patient_id}", "_include": "Encounter:subject"},
    ).json()
    modes = sorted((e["resource"]["resourceType"], e["search"]["mode"]) for e in found["entry"])
    assert modes == [("Encounter", "match"), ("Patient", "include")]


def test_a_failed_transaction_leaves_nothing(api: httpx.Client) -> None:
    value = uuid.uuid4().hex
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:e2e:mrn", "value": value}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "heart rate"},
                    "subject": {"reference": "Patient/does-not-exist"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = api.post("", json=bundle, headers=FHIR)
    assert response.status_code == 400
    issue = _outcome(response)["issue"][0]
    assert issue["code"] == "not-found" and "Patient/does-not-exist" in issue["diagnostics"]
    assert api.get("/Patient", params={"identifier": f"urn:e2e:mrn|{value}"}).json()["total"] == 0


def test_unknown_paths_answer_with_an_operation_outcome(
    api: httpx.Client, gateway: Gateway
) -> None:
    nowhere = httpx.get(f"{gateway.base_url}/no/such/path", timeout=10.0)
    assert nowhere.status_code == 404
    assert _outcome(nowhere)["issue"][0]["code"] == "not-found"

    missing = api.get("/Patient/no-such-patient")
    assert missing.status_code == 404
    assert _outcome(missing)["issue"][0]["code"] == "not-found"

    unsupported = api.get("/Spaceship")
    assert unsupported.status_code == 404
    assert _outcome(unsupported)["issue"][0]["code"] == "not-supported"


def _oversize() -> bytes:
    padding = "x" * (MAX_BODY_BYTES + 1024)
    return (
        b'{"resourceType":"Patient","text":{"status":"generated","div":"'
        + padding.encode()
        + b'"}}'
    )


def test_oversize_body_is_refused_with_413(api: httpx.Client) -> None:
    response = api.post("/Patient", content=_oversize(), headers=FHIR)
    assert response.status_code == 413
    issue = _outcome(response)["issue"][0]
    assert issue["code"] == "too-costly"
    assert str(MAX_BODY_BYTES) in issue["diagnostics"]


def test_oversize_chunked_body_is_refused_with_413(api: httpx.Client) -> None:
    body = _oversize()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count as it reads
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = api.post("/Patient", content=chunks(), headers=FHIR)
    assert response.status_code == 413
    assert _outcome(response)["issue"][0]["code"] == "too-costly"
