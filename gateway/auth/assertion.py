"""SMART Backend Services client authentication: ``private_key_jwt`` (RFC 7523 §2.2, SMART App Launch
v2 "client-confidential-asymmetric").

authlib's ``JWTBearerClientAssertion`` decodes with joserfc's default algorithm list, which excludes
RS384/ES384, and it does not cap the assertion lifetime. This subclass names the algorithms, caps
``exp`` at five minutes, requires exactly one registered key matching ``kid`` and ``kty``, accepts
``jku`` only when it equals the registered JWKS URL, and remembers every ``jti`` in the database.
Every failure is ``invalid_client``.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

import httpx
import orjson
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from gateway.auth.repository import AuthRepository

ALGORITHMS = {"RS384": "RSA", "ES384": "EC"}
MAX_LIFETIME = 300
CLOCK_SKEW = 30
ASSERTION_CLAIMS: ContextVar[dict[str, Any] | None] = ContextVar("assertion_claims", default=None)


def _fail(description: str) -> InvalidClientError:
    return InvalidClientError(description=description)


def fetch_jwks(url: str) -> dict[str, Any]:
    """Fetch a client's registered JWKS URL (short timeout; failures refuse the client)."""
    try:
        response = httpx.get(url, timeout=5.0, follow_redirects=False)
        response.raise_for_status()
        return dict(orjson.loads(response.content))
    except (httpx.HTTPError, orjson.JSONDecodeError, TypeError, ValueError):
        raise _fail("the client's registered JWKS URL could not be read") from None


class SmartClientAssertion(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, token_url: str, repo_factory: Any) -> None:
        super().__init__(validate_jti=True, leeway=CLOCK_SKEW)
        self._token_url = token_url
        self._repo_factory = repo_factory

    def get_audiences(self) -> list[str]:
        return [self._token_url]

    def __call__(self, query_client: Any, request: Any) -> Any:
        data = request.form
        if data.get("client_assertion_type") != self.CLIENT_ASSERTION_TYPE:
            return None
        assertion = data.get("client_assertion")
        if not assertion:
            raise _fail("client_assertion is missing")
        header, claims = self.extract_assertion(assertion)
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise _fail("the assertion must be signed with RS384 or ES384")
        if header.get("typ") not in (None, "JWT"):
            raise _fail("the assertion's typ must be JWT")
        client_id = claims.get("sub")
        if not isinstance(client_id, str) or claims.get("iss") != client_id:
            raise _fail("iss and sub must both be the client_id")
        client = query_client(client_id)
        if client is None:
            raise _fail("the client is not registered or is disabled")
        key = self._pick_key(client, header, ALGORITHMS[alg])
        try:
            token = jwt.decode(assertion, key, algorithms=[alg])
        except JoseError:
            raise _fail("the assertion's signature does not verify") from None
        self.verify_claims(token.claims)
        request.client = client
        ASSERTION_CLAIMS.set(dict(token.claims))
        return self.authenticate_client(client)

    def _pick_key(self, client: Any, header: dict[str, Any], kty: str) -> RSAKey | ECKey:
        row = client.row
        jku = header.get("jku")
        if jku is not None and (row.jwks_url is None or jku != row.jwks_url):
            raise _fail("jku is not the JWKS URL registered for this client")
        kid = header.get("kid")
        if not kid:
            raise _fail("the assertion header has no kid")
        jwks = orjson.loads(row.jwks) if row.jwks else fetch_jwks(row.jwks_url)
        matches = [
            k
            for k in jwks.get("keys", [])
            if isinstance(k, dict) and k.get("kid") == kid and k.get("kty") == kty
        ]
        if len(matches) != 1:
            raise _fail("exactly one registered key must match the assertion's kid and kty")
        try:
            key = KeySet.import_key_set({"keys": matches}).keys[0]
        except (JoseError, ValueError, TypeError):
            raise _fail("the registered key cannot be read") from None
        if not isinstance(key, RSAKey | ECKey):
            raise _fail("the registered key is not RSA or EC")
        return key

    def verify_claims(self, claims: Any) -> None:
        super().verify_claims(
            claims
        )  # iss, sub, aud, exp (with skew), iss == sub, jti present + unseen
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp > time.time() + MAX_LIFETIME + CLOCK_SKEW:
            raise _fail("exp must be at most five minutes ahead")
        aud = claims.get("aud")
        if aud != self._token_url and not (isinstance(aud, list) and aud == [self._token_url]):
            raise _fail("aud must be the token endpoint URL")

    def validate_jti(self, claims: Any, jti: Any) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        repo: AuthRepository = self._repo_factory()
        now = time.time()
        return repo.remember_jti(str(claims["sub"]), jti, float(claims["exp"]), now)
