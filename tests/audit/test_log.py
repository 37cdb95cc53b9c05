"""Appending: with the access, in its transaction; fail closed; gap-free order across writers."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest
from fastapi import Depends, FastAPI, Request, Response
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.audit.canonical import leaf_bytes
from gateway.audit.checkpoint import sequence
from gateway.audit.context import audit_context
from gateway.audit.errors import AuditUnavailable
from gateway.audit.log import AuditLog
from gateway.audit.merkle import leaf_hash
from gateway.audit.repository import AuditRepository
from gateway.auth.deps import get_caller
from gateway.auth.schemas import Caller
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from tests.audit.conftest import clinician_ctx, fill
from tests.conftest import FHIR, bearer

PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Quinn"}]}


def count(db: Database, sql: str) -> int:
    with db.unit_of_work() as session:
        return int(session.execute(text(sql)).scalar_one())


def test_an_event_commits_with_the_write_it_records(db: Database, audit_log: AuditLog) -> None:
    with db.unit_of_work() as session:
        stored = ResourceService(session, "http://testserver/fhir").create("Patient", PATIENT)
        ref = f"Patient/{stored.rid}"
        event = audit_log.events.rest(clinician_ctx(), "create", resources=[ref], patients=[ref])
        event_id = audit_log.append(session, event)
    assert count(db, "SELECT count(*) FROM audit_leaf") == 1
    with db.unit_of_work() as session:
        row = AuditRepository(session).event(event_id)
    assert row is not None and row.idx is None  # not yet sequenced
    assert sequence(db) == 1
    with db.unit_of_work() as session:
        row = AuditRepository(session).event(event_id)
        assert row is not None and row.idx == 0
        assert bytes(row.leaf_hash) == leaf_hash(leaf_bytes(bytes(row.body), 0))


def test_a_failed_append_rolls_back_the_whole_unit_of_work(
    db: Database, audit_log: AuditLog
) -> None:
    event = audit_log.events.rest(clinician_ctx(), "create", resources=["Patient/p1"])
    event["outcomeDesc"] = float("nan")  # has no canonical form: the append fails
    with pytest.raises(AuditUnavailable), db.unit_of_work() as session:
        ResourceService(session, "http://testserver/fhir").create("Patient", PATIENT)
        audit_log.append(session, event)
    assert count(db, "SELECT count(*) FROM fhir_resource") == 0
    assert count(db, "SELECT count(*) FROM audit_leaf") == 0


def test_a_database_failure_while_appending_fails_closed(db: Database, audit_log: AuditLog) -> None:
    event = audit_log.events.rest(clinician_ctx(), "read", resources=["Patient/p1"])
    with db.unit_of_work() as session:
        audit_log.append(session, event)
    with pytest.raises(AuditUnavailable) as caught, db.unit_of_work() as session:
        ResourceService(session, "http://testserver/fhir").create("Patient", PATIENT)
        audit_log.append(session, event)  # the same event id again: refused by the database
    assert isinstance(caught.value.__cause__, IntegrityError)
    assert count(db, "SELECT count(*) FROM fhir_resource WHERE rtype = 'Patient'") == 0


def read_app(app: FastAPI, audit_log: AuditLog) -> FastAPI:
    """A read endpoint wired the way the FHIR endpoints are to be: audit, commit, then respond."""

    @app.get("/test/read/{rid}")
    def read(rid: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
        with request.app.state.db.unit_of_work() as session:
            stored = ResourceService(session, "http://testserver/fhir").read("Patient", rid)
            ref = f"Patient/{rid}"
            event = audit_log.events.rest(
                audit_context(request, caller), "read", resources=[ref], patients=[ref]
            )
            audit_log.append(session, event)
        return Response(stored.content, media_type="application/fhir+json")

    return app


def test_a_read_whose_audit_fails_returns_an_error_and_discloses_nothing(
    app: FastAPI, db: Database, audit_log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.unit_of_work() as session:
        ResourceService(session, "http://testserver/fhir").create("Patient", PATIENT)
    rid = orjson.loads(
        db.engine.connect().execute(text("SELECT content FROM fhir_resource")).scalar_one()
    )["id"]
    headers = bearer(app, role="ed_clinician", user="carl")
    with TestClient(read_app(app, audit_log), raise_server_exceptions=False) as client:
        ok = client.get(f"/test/read/{rid}", headers=headers)
        assert ok.status_code == 200 and "Quinn" in ok.text

        def broken(self: AuditRepository, *args: Any) -> int:
            raise DBAPIError("INSERT INTO audit_leaf", {}, RuntimeError("disk full"))

        monkeypatch.setattr(AuditRepository, "append", broken)
        refused = client.get(f"/test/read/{rid}", headers=headers)
    assert refused.status_code == 503
    assert "Quinn" not in refused.text and rid not in refused.text
    assert refused.json()["issue"][0]["code"] == "transient"
    assert count(db, "SELECT count(*) FROM audit_leaf") == 1  # only the successful read


def test_the_event_is_searchable_as_a_fhir_auditevent(
    client: TestClient, db: Database, audit_log: AuditLog
) -> None:
    fill(db, audit_log, 3)
    with db.unit_of_work() as session:
        event = audit_log.events.rest(
            clinician_ctx(), "read", resources=["Patient/p9"], patients=["Patient/p9"]
        )
        audit_log.append(session, event)
    assert count(db, "SELECT count(*) FROM fhir_resource WHERE rtype = 'AuditEvent'") == 0
    sequence(db)  # the sequencer stores the searchable copies
    auditor = bearer(client.app, role="bha_auditor", user="ann", purposes=["HOPERAT"])
    headers = {**auditor, **FHIR}
    found = client.get("/fhir/AuditEvent?patient=Patient/p9", headers=headers).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [event["id"]]
    by_agency = client.get("/fhir/AuditEvent?agent=Organization/panhandle-er", headers=headers)
    assert by_agency.json()["total"] == 4
    by_action = client.get("/fhir/AuditEvent?action=R&outcome=0", headers=headers).json()
    assert by_action["total"] == 4
    today = event["recorded"][:10]
    assert client.get(f"/fhir/AuditEvent?date={today}", headers=headers).json()["total"] == 4


def test_concurrent_writers_get_a_gap_free_order(db: Database, audit_log: AuditLog) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            fill(db, audit_log, 10, start=n * 10)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    sizes: list[int] = []
    while any(t.is_alive() for t in threads):
        sizes.append(sequence(db))  # sequencing while appends are in flight
    for t in threads:
        t.join()
    assert not errors
    assert sequence(db) == 40
    assert sizes == sorted(sizes)
    with db.unit_of_work() as session:
        indexes = [r[0] for r in session.execute(text("SELECT idx FROM audit_leaf ORDER BY idx"))]
    assert indexes == list(range(40))


def test_the_single_statement_append_writes_the_same_rows(
    db: Database, audit_log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL an append is one statement; it must store what the separate INSERTs do."""
    made = []
    for generic in (False, True):
        if generic:
            monkeypatch.setattr(AuditRepository, "dialect", property(lambda _self: "other"))
        event = audit_log.events.rest(
            clinician_ctx(), "search-type", resource_type="Encounter", query="subject=Patient/p1",
            patients=["Patient/p1", "Patient/p2"], consents=["k1"], policies=["treat"],
        )  # fmt: skip
        event["recorded"] = "2026-01-02T03:04:05.678Z"
        with db.unit_of_work() as session:
            audit_log.append(session, event)
        made.append(event["id"])
    with db.unit_of_work() as session:
        rows = session.execute(
            text("SELECT l.*, p.patient FROM audit_leaf l JOIN audit_patient p ON p.seq = l.seq "
                 "ORDER BY l.seq, p.patient")
        ).mappings().all()  # fmt: skip
    drop = ("seq", "event_id", "body")
    seen = {e: [{k: v for k, v in r.items() if k not in drop} for r in rows if r["event_id"] == e]
            for e in made}  # fmt: skip
    assert seen[made[0]] == seen[made[1]] and len(seen[made[0]]) == 2
    assert [r["patient"] for r in seen[made[0]]] == ["Patient/p1", "Patient/p2"]


def test_a_checkpoint_can_sequence_and_sign_in_the_callers_transaction(
    db: Database, audit_log: AuditLog
) -> None:
    from gateway.audit.checkpoint import create_checkpoint

    fill(db, audit_log, 3)
    assert audit_log.signer is not None
    with db.unit_of_work() as session:
        signed = create_checkpoint(session, audit_log.signer)
    assert (signed.size, signed.created) == (3, True)
    with db.unit_of_work() as session:
        again = create_checkpoint(session, audit_log.signer)
    assert (again.size, again.created, again.note) == (3, False, signed.note)


def test_the_background_task_sequences_and_signs(db: Database, audit_log: AuditLog) -> None:
    import asyncio

    from gateway.audit.checkpoint import run_in_background

    assert audit_log.signer is not None
    fill(db, audit_log, 4)

    async def briefly() -> None:
        task = asyncio.create_task(
            run_in_background(db, audit_log.signer, sequence_every=0.05, checkpoint_every=0.2)
        )
        await asyncio.sleep(0.6)
        task.cancel()

    asyncio.run(briefly())
    with db.unit_of_work() as session:
        repo = AuditRepository(session)
        latest = repo.latest_checkpoint()
        assert repo.size() == 4 and latest is not None and latest.size == 4
