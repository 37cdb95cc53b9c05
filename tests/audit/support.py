"""Raw database access for the audit tests: emptying the append-only tables between tests and
tampering with them the way an attacker with database access would (triggers bypassed).

``purge_audit`` is what the shared ``db`` fixture needs once the FHIR endpoints write audit events:
the append-only triggers refuse the fixture's plain DELETE.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gateway.db.session import Database

APPEND_ONLY = ("audit_leaf", "audit_patient", "audit_node", "audit_checkpoint")
# Children before parents.
AUDIT_TABLES = (
    "audit_btg_review",
    "audit_accounting_suspension",
    "audit_patient",
    "audit_node",
    "audit_checkpoint",
    "audit_leaf",
)


@contextmanager
def triggers_off(session: Session) -> Iterator[None]:
    """Run statements in this transaction as if the append-only triggers did not exist: a
    PostgreSQL superuser's ``session_replication_role = replica``; on SQLite, drop and recreate."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))
        yield
        session.execute(text("SET LOCAL session_replication_role = origin"))
        return
    names = ", ".join(f"'{t}'" for t in APPEND_ONLY)
    triggers = session.execute(
        text(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({names})"
        )
    ).all()
    for name, _sql in triggers:
        session.execute(text(f'DROP TRIGGER "{name}"'))
    try:
        yield
    finally:
        for _name, sql in triggers:
            session.execute(text(sql))


def purge_audit(session: Session) -> None:
    """Empty every audit table (tests only: the log is append-only)."""
    with triggers_off(session):
        for table in AUDIT_TABLES:
            session.execute(text(f"DELETE FROM {table}"))


def tamper(db: Database, sql: str, **params: Any) -> None:
    """Execute ``sql`` against the audit tables with the protections bypassed, and commit."""
    with db.unit_of_work() as session, triggers_off(session):
        session.execute(text(sql), params)


_PG_DOWN = (
    "CREATE FUNCTION test_audit_down() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit storage unavailable'; END $$",
    "CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_leaf "
    "FOR EACH ROW EXECUTE FUNCTION test_audit_down()",
)
_PG_UP = (
    "DROP TRIGGER IF EXISTS test_audit_down ON audit_leaf",
    "DROP FUNCTION IF EXISTS test_audit_down()",
)
_SQLITE_DOWN = (
    "CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_leaf "
    "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END",
)
_SQLITE_UP = ("DROP TRIGGER IF EXISTS test_audit_down",)


@contextmanager
def audit_down(db: Database) -> Iterator[None]:
    """Make the database itself refuse every audit append (a trigger raising on INSERT), the way a
    full disk or a revoked grant would, until the block ends."""
    postgres = db.engine.dialect.name == "postgresql"
    with db.unit_of_work() as session:
        for sql in _PG_DOWN if postgres else _SQLITE_DOWN:
            session.execute(text(sql))
    try:
        yield
    finally:
        with db.unit_of_work() as session:
            for sql in _PG_UP if postgres else _SQLITE_UP:
                session.execute(text(sql))
