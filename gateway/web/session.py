"""The console session: who is signed in, kept in an encrypted, HttpOnly cookie.

The access token the gateway's own login issued stays on the server side of the browser: the cookie
holds it sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the gateway's current
token-signing key, so the browser can neither read it nor use it as a bearer token, and every
replica that shares the key directory can open it (no session table, nothing held in a process).
A rotated-away signing key ends the sessions sealed with it; the person is signed in again through
``/auth/authorize`` (silently while their login session is fresh).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Request
from fastapi.responses import Response

from gateway.auth.keys import KeyStore

SESSION_COOKIE = "gw_console"
PENDING_COOKIE = "gw_console_login"
COOKIE_PATH = "/console"
_INFO = b"crisis-exchange-gateway console session v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sealer:
    """Seals and opens small JSON payloads with a key derived from a token-signing key."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self._derived: dict[str, AESGCM] = {}

    def _aead(self, kid: str) -> AESGCM | None:
        if kid not in self._derived:
            key = self.keys.find(kid)
            if key is None:
                return None
            material = key.as_bytes(private=True)
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
                material
            )
            self._derived[kid] = AESGCM(derived)
        return self._derived[kid]

    def seal(self, payload: dict[str, Any], purpose: str) -> str:
        kid = self.keys.current.kid
        aead = self._aead(kid)
        assert aead is not None  # the current key is always known
        nonce = secrets.token_bytes(12)
        sealed = aead.encrypt(nonce, orjson.dumps(payload), purpose.encode())
        return f"{kid}.{_b64(nonce + sealed)}"

    def open(self, value: str | None, purpose: str) -> dict[str, Any] | None:
        """The payload, or None when the value is missing, forged, or sealed with a retired key."""
        if not value or "." not in value or len(value) > 8192:
            return None
        kid, _, body = value.partition(".")
        try:
            raw = _unb64(body)
            aead = self._aead(kid)
            if aead is None or len(raw) < 13:
                return None
            data = orjson.loads(aead.decrypt(raw[:12], raw[12:], purpose.encode()))
        except (ValueError, InvalidTag, orjson.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in person's session: the access token and the CSRF token of their forms."""

    token: str
    csrf: str

    def payload(self) -> dict[str, str]:
        return {"t": self.token, "c": self.csrf}


def sealer(request: Request) -> Sealer:
    state = request.app.state
    found = getattr(state, "console_sealer", None)
    if found is None:
        found = Sealer(state.keys)
        state.console_sealer = found
    return found


def secure_cookies(request: Request) -> bool:
    """Secure cookies everywhere but plain-HTTP local development (production requires https)."""
    return str(request.app.state.settings.base_url).startswith("https://")


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        secure=secure_cookies(request),
        samesite="lax",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, secure=secure_cookies(request), samesite="lax"
    )


def read_session(request: Request) -> ConsoleSession | None:
    data = sealer(request).open(request.cookies.get(SESSION_COOKIE), SESSION_COOKIE)
    if data is None or not isinstance(data.get("t"), str) or not isinstance(data.get("c"), str):
        return None
    return ConsoleSession(token=data["t"], csrf=data["c"])


def write_session(response: Response, request: Request, session: ConsoleSession) -> None:
    minutes = request.app.state.settings.session_minutes
    value = sealer(request).seal(session.payload(), SESSION_COOKIE)
    set_cookie(response, request, SESSION_COOKIE, value, minutes * 60)
