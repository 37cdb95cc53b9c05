"""Shared fixtures: every storage test runs on SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.settings import Settings
from tests.support.databases import backends, empty, fresh_database

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
    empty(database)  # the audit tables are append-only: emptied with their guard off
    yield database


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def keystore(key_dir: Any) -> KeyStore:
    keys = KeyStore(key_dir)
    keys.load()
    return keys


@pytest.fixture()
def settings(database_url: str, key_dir: Any) -> Settings:
    return Settings(
        database_url=database_url, base_url=BASE_URL, max_body_bytes=1_000_000, key_dir=key_dir
    )


def bearer(app: Any, scope: str = "system/*.cruds", **claims: Any) -> dict[str, str]:
    """An Authorization header with a real token signed by the app's own key."""
    token = app.state.tokens.issue(
        client_id=claims.pop("client_id", "test-client"),
        agency=claims.pop("agency", "test-agency"),
        role=claims.pop("role", "gateway_admin"),
        scope=scope,
        purposes=claims.pop("purposes", ["TREAT"]),
        user=claims.pop("user", None),
    )
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.fixture()
def anon_client(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[TestClient]:
    """A client with no token: every API call but discovery must be refused. Sharing rules are off
    here: these fixtures serve the storage, auth and ingest suites; tests/sharing tests the rules."""
    app = create_app(settings, db=db, keys=keystore, sharing_rules=False, background_workers=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture()
def client(anon_client: TestClient) -> TestClient:
    """A client holding a valid token with every scope (``system/*.cruds``)."""
    anon_client.headers.update(bearer(anon_client.app))
    return anon_client


FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def create(client: TestClient, resource: dict[str, Any]) -> dict[str, Any]:
    """POST a resource and return what the server stored (fails the test on any error)."""
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR)
    assert response.status_code == 201, response.text
    return response.json()
