"""Fixtures for the FHIR REST tests.

These tests are about FHIR semantics, not token checks (``tests/auth`` covers those): every app built
here answers as if a system client holding ``system/*.cruds`` were calling, by overriding the one
dependency that resolves the caller.

Building an app costs tens of milliseconds (key loading, migration check), so ``client`` reuses one
app per database backend; the root ``db`` fixture still empties the database before every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.deps import get_caller
from gateway.auth.schemas import Caller
from gateway.db.session import Database
from gateway.settings import Settings
from tests.conftest import BASE_URL

TEST_CALLER = Caller.with_scope("fhir-tests", "system/*.cruds", role="gateway_admin")


def as_system(app: FastAPI) -> FastAPI:
    app.dependency_overrides[get_caller] = lambda: TEST_CALLER
    return app


@contextmanager
def app_client(db: Database, settings: Settings, **overrides: Any) -> Iterator[TestClient]:
    """A client for an app of its own on ``db`` (settings changed by ``overrides``)."""
    app = as_system(create_app(replace(settings, **overrides), db=db, sharing_rules=False))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def fhir_app(database: Database, database_url: str) -> FastAPI:
    settings = Settings(database_url=database_url, base_url=BASE_URL, max_body_bytes=1_000_000)
    return as_system(create_app(settings, db=database, sharing_rules=False))


@pytest.fixture()
def client(db: Database, fhir_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(fhir_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def writer_apps(database: Database, database_url: str) -> list[FastAPI]:
    """Eight separate apps on one database, as eight gateway replicas would be."""
    settings = Settings(database_url=database_url, base_url=BASE_URL, max_body_bytes=1_000_000)
    return [as_system(create_app(settings, db=database, sharing_rules=False)) for _ in range(8)]
