"""The audit tables refuse UPDATE, DELETE and TRUNCATE, except the sequencer's one-time index."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from gateway.audit.checkpoint import checkpoint, sequence
from gateway.audit.grants import grants_sql
from gateway.audit.log import AuditLog
from gateway.db.session import Database
from tests.audit.conftest import clinician_ctx, fill

REFUSED = [
    "UPDATE audit_leaf SET agency = 'x'",
    "UPDATE audit_leaf SET body = :b",
    "UPDATE audit_leaf SET idx = idx + 100",
    "DELETE FROM audit_leaf",
    "UPDATE audit_patient SET patient = 'Patient/other'",
    "DELETE FROM audit_patient",
    "UPDATE audit_node SET hash = :b",
    "DELETE FROM audit_node",
    "UPDATE audit_checkpoint SET note = 'x'",
    "DELETE FROM audit_checkpoint",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_a_normal_session_cannot_change_the_log(
    db: Database, audit_log: AuditLog, sql: str
) -> None:
    fill(db, audit_log, 3)
    assert audit_log.signer is not None
    checkpoint(db, audit_log.signer)
    with pytest.raises(DBAPIError, match="append-only"), db.unit_of_work() as session:
        session.execute(text(sql), {"b": b"\x00" * 32})


def test_only_the_first_assignment_of_an_index_is_allowed(
    db: Database, audit_log: AuditLog
) -> None:
    fill(db, audit_log, 1)
    with pytest.raises(DBAPIError, match="append-only"), db.unit_of_work() as session:
        session.execute(text("UPDATE audit_leaf SET idx = 0, leaf_hash = :h, agency = 'x'"),
                        {"h": b"\x01" * 32})  # fmt: skip
    assert sequence(db) == 1
    with pytest.raises(DBAPIError, match="append-only"), db.unit_of_work() as session:
        session.execute(text("UPDATE audit_leaf SET idx = 5, leaf_hash = :h"), {"h": b"\x01" * 32})


def test_truncate_is_refused_on_postgresql(db: Database, audit_log: AuditLog) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    fill(db, audit_log, 1)
    with pytest.raises(DBAPIError, match="append-only"), db.unit_of_work() as session:
        session.execute(text("TRUNCATE audit_leaf CASCADE"))


@pytest.fixture()
def runtime_role(db: Database) -> Iterator[str]:
    """A PostgreSQL login role holding exactly the grants `gateway audit grants` prints."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("roles and grants are PostgreSQL's")
    role = f"gw_runtime_{uuid.uuid4().hex[:8]}"
    with db.engine.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        for statement in grants_sql(role).splitlines():
            conn.execute(text(statement))
        conn.commit()
    yield role
    with db.engine.connect() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
        conn.commit()


def test_the_runtime_role_appends_but_cannot_rewrite(
    db: Database, audit_log: AuditLog, runtime_role: str
) -> None:
    url = make_url(db.url).set(username=runtime_role).render_as_string(hide_password=False)
    runtime = Database(url, pool_size=1)
    try:
        fill(runtime, audit_log, 4)
        assert audit_log.signer is not None
        assert checkpoint(runtime, audit_log.signer).size == 4
        with runtime.unit_of_work() as session:
            event = audit_log.events.rest(clinician_ctx(), "read", patients=["Patient/p1"])
            audit_log.append(session, event)
        for sql in ("UPDATE audit_leaf SET agency = 'x'", "DELETE FROM audit_leaf",
                    "DELETE FROM audit_checkpoint", "ALTER TABLE audit_leaf DISABLE TRIGGER ALL",
                    "TRUNCATE audit_node"):  # fmt: skip
            denied = pytest.raises(DBAPIError, match=r"permission denied|must be owner")
            with denied, runtime.unit_of_work() as session:
                session.execute(text(sql))
    finally:
        runtime.dispose()
