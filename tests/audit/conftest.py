"""Fixtures for the audit tests: a clean log per test, an app with the ``/audit`` router, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlmodel import SQLModel

from gateway.app import create_app
from gateway.audit.endpoints import router
from gateway.audit.events import AuditContext
from gateway.audit.log import AuditLog
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.settings import Settings
from tests.audit.support import AUDIT_TABLES, purge_audit
from tests.conftest import bearer


def empty(database: Database) -> None:
    with database.unit_of_work() as session:
        purge_audit(session)
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name != "alembic_version" and table.name not in AUDIT_TABLES:
                session.execute(delete(table))


@pytest.fixture()
def db(database: Database) -> Iterator[Database]:
    """The test database, emptied before and after each test, audit tables included (the shared
    fixture's plain DELETE is refused by the append-only triggers)."""
    empty(database)
    yield database
    empty(database)


@pytest.fixture()
def audit_log(settings: Settings) -> AuditLog:
    return AuditLog.from_settings(settings)


@pytest.fixture()
def app(db: Database, settings: Settings, keystore: KeyStore, audit_log: AuditLog) -> FastAPI:
    application = create_app(settings, db=db, keys=keystore)
    application.include_router(router)
    application.state.audit = audit_log
    return application


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture()
def auditor(app: FastAPI) -> dict[str, str]:
    return bearer(app, role="bha_auditor", user="ann.auditor", agency="bha", purposes=["HOPERAT"])


@pytest.fixture()
def clinician(app: FastAPI) -> dict[str, str]:
    return bearer(app, role="ed_clinician", user="carl", agency="panhandle-er")


def police_ctx(**kw: Any) -> AuditContext:
    values: dict[str, Any] = {
        "client_id": "amarillo-rms",
        "agency": "amarillo-pd",
        "role": "police_officer",
        "user": "officer.jones",
        "purposes": ("HLEGAL",),
        "request_id": "req-police",
        "address": "10.1.2.3",
    }
    values.update(kw)
    return AuditContext(**values)


def clinician_ctx(**kw: Any) -> AuditContext:
    values: dict[str, Any] = {
        "client_id": "panhandle-ehr",
        "agency": "panhandle-er",
        "role": "ed_clinician",
        "user": "dr.smith",
        "purposes": ("TREAT",),
        "request_id": "req-clinic",
    }
    values.update(kw)
    return AuditContext(**values)


def fill(db: Database, log: AuditLog, count: int, *, start: int = 0) -> None:
    """Append ``count`` read events, one unit of work each."""
    for i in range(start, start + count):
        with db.unit_of_work() as session:
            patient = f"Patient/p{i % 5}"
            log.append(
                session,
                log.events.rest(clinician_ctx(), "read", resources=[patient], patients=[patient]),
            )
