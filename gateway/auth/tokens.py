"""Access tokens: signed JWTs in the RFC 9068 shape, living at most 300 s, no refresh tokens.

Verification is cached per token string until the token expires, so a client re-using its token pays
for the signature check once.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from gateway.auth.keys import ALGORITHM, KeyStore
from gateway.auth.schemas import Caller
from gateway.auth.scopes import parse_scopes

_CACHE_SIZE = 20_000


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, forged or for someone else."""


class TokenService:
    def __init__(self, keys: KeyStore, *, issuer: str, audience: str, lifetime: int = 300) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.lifetime = min(lifetime, 300)
        self._cache: OrderedDict[str, tuple[float, Caller]] = OrderedDict()
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        client_id: str,
        agency: str | None,
        role: str | None,
        scope: str,
        purposes: list[str],
        user: str | None = None,
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user or client_id,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": secrets.token_urlsafe(16),
            "client_id": client_id,
            "scope": scope,
            "agency": agency,
            "role": role,
            "purpose_of_use": purposes,
        }
        if user:
            claims["subject_id"] = user
        key = self.keys.current
        token = jwt.encode(
            {"alg": ALGORITHM, "kid": key.kid, "typ": "at+jwt"},
            claims,
            key.key,
            algorithms=[ALGORITHM],
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "scope": scope,
        }

    def verify(self, token: str) -> Caller:
        now = time.time()
        with self._lock:
            hit = self._cache.get(token)
        if hit is not None:
            if hit[0] > now:
                return hit[1]
            with self._lock:
                self._cache.pop(token, None)
            raise InvalidToken("the access token has expired")
        claims = self._decode(token, now)
        caller = Caller(
            client_id=str(claims["client_id"]),
            agency=claims.get("agency"),
            role=claims.get("role"),
            user=claims.get("subject_id"),
            purposes=tuple(claims.get("purpose_of_use") or ()),
            scope_text=str(claims.get("scope", "")),
            token_id=str(claims.get("jti")),
            scopes=parse_scopes(str(claims.get("scope", ""))),
        )
        with self._lock:
            self._cache[token] = (float(claims["exp"]), caller)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return caller

    def introspect(self, token: str) -> dict[str, Any]:
        try:
            claims = self._decode(token, time.time())
        except InvalidToken:
            return {"active": False}
        out = {"active": True, "token_type": "Bearer"}
        for name in (
            "scope",
            "client_id",
            "exp",
            "iat",
            "iss",
            "sub",
            "aud",
            "jti",
            "agency",
            "role",
            "purpose_of_use",
            "subject_id",
        ):
            if name in claims:
                out[name] = claims[name]
        return out

    def _decode(self, token: str, now: float) -> dict[str, Any]:
        try:
            header = jws.extract_compact(token.encode()).headers()  # unverified: picks the key
        except (JoseError, ValueError, TypeError):
            raise InvalidToken("the access token is not a JWT") from None
        if header.get("alg") != ALGORITHM or header.get("typ") != "at+jwt":
            raise InvalidToken("the access token was not issued by this gateway")
        key = self.keys.find(str(header.get("kid", "")))
        if key is None:
            raise InvalidToken("the access token was not issued by this gateway")
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
        except (JoseError, ValueError, TypeError):
            raise InvalidToken("the access token's signature does not verify") from None
        if claims.get("iss") != self.issuer or claims.get("aud") != self.audience:
            raise InvalidToken("the access token was issued for another server")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= now:
            raise InvalidToken("the access token has expired")
        if not claims.get("client_id"):
            raise InvalidToken("the access token names no client")
        return claims
