"""Shared fixtures: every storage test runs on SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlmodel import SQLModel

from gateway.app import create_app
from gateway.db.session import Database
from gateway.settings import Settings
from tests.support.databases import backends, fresh_database

BASE_URL = "http://testserver"


@pytest.fixture(scope="session", params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(backend, tmp_path_factory.mktemp(backend)) as url:
        yield url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture()
def db(database: Database) -> Iterator[Database]:
    """The test database, emptied before each test (it is this run's own database)."""
    with database.unit_of_work() as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name != "alembic_version":
                session.execute(delete(table))
    yield database


@pytest.fixture()
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, base_url=BASE_URL, max_body_bytes=1_000_000)


@pytest.fixture()
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, db=db)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def create(client: TestClient, resource: dict[str, Any]) -> dict[str, Any]:
    """POST a resource and return what the server stored (fails the test on any error)."""
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR)
    assert response.status_code == 201, response.text
    return response.json()
