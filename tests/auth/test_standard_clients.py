"""A standard client gets a token with no project code (authlib's PrivateKeyJWT, RS384 and ES384)
and fhirpy reads and searches with it, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from fhirpy import SyncFHIRClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.settings import Settings
from tests.auth.conftest import register
from tests.support.live import free_port, live_server
from tests.support.smart import ec_key, public_jwks, rsa_key


@pytest.fixture()
def server(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        settings.with_overrides(base_url=base), db=db, keys=keystore, sharing_rules=False
    )
    with live_server(app, port) as url:
        yield url


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_authlib_and_fhirpy_work_unchanged(server: str, db: Database, alg: str) -> None:
    key = rsa_key("k1") if alg == "RS384" else ec_key("k1")
    register(db, "std-client", public_jwks(key), scope="system/Patient.cruds")
    token_url = f"{server}/auth/token"
    session = OAuth2Session(
        client_id="std-client",
        client_secret=key,
        token_endpoint_auth_method="private_key_jwt",
        scope="system/Patient.cruds",
    )
    # authlib's default assertion lifetime is an hour; SMART caps it at five minutes.
    smart_claims = {"exp": int(time.time()) + 240}
    session.register_client_auth_method(
        PrivateKeyJWT(token_url, alg=alg, headers={"kid": "k1"}, claims=smart_claims)
    )
    token = session.fetch_token(token_url, grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer"

    fhir = SyncFHIRClient(f"{server}/fhir", authorization=f"Bearer {token['access_token']}")
    patient = fhir.resource(
        "Patient", name=[{"family": "Okonkwo", "given": ["Ada"]}], gender="female"
    )
    patient.save()
    assert patient.id
    found = fhir.resources("Patient").search(family="okonkwo").fetch()
    assert [p.id for p in found] == [patient.id]
    again = fhir.reference("Patient", patient.id).to_resource()
    assert again["gender"] == "female"
