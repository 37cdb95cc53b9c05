"""First acceptance wins, under contention: many threads, and two gateway processes on one
PostgreSQL database. Exactly one acceptance per request; a unit's free beds never go below zero."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.auth.keys import KeyStore
from gateway.auth.tokens import TokenService
from gateway.db.session import Database
from gateway.db.tables_placement import PlacementBedHoldRow
from gateway.fhir.errors import FhirError
from gateway.placement.transitions import OfferState
from gateway.placement.workflow_beds import free_beds, set_free_beds
from gateway.placement.workflow_types import ManualClock, PlacementContext, WorkflowConfig
from tests.placement.workflow.support import (
    BASE,
    CROWD,
    ORIGIN,
    REQUESTER,
    caller,
    finder,
    read,
    run,
    seed,
    service_request,
)
from tests.support.live import free_port

ROOT = Path(__file__).resolve().parents[3]
PUBLIC_BASE = "https://gateway.test"


@pytest.fixture()
def crowd(db: Database) -> Database:
    seed(db, CROWD, beds=1)
    from tests.placement.workflow.support import patient

    patient(db)
    return db


@pytest.fixture()
def crowd_ctx(clock: ManualClock) -> PlacementContext:
    return PlacementContext(
        fhir_base=BASE,
        candidates=finder(CROWD),
        config=WorkflowConfig(top_n=len(CROWD)),
        clock=clock,
    )


def together(count: int, act: Callable[[int], Any]) -> list[Any]:
    """Run ``act(i)`` in ``count`` threads released at the same instant; exceptions are results."""
    barrier = threading.Barrier(count, timeout=30)
    results: list[Any] = [None] * count

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = act(i)
        except Exception as exc:  # the refusals are what is being counted
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_many_threads_accepting_one_request_one_wins(
    crowd: Database, crowd_ctx: PlacementContext
) -> None:
    opened = run(
        crowd,
        crowd_ctx,
        lambda wf: wf.open_request(caller(REQUESTER), service_request(), near=ORIGIN),
    )
    children = {c["owner"]["reference"].split("/")[1]: c["id"] for c in opened.children}
    assert len(children) == 10
    orgs = sorted(children)

    def accept(i: int) -> Any:
        org = orgs[i]
        return run(
            crowd,
            crowd_ctx,
            lambda wf: wf.offer_action(caller(org), children[org], OfferState.ACCEPTED, bed="b"),
        )

    results = together(len(orgs), accept)
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, FhirError)]
    assert len(won) == 1 and len(lost) == 9, results
    assert {e.status for e in lost} == {409}
    winner = won[0]["owner"]["reference"].split("/")[1]
    statuses = Counter(read(crowd, "Task", t)["status"] for t in children.values())
    assert statuses == Counter({"accepted": 1, "cancelled": 9})
    with crowd.unit_of_work() as session:
        beds = {org: free_beds(session, org.replace("org-", "unit-")) for org in orgs}
        holds = session.execute(select(PlacementBedHoldRow.unit_id)).scalars().all()
    assert beds == {org: 0 if org == winner else 1 for org in orgs}
    assert holds == [winner.replace("org-", "unit-")]


def test_many_requests_racing_for_the_last_beds_never_overbook(
    crowd: Database, crowd_ctx: PlacementContext
) -> None:
    unit, org = CROWD[0].unit_id, CROWD[0].org_id
    with crowd.unit_of_work() as session:
        set_free_beds(session, unit, org, 3, 0.0)
    tasks = []
    for _ in range(8):
        opened = run(
            crowd,
            crowd_ctx,
            lambda wf: wf.open_request(caller(REQUESTER), service_request(), near=ORIGIN, n=1),
        )
        tasks.append(opened.children[0]["id"])

    def accept(i: int) -> Any:
        return run(
            crowd,
            crowd_ctx,
            lambda wf: wf.offer_action(caller(org), tasks[i], OfferState.ACCEPTED, bed=f"b{i}"),
        )

    results = together(len(tasks), accept)
    assert sum(isinstance(r, dict) for r in results) == 3
    assert all(r.status == 409 for r in results if isinstance(r, FhirError))
    with crowd.unit_of_work() as session:
        assert free_beds(session, unit) == 0


# ---- two gateway processes -----------------------------------------------------------------------
@contextmanager
def gateway_process(database_url: str, key_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_DATABASE_URL=database_url,
        GATEWAY_KEY_DIR=str(key_dir),
        GATEWAY_BASE_URL=PUBLIC_BASE,
        PYTHONPATH=str(ROOT),
    )
    command = [sys.executable, "-m", "uvicorn", "tests.placement.workflow.asgi_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/fhir/metadata", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"gateway did not start: {err}")
            time.sleep(0.1)  # waiting for a subprocess to listen, not for a timer
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def token(keys: KeyStore, agency: str) -> dict[str, str]:
    tokens = TokenService(keys, issuer=PUBLIC_BASE, audience=f"{PUBLIC_BASE}/fhir")
    issued = tokens.issue(
        client_id=f"{agency}-client",
        agency=agency,
        role="facility_system",
        scope="system/*.cruds",
        purposes=["TREAT"],
    )
    return {"Authorization": f"Bearer {issued['access_token']}"}


def test_two_processes_one_postgres_exactly_one_acceptance(
    crowd: Database, database_url: str, key_dir: Path, keystore: KeyStore, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("several gateway processes share PostgreSQL (production)")
    with ExitStack() as stack:
        bases = [stack.enter_context(gateway_process(database_url, key_dir)) for _ in range(2)]
        for round_no in range(3):  # a few requests, each raced by ten facilities on two processes
            opened = httpx.post(
                f"{bases[round_no % 2]}/placement/requests?near={ORIGIN[0]},{ORIGIN[1]}",
                json=service_request(),
                headers=token(keystore, REQUESTER),
                timeout=30,
            )
            assert opened.status_code == 201, opened.text
            children = [e["resource"] for e in opened.json()["entry"][2:]]
            assert len(children) == 10
            with crowd.unit_of_work() as session:
                for f in CROWD:
                    set_free_beds(session, f.unit_id, f.org_id, 1, 0.0)

            def accept(i: int, kids: list[dict[str, Any]] = children) -> int:
                child = kids[i]
                org = child["owner"]["reference"].split("/")[1]
                response = httpx.post(
                    f"{bases[i % 2]}/placement/tasks/{child['id']}/$accept",
                    json={"bed": f"bed {i}"},
                    headers=token(keystore, org),
                    timeout=30,
                )
                return response.status_code

            codes = together(len(children), accept)
            assert sorted(codes) == [200] + [409] * 9, codes
            with crowd.unit_of_work() as session:
                counts = [free_beds(session, f.unit_id) for f in CROWD]
            assert sorted(counts) == [0] + [1] * 9
            parent = read(crowd, "Task", opened.json()["entry"][1]["resource"]["id"])
            assert parent["status"] == "accepted"
