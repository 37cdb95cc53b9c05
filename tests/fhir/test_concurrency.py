"""Concurrent writers, each through its own app and client on the same database.

Optimistic locking (If-Match) must let exactly one of several simultaneous writers win; unguarded
writers must each get their own version, none lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from tests.fhir.helpers import FHIR, PATCH_JSON, create, patient

WRITERS = 8  # the writer_apps fixture holds this many apps


def together(apps: list[FastAPI], request: Callable[[TestClient, int], Response]) -> list[Response]:
    """Run ``request`` from one thread per app at once, each thread with its own client."""
    barrier = threading.Barrier(len(apps), timeout=30)
    results: list[Any] = [None] * len(apps)

    def worker(i: int) -> None:
        try:
            with TestClient(apps[i], raise_server_exceptions=False) as client:
                barrier.wait()
                results[i] = request(client, i)
        except Exception as exc:  # reported below, never swallowed
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(apps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    errors = [r for r in results if not isinstance(r, Response)]
    assert not errors, errors
    return results


def statuses(responses: list[Response]) -> list[int]:
    return sorted(r.status_code for r in responses)


def test_concurrent_puts_with_the_same_if_match_exactly_one_wins(
    client: TestClient, writer_apps: list[FastAPI]
) -> None:
    stored = create(client, patient(gender="unknown"))
    rid = stored["id"]
    genders = ["male", "female", "other", "unknown"]

    def write(c: TestClient, i: int) -> Response:
        body = {**stored, "gender": genders[i % 4], "birthDate": f"19{60 + i}"}
        return c.put(f"/fhir/Patient/{rid}", json=body, headers={**FHIR, "If-Match": 'W/"1"'})

    responses = together(writer_apps, write)
    codes = statuses(responses)
    assert codes.count(200) == 1, [r.text for r in responses]
    assert all(code in (409, 412) for code in codes if code != 200), codes
    winner = next(r for r in responses if r.status_code == 200).json()
    current = client.get(f"/fhir/Patient/{rid}").json()
    assert current["meta"]["versionId"] == "2"
    assert current["birthDate"] == winner["birthDate"]
    assert client.get(f"/fhir/Patient/{rid}/_history").json()["total"] == 2


def test_concurrent_patches_with_the_same_if_match_exactly_one_wins(
    client: TestClient, writer_apps: list[FastAPI]
) -> None:
    rid = create(client, patient())["id"]

    def write(c: TestClient, i: int) -> Response:
        ops = [{"op": "add", "path": "/birthDate", "value": f"19{60 + i}"}]
        return c.patch(
            f"/fhir/Patient/{rid}", json=ops, headers={**PATCH_JSON, "If-Match": 'W/"1"'}
        )

    codes = statuses(together(writer_apps, write))
    assert codes.count(200) == 1 and len([c for c in codes if c in (409, 412)]) == WRITERS - 1
    assert client.get(f"/fhir/Patient/{rid}").json()["meta"]["versionId"] == "2"


def test_concurrent_unguarded_updates_lose_no_version(
    client: TestClient, writer_apps: list[FastAPI]
) -> None:
    stored = create(client, patient())
    rid = stored["id"]

    def write(c: TestClient, i: int) -> Response:
        return c.put(
            f"/fhir/Patient/{rid}", json={**stored, "birthDate": f"19{60 + i}"}, headers=FHIR
        )

    assert statuses(together(writer_apps, write)) == [200] * WRITERS
    history = client.get(f"/fhir/Patient/{rid}/_history?_count=50").json()
    assert history["total"] == WRITERS + 1
    versions = sorted(int(e["resource"]["meta"]["versionId"]) for e in history["entry"])
    assert versions == list(range(1, WRITERS + 2))
    births = {e["resource"].get("birthDate") for e in history["entry"]}
    assert len(births) == WRITERS + 1  # every writer's content was kept as its own version


def test_concurrent_update_as_create_of_one_id_creates_it_once(
    client: TestClient, writer_apps: list[FastAPI]
) -> None:
    body = patient(id="walk-in-1", gender="other")

    def write(c: TestClient, _i: int) -> Response:
        return c.put("/fhir/Patient/walk-in-1", json=body, headers=FHIR)

    responses = together(writer_apps, write)
    codes = statuses(responses)
    assert codes.count(201) == 1, codes
    assert all(code in (200, 409) for code in codes if code != 201), codes
    assert all(
        r.headers.get("content-type", "").startswith("application/fhir+json") for r in responses
    )
    current = client.get("/fhir/Patient/walk-in-1").json()
    assert current["meta"]["versionId"] == "1"
    assert client.get("/fhir/Patient/_history").json()["total"] == 1
