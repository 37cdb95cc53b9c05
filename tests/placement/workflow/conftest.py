"""Fixtures for the placement workflow tests: a manual clock, seeded facilities, an app with the
placement and notification routers installed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.placement.workflow_setup import install
from gateway.placement.workflow_types import ManualClock, PlacementContext, WorkflowConfig
from gateway.settings import Settings
from policies.agreements import EXAMPLE_PATH
from tests.conftest import bearer
from tests.placement.workflow.live import Api
from tests.placement.workflow.support import (
    BASE,
    FACILITIES,
    REQUESTER,
    finder,
    patient,
    seed,
)
from tests.support.live import live_server

CONFIG = WorkflowConfig(
    top_n=2,
    response_seconds=1800,
    radii_km=(50.0, 100.0, 200.0, 400.0),
    bed_hold_seconds=4 * 3600,
    hold_alert_seconds=2 * 3600,
)


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(1_750_000_000.0)


@pytest.fixture()
def seeded(db: Database) -> Database:
    seed(db, FACILITIES, beds=2)
    patient(db)
    return db


@pytest.fixture()
def ctx(clock: ManualClock) -> PlacementContext:
    return PlacementContext(
        fhir_base=BASE, candidates=finder(FACILITIES), config=CONFIG, clock=clock
    )


@pytest.fixture()
def app_client(
    seeded: Database, settings: Settings, keystore: KeyStore, clock: ManualClock
) -> Iterator[TestClient]:
    app = create_app(settings, db=seeded, keys=keystore)
    install(app, candidates=finder(FACILITIES), config=CONFIG, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture()
def api(seeded: Database, settings: Settings, keystore: KeyStore, tmp_path: Path) -> Iterator[Api]:
    """The gateway on a real loopback port (timers and delivery off: tests drive them), with the
    requester registered as a hospital and the facilities as facilities (the sharing agreements
    name agencies by kind)."""
    kinds = {REQUESTER: "hospital", **{f.org_id: "facility" for f in FACILITIES}}
    with seeded.unit_of_work() as session:
        registry = Registry(session)
        for agency, kind in kinds.items():
            registry.add_agency(agency, kind, agency)
    text = EXAMPLE_PATH.read_text(encoding="utf-8")
    mine = "".join(f'"{agency}" = "{kind}"\n' for agency, kind in kinds.items())
    agreements = tmp_path / "agreements.toml"
    agreements.write_text(
        text.replace("[partnership.agencies]\n", f"[partnership.agencies]\n{mine}")
    )
    settings = dataclasses.replace(settings, agreements_file=agreements)
    app = create_app(settings, db=seeded, keys=keystore, background_workers=False)
    install(app, candidates=finder(FACILITIES), config=CONFIG, clock=ManualClock(1_750_000_000.0))
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield Api(app, http)


def as_agency(
    client: TestClient, agency: str, role: str = "hospital_ehr", **kw: Any
) -> dict[str, str]:
    """Authorization header for a system client of ``agency``."""
    return bearer(client.app, agency=agency, role=role, client_id=f"{agency}-client", **kw)
