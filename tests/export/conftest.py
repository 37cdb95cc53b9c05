"""Bulk export over HTTP on SQLite and PostgreSQL: with the sharing rules on (the demo partnership's
agencies registered), and off for the storage-level behaviour of the patient and Group levels."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.export.schemas import ExportConfig
from gateway.settings import Settings
from tests.sharing.conftest import AGENCIES

# Small files, so that a handful of resources already spans several of them.
CONFIG = ExportConfig(file_resources=2)


@pytest.fixture()
def gateway(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[TestClient]:
    with db.unit_of_work() as session:
        registry = Registry(session)
        for agency, kind in AGENCIES.items():
            registry.add_agency(agency, kind, agency)
    app = create_app(settings, db=db, keys=keystore, background_workers=False)
    app.state.export_config = CONFIG
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture()
def open_gateway(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[TestClient]:
    """Sharing rules off: what the levels select, whatever the rules would then withhold."""
    app = create_app(settings, db=db, keys=keystore, sharing_rules=False, background_workers=False)
    app.state.export_config = CONFIG
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
