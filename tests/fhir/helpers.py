"""Small helpers the FHIR REST tests share: requests, and what to look for in answers."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import FHIR, create

BASE = "http://testserver/fhir"
PATCH_JSON = {"Content-Type": "application/json-patch+json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

__all__ = ["BASE", "FHIR", "FORM", "PATCH_JSON", "create"]


def put(client: TestClient, resource: dict[str, Any], **headers: str) -> Response:
    url = f"/fhir/{resource['resourceType']}/{resource['id']}"
    return client.put(url, json=resource, headers={**FHIR, **headers})


def search(client: TestClient, query: str, **headers: str) -> dict[str, Any]:
    """GET ``/fhir/{query}``; fails the test unless it is a 200 searchset."""
    response = client.get(f"/fhir/{query}", headers=headers)
    assert response.status_code == 200, response.text
    bundle: dict[str, Any] = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return bundle


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    """Ids of the entries with ``search.mode == mode``, in Bundle order."""
    return [
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode", "match") == mode
    ]


def found(client: TestClient, query: str) -> set[str]:
    return set(ids(search(client, query)))


def link(bundle: dict[str, Any], relation: str) -> str | None:
    for item in bundle.get("link", []):
        if item["relation"] == relation:
            return str(item["url"])
    return None


def outcome(
    response: Response,
    status: int,
    *,
    code: str | None = None,
    expression: str | None = None,
    secrets: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Assert an ``OperationOutcome`` error with this status; return its issues.

    ``expression`` must be one of the issues' expressions; none of ``secrets`` (patient data the
    request carried) may appear anywhere in the answer.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    issues: list[dict[str, Any]] = body["issue"]
    assert issues and all(i["severity"] in ("error", "fatal") for i in issues), issues
    assert all(i.get("diagnostics") for i in issues), issues
    if code is not None:
        assert code in [i["code"] for i in issues], issues
    if expression is not None:
        assert expression in [e for i in issues for e in i.get("expression", [])], issues
    assert "Traceback" not in response.text
    for secret in secrets:
        assert secret not in response.text, f"{secret!r} leaked into {response.text}"
    return issues


def count(client: TestClient, rtype: str, query: str = "") -> int:
    bundle = search(client, f"{rtype}?_summary=count" + (f"&{query}" if query else ""))
    return int(bundle["total"])


def patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **fields}


def observation(subject: str | None = None, **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        **fields,
    }
    if subject is not None:
        resource["subject"] = {"reference": subject}
    return resource
