"""Fixtures for notification tests: a receiver, a manual clock, seeded facilities."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.audit.log import AuditLog
from gateway.db.session import Database
from gateway.placement.workflow_types import ManualClock, PlacementContext, WorkflowConfig
from gateway.settings import Settings
from tests.notify.receiver import Receiver
from tests.placement.workflow.support import BASE, FACILITIES, finder, patient, seed


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    """A receiver that is *not* listening until the test calls ``start()``."""
    rec = Receiver()
    yield rec
    rec.stop()


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(1_750_000_000.0)


@pytest.fixture()
def seeded(db: Database) -> Database:
    seed(db, FACILITIES, beds=5)
    patient(db)
    return db


@pytest.fixture()
def ctx(clock: ManualClock) -> PlacementContext:
    return PlacementContext(
        fhir_base=BASE,
        candidates=finder(FACILITIES),
        config=WorkflowConfig(top_n=2),
        clock=clock,
    )


@pytest.fixture()
def audit_log(settings: Settings) -> AuditLog:
    """The gateway's audit log, for delivery workers built outside an app."""
    return AuditLog.from_settings(settings)
