"""Fixtures for referral tests: a manual clock, a seeded directory, the full app (sharing on)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.placement.workflow_types import ManualClock
from gateway.referral.setup import install
from gateway.referral.types import ReferralConfig, ReferralContext
from gateway.settings import Settings
from tests.referral.support import BASE, WEDNESDAY_0900, seed

CONFIG = ReferralConfig(timezone="America/Chicago")


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(WEDNESDAY_0900)


@pytest.fixture()
def seeded(db: Database) -> Database:
    seed(db)
    return db


@pytest.fixture()
def ctx(clock: ManualClock) -> ReferralContext:
    return ReferralContext(fhir_base=BASE, config=CONFIG, clock=clock)


@pytest.fixture()
def app_client(
    seeded: Database, settings: Settings, keystore: KeyStore, clock: ManualClock
) -> Iterator[TestClient]:
    app = create_app(settings, db=seeded, keys=keystore, background_workers=False)
    install(app, config=CONFIG, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
