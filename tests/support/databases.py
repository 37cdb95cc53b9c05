"""Test databases of our own: a fresh SQLite file, and a fresh PostgreSQL database per run.

``GATEWAY_TEST_DATABASE_URL`` names a PostgreSQL server (any database on it); the tests create a
database with a unique name there, migrate it, and drop it at the end. They never touch the named
database's contents.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.db.migrate import upgrade

PG_ENV = "GATEWAY_TEST_DATABASE_URL"


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


@contextmanager
def fresh_postgres(prefix: str = "gw_test") -> Iterator[str]:
    """Create, migrate, yield and finally drop a uniquely named PostgreSQL database."""
    server = make_url(os.environ[PG_ENV])
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fresh_sqlite(directory: Path) -> Iterator[str]:
    url = f"sqlite:///{directory / f'gw_{uuid.uuid4().hex[:10]}.db'}"
    upgrade(url)
    yield url


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "postgresql":
        with fresh_postgres() as url:
            yield url
    else:
        with fresh_sqlite(directory) as url:
            yield url


def empty(database: Any) -> None:
    """Delete every row of this run's own database (audit tables with their guard switched off)."""
    from sqlalchemy import delete
    from sqlmodel import SQLModel

    from tests.audit.support import AUDIT_TABLES, purge_audit

    with database.unit_of_work() as session:
        purge_audit(session)
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name != "alembic_version" and table.name not in AUDIT_TABLES:
                session.execute(delete(table))
