"""Fixtures for the directory, census and matching tests: an app with the placement routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.placement.directory_endpoints import install
from gateway.settings import Settings


@pytest.fixture()
def anon_client(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[TestClient]:
    """The root fixture's app, plus the placement directory routes (until the lead wires them)."""
    app = create_app(settings, db=db, keys=keystore)
    install(app)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
