"""Fixtures of the ingest tests: a live app with its MLLP listener on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.ingest.senders import add_sender
from gateway.settings import Settings
from tests.auth.conftest import register
from tests.conftest import bearer
from tests.support.live import free_port
from tests.support.smart import public_jwks, rsa_key


@pytest.fixture()
def mllp(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[tuple[int, TestClient]]:
    register(db, "ghh-ehr", public_jwks(rsa_key()), scope="system/*.cruds")
    with db.unit_of_work() as session:
        add_sender(session, "GHHSFacility", "127.0.0.1/32", "ghh-ehr")
    app = create_app(
        settings.with_overrides(mllp_port=free_port()), db=db, keys=keystore, sharing_rules=False
    )
    with TestClient(app) as client:
        client.headers.update(bearer(app))
        yield app.state.mllp_port, client
