"""The benchmark as an agency system: a registered SMART Backend Services client with its own key.

It registers (or re-keys) one hospital EHR client in the benchmark database through the gateway's
registry, then obtains access tokens the way a real agency system does: a ``private_key_jwt`` client
assertion (ES384) posted to ``/auth/token`` with ``grant_type=client_credentials``. Tokens live at
most 300 s, so the benchmark asks for a fresh one before each scenario.
"""

from __future__ import annotations

import time
import uuid

import httpx
from fhir_data import AGENCIES_HOLDING, READER_AGENCY
from joserfc import jwt
from joserfc.jwk import ECKey

AGENCY = READER_AGENCY
CLIENT_ID = "bench-ehr"
SCOPE = "system/Patient.cruds system/Encounter.cruds system/Observation.cruds"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class BenchClient:
    """Holds the private key; the gateway holds only the public JWKS."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-384", parameters={"kid": uuid.uuid4().hex, "alg": "ES384"})

    def register(self, database_url: str) -> None:
        """Register the agency and client, or replace the client's keys if it exists already."""
        from gateway.auth.registry import Registry
        from gateway.db.session import Database

        jwks = {"keys": [self.key.as_dict(private=False)]}
        db = Database(database_url, pool_size=1)
        try:
            with db.unit_of_work() as session:
                registry = Registry(session)
                for agency, kind, name, _ in AGENCIES_HOLDING:
                    if registry.repo.agency(agency) is None:
                        registry.add_agency(agency, kind, name)
                if registry.repo.client(CLIENT_ID) is None:
                    registry.add_client(
                        CLIENT_ID, AGENCY, "hospital_ehr", SCOPE, jwks=jwks, purposes=["TREAT"]
                    )
                else:
                    registry.set_client_keys(CLIENT_ID, jwks=jwks)
        finally:
            db.dispose()

    def token(self, base_url: str) -> str:
        """A fresh access token from the running gateway at ``base_url``."""
        token_url = base_url.rstrip("/") + "/auth/token"
        now = int(time.time())
        claims = {
            "iss": CLIENT_ID,
            "sub": CLIENT_ID,
            "aud": token_url,
            "iat": now,
            "exp": now + 240,
            "jti": uuid.uuid4().hex,
        }
        header = {"alg": "ES384", "typ": "JWT", "kid": self.key.kid}
        assertion = jwt.encode(header, claims, self.key, algorithms=["ES384"])
        form = {
            "grant_type": "client_credentials",
            "scope": SCOPE,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        response = httpx.post(token_url, data=form, timeout=30.0)
        if response.status_code != 200:
            raise RuntimeError(
                f"token request refused: {response.status_code} {response.text[:300]}"
            )
        return str(response.json()["access_token"])
