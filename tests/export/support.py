"""Driving an export the way a Bulk Data client does: kick off, poll, download."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import orjson
from fastapi.testclient import TestClient

from tests.conftest import BASE_URL, bearer
from tests.sharing.conftest import FHIR

KICK_OFF = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def local(url: str) -> str:
    assert url.startswith(BASE_URL), url
    return url[len(BASE_URL) :]


def token(client: TestClient, scope: str = "system/*.cruds", **claims: Any) -> dict[str, str]:
    return {**FHIR, **bearer(client.app, scope=scope, **claims)}


def hospital(client: TestClient, **claims: Any) -> dict[str, str]:
    claims = {"role": "hospital_ehr", "agency": "demo-panhandle-regional", **claims}
    return token(client, purposes=["TREAT"], **claims)


def kick_off(
    client: TestClient,
    headers: dict[str, str],
    path: str = "/fhir/$export",
    params: dict[str, str] | None = None,
) -> httpx.Response:
    return client.get(path, params=params, headers={**headers, **KICK_OFF})


def started(response: httpx.Response) -> str:
    """The status path of an accepted kick-off."""
    assert response.status_code == 202, response.text
    return local(response.headers["content-location"])


def manifest(client: TestClient, headers: dict[str, str], status: str) -> dict[str, Any]:
    response = client.get(status, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def finished(client: TestClient, headers: dict[str, str], status: str) -> dict[str, Any]:
    """The manifest, after the poll that (re)starts a waiting job: a poll answers 202 while the
    job runs, and here the work it starts is done before the next poll."""
    for _ in range(3):
        response = client.get(status, headers=headers)
        if response.status_code != 202:
            break
    return manifest(client, headers, status)


def export(
    client: TestClient,
    headers: dict[str, str],
    path: str = "/fhir/$export",
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Kick off and poll once (the work runs right after the kick-off answers)."""
    return manifest(client, headers, started(kick_off(client, headers, path, params)))


def download(client: TestClient, headers: dict[str, str], url: str) -> httpx.Response:
    response = client.get(local(url), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    return response


def contents(
    client: TestClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Every file of a manifest, parsed line by line, by type (each count checked)."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for output in body["output"]:
        lines = download(client, headers, output["url"]).text.splitlines()
        assert len(lines) == output["count"]
        found[output["type"]] += [orjson.loads(line) for line in lines]
    return dict(found)


def ids(found: dict[str, list[dict[str, Any]]], rtype: str) -> list[str]:
    return sorted(str(r["id"]) for r in found.get(rtype, []))


def post(client: TestClient, headers: dict[str, str], resource: dict[str, Any]) -> str:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def patient(client: TestClient, headers: dict[str, str], family: str) -> str:
    return post(client, headers, {"resourceType": "Patient", "name": [{"family": family}]})


def condition(
    client: TestClient, headers: dict[str, str], patient_id: str, code: str = "I10"
) -> str:
    return post(
        client,
        headers,
        {
            "resourceType": "Condition",
            "subject": {"reference": f"Patient/{patient_id}"},
            "code": {"coding": [{"system": ICD, "code": code}]},
        },
    )


def search_ids(client: TestClient, headers: dict[str, str], rtype: str) -> list[str]:
    response = client.get(f"/fhir/{rtype}?_count=1000", headers=headers)
    assert response.status_code == 200, response.text
    return sorted(
        e["resource"]["id"]
        for e in response.json().get("entry", [])
        if e.get("search", {}).get("mode") == "match"
    )
