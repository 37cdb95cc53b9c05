"""Registering agencies, system clients and people (used by the CLI and the admin API)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from gateway.auth.passwords import WeakPassword, hash_password
from gateway.auth.repository import AuthRepository
from gateway.auth.roles import AGENCY_KINDS, PURPOSES, ROLES
from gateway.auth.scopes import parse_scope
from gateway.db.tables_auth import AgencyRow, ClientRow, UserRow
from gateway.fhir.errors import Conflict, InvalidRequest, NotFound


def _choice(value: str, allowed: frozenset[str], what: str) -> str:
    if value not in allowed:
        raise InvalidRequest(f"{what} must be one of {', '.join(sorted(allowed))}", expression=what)
    return value


def check_jwks(jwks: Any) -> str:
    """Validate a public JWKS document; refuse private keys and symmetric keys."""
    if isinstance(jwks, str | bytes):
        try:
            jwks = orjson.loads(jwks)
        except orjson.JSONDecodeError:
            raise InvalidRequest("the JWKS is not valid JSON", expression="jwks") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise InvalidRequest("a JWKS is an object with a non-empty 'keys' list", expression="jwks")
    for i, key in enumerate(jwks["keys"]):
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise InvalidRequest(
                "only RSA and EC public keys are accepted", expression=f"jwks.keys[{i}]"
            )
        if "d" in key:
            raise InvalidRequest(
                "the JWKS holds a private key; register public keys only",
                expression=f"jwks.keys[{i}]",
            )
        if not key.get("kid"):
            raise InvalidRequest("every key needs a kid", expression=f"jwks.keys[{i}]")
    try:
        KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError):
        raise InvalidRequest("the JWKS keys cannot be read", expression="jwks") from None
    return orjson.dumps(jwks).decode()


def check_scope(scope: str) -> str:
    parts = scope.split()
    if not parts:
        raise InvalidRequest("at least one scope is needed", expression="scope")
    for part in parts:
        if parse_scope(part) is None:
            raise InvalidRequest(
                f"{part!r} is not a SMART v2 scope like system/Patient.rs", expression="scope"
            )
    return " ".join(parts)


class Registry:
    def __init__(self, session: Session) -> None:
        self.repo = AuthRepository(session)

    def add_agency(self, agency_id: str, kind: str, name: str, *, demo: bool = False) -> AgencyRow:
        _choice(kind, AGENCY_KINDS, "kind")
        if self.repo.agency(agency_id) is not None:
            raise Conflict(f"agency {agency_id} is already registered")
        row = AgencyRow(id=agency_id, kind=kind, name=name, demo=demo, created_at=time.time())
        self.repo.add(row)
        return row

    def _agency(self, agency_id: str) -> AgencyRow:
        agency = self.repo.agency(agency_id)
        if agency is None:
            raise NotFound(f"agency {agency_id} is not registered", expression="agency")
        return agency

    def add_client(
        self,
        client_id: str,
        agency_id: str,
        role: str,
        scope: str,
        *,
        jwks: Any = None,
        jwks_url: str | None = None,
        purposes: list[str] | None = None,
        public: bool = False,
        redirect_uris: list[str] | None = None,
        demo: bool = False,
    ) -> ClientRow:
        self._agency(agency_id)
        _choice(role, ROLES, "role")
        if self.repo.client(client_id) is not None:
            raise Conflict(f"client {client_id} is already registered")
        if not public and (jwks is None) == (jwks_url is None):
            raise InvalidRequest("give exactly one of a JWKS or a JWKS URL", expression="jwks")
        if jwks_url is not None and not jwks_url.startswith(
            ("https://", "http://127.0.0.1", "http://localhost")
        ):
            raise InvalidRequest("a JWKS URL must use https", expression="jwks_url")
        for purpose in purposes or []:
            _choice(purpose, PURPOSES, "purpose")
        now = time.time()
        row = ClientRow(
            client_id=client_id,
            agency_id=agency_id,
            role=role,
            scope=check_scope(scope),
            jwks=check_jwks(jwks) if jwks is not None else None,
            jwks_url=jwks_url,
            purposes=",".join(purposes or []),
            public=public,
            redirect_uris=" ".join(redirect_uris or []),
            demo=demo,
            created_at=now,
            updated_at=now,
        )
        self.repo.add(row)
        return row

    def client(self, client_id: str) -> ClientRow:
        row = self.repo.client(client_id)
        if row is None:
            raise NotFound(f"client {client_id} is not registered")
        return row

    def set_client_keys(
        self, client_id: str, *, jwks: Any = None, jwks_url: str | None = None
    ) -> ClientRow:
        row = self.client(client_id)
        if (jwks is None) == (jwks_url is None):
            raise InvalidRequest("give exactly one of a JWKS or a JWKS URL", expression="jwks")
        row.jwks = check_jwks(jwks) if jwks is not None else None
        row.jwks_url = jwks_url
        row.updated_at = time.time()
        self.repo.add(row)
        return row

    def set_client_enabled(self, client_id: str, enabled: bool) -> ClientRow:
        row = self.client(client_id)
        row.enabled, row.updated_at = enabled, time.time()
        self.repo.add(row)
        return row

    def add_user(
        self, username: str, agency_id: str, role: str, password: str, *, demo: bool = False
    ) -> UserRow:
        self._agency(agency_id)
        _choice(role, ROLES, "role")
        if self.repo.user(username) is not None:
            raise Conflict(f"user {username} is already registered")
        now = time.time()
        row = UserRow(
            username=username,
            agency_id=agency_id,
            role=role,
            password_hash=self._hash(password),
            demo=demo,
            created_at=now,
            password_changed_at=now,
        )
        self.repo.add(row)
        return row

    def user(self, username: str) -> UserRow:
        row = self.repo.user(username)
        if row is None:
            raise NotFound(f"user {username} is not registered")
        return row

    def set_user_enabled(self, username: str, enabled: bool) -> UserRow:
        row = self.user(username)
        row.enabled = enabled
        if enabled:
            row.failed_logins, row.locked_until = 0, 0.0
        self.repo.add(row)
        return row

    def set_password(self, username: str, password: str) -> UserRow:
        row = self.user(username)
        row.password_hash = self._hash(password)
        row.password_changed_at = time.time()
        row.failed_logins, row.locked_until = 0, 0.0
        self.repo.add(row)
        return row

    @staticmethod
    def _hash(password: str) -> str:
        try:
            return hash_password(password)
        except WeakPassword as exc:
            raise InvalidRequest(str(exc), expression="password") from None
