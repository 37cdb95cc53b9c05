"""One quarter of program data per backend, loaded once through the real ingest, placement and
referral paths, and an app serving it (sharing rules and audit on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement.census import set_unit_census
from gateway.placement.workflow_setup import install
from gateway.placement.workflow_types import ManualClock
from gateway.referral.setup import install as install_referrals
from gateway.referral.types import ReferralConfig
from gateway.settings import Settings
from tests.conftest import BASE_URL
from tests.outcomes import load
from tests.outcomes.scenario import Scenario, build
from tests.placement.workflow.conftest import CONFIG
from tests.placement.workflow.support import BASE, FACILITIES, finder, seed
from tests.support.databases import empty

TARGET = 191  # Amarillo's yearly target
FRESH_UNITS = ("unit-f1", "unit-f3")


@pytest.fixture(scope="package")
def scenario() -> Scenario:
    return build()


@pytest.fixture(scope="package")
def api(
    database: Database, database_url: str, key_dir: Any, keystore: KeyStore, scenario: Scenario
) -> Iterator[TestClient]:
    """The app over a database holding the scenario (loaded once for the package)."""
    empty(database)
    seed(database, FACILITIES, beds=50)
    settings = Settings(
        database_url=database_url,
        base_url=BASE_URL,
        key_dir=key_dir,
        people_served_target=TARGET,
    )
    app = create_app(settings, db=database, keys=keystore, background_workers=False)
    clock = ManualClock(0.0)
    install(
        app, candidates=finder(FACILITIES, stale=frozenset({"unit-f2"})), config=CONFIG, clock=clock
    )
    install_referrals(app, config=ReferralConfig(), clock=clock)
    load.seed_referral_services(database)
    with TestClient(app, raise_server_exceptions=False) as client:
        load.load_police(client, scenario)
        patients = load.load_hospital(client, scenario)
        load.load_placements(client, scenario, clock, patients)
        load.load_referrals(client, scenario, clock, patients)
        with database.unit_of_work() as session:  # two of the five units report their beds now
            for unit in FRESH_UNITS:
                set_unit_census(ResourceService(session, BASE), unit, free=4, total=12)
        yield client
    empty(database)
