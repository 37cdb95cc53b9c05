"""Sharing rules switched on, with the demo partnership's agencies registered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.settings import Settings
from tests.conftest import bearer

AGENCIES = {
    "demo-amarillo-pd": "police",
    "demo-panhandle-regional": "hospital",
    "demo-tpc": "bha",
    "demo-mcot": "crisis-team",
}
FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture()
def gateway(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[TestClient]:
    with db.unit_of_work() as session:
        registry = Registry(session)
        for agency, kind in AGENCIES.items():
            registry.add_agency(agency, kind, agency)
    app = create_app(settings, db=db, keys=keystore)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def as_(
    client: TestClient, role: str, agency: str, purposes: list[str], **extra: str
) -> dict[str, str]:
    return {**FHIR, **bearer(client.app, role=role, agency=agency, purposes=purposes), **extra}


def hospital(client: TestClient) -> dict[str, str]:
    return as_(client, "hospital_ehr", "demo-panhandle-regional", ["TREAT"])


def police(client: TestClient) -> dict[str, str]:
    return as_(client, "police_officer", "demo-amarillo-pd", ["HLEGAL"])


def crisis_team(client: TestClient, **extra: str) -> dict[str, str]:
    return as_(client, "crisis_clinician", "demo-mcot", ["TREAT", "BTG"], **extra)


def post(client: TestClient, headers: dict[str, str], resource: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())
