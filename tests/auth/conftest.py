"""A registered agency system with an RSA and an EC key, as most token tests need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey, RSAKey

from gateway.auth.registry import Registry
from gateway.db.session import Database
from tests.support.smart import ec_key, public_jwks, rsa_key

TOKEN_URL = "http://testserver/auth/token"


@dataclass
class Agency:
    client_id: str
    rsa: RSAKey
    ec: ECKey


@pytest.fixture(scope="session")
def agency_keys() -> tuple[RSAKey, ECKey]:
    return rsa_key("rsa-1"), ec_key("ec-1")


def register(db: Database, client_id: str, jwks: Any, **kw: Any) -> None:
    with db.unit_of_work() as session:
        registry = Registry(session)
        if registry.repo.agency("panhandle-er") is None:
            registry.add_agency("panhandle-er", "hospital", "Panhandle Regional Hospital")
        registry.add_client(
            client_id,
            "panhandle-er",
            kw.pop("role", "hospital_ehr"),
            kw.pop("scope", "system/Patient.rs system/Observation.rs"),
            jwks=jwks,
            purposes=kw.pop("purposes", ["TREAT", "HOPERAT"]),
            **kw,
        )


@pytest.fixture()
def ehr(db: Database, agency_keys: tuple[RSAKey, ECKey]) -> Agency:
    rsa, ec = agency_keys
    register(db, "panhandle-ehr", public_jwks(rsa, ec))
    return Agency("panhandle-ehr", rsa, ec)


def get_token(client: TestClient, form: dict[str, str]) -> Any:
    return client.post("/auth/token", data=form)
