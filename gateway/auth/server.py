"""authlib's ``AuthorizationServer`` wrapped for Starlette/FastAPI (authlib has no FastAPI server).

Grants: SMART Backend Services (``client_credentials`` + ``private_key_jwt``) for agency systems, and
authorization code with PKCE (``S256`` only, RFC 7636 §4.2) for people signing in to the web console.
The database session for one request travels in a context variable, so the server object itself is
shared and stateless.
"""

from __future__ import annotations

import os
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from sqlalchemy.orm import Session

from gateway.auth.assertion import ASSERTION_CLAIMS, SmartClientAssertion
from gateway.auth.repository import AuthRepository
from gateway.auth.roles import DEFAULT_PURPOSE, PURPOSES
from gateway.auth.scopes import intersect_scopes
from gateway.auth.tokens import TokenService
from gateway.db.tables_auth import AuthCodeRow, ClientRow, UserRow

CURRENT_SESSION: ContextVar[Session | None] = ContextVar("auth_session", default=None)
CODE_LIFETIME = 60


def _repo() -> AuthRepository:
    session = CURRENT_SESSION.get()
    if session is None:
        raise RuntimeError("no database session bound to this token request")
    return AuthRepository(session)


class GatewayRequest(OAuth2Request):
    """An OAuth2Request built from an already-read Starlette form and query."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: dict[str, str],
        form: dict[str, str],
        args: dict[str, str],
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._form, self._args = form, args
        self.payload = BasicOAuth2Payload({**args, **form})

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return self._args


@dataclass
class RegisteredClient(ClientMixin):
    row: ClientRow
    agency_kind: str | None = None

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.row.redirect_uris.split()
        return uris[0] if uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return intersect_scopes(scope or self.row.scope, self.row.scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris.split()

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == ("none" if self.row.public else "private_key_jwt")

    def check_response_type(self, response_type: str) -> bool:
        return self.row.public and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == ("authorization_code" if self.row.public else "client_credentials")


def granted_purposes(claims: dict[str, Any], row: ClientRow) -> list[str]:
    """The hl7-b2b purpose_of_use asserted, limited to what is registered for the client."""
    registered = [p for p in row.purposes.split(",") if p]
    b2b = (
        ((claims.get("extensions") or {}).get("hl7-b2b") or {})
        if isinstance(claims.get("extensions"), dict)
        else {}
    )
    asked = b2b.get("purpose_of_use") if isinstance(b2b, dict) else None
    if asked is None:
        default = registered[0] if registered else DEFAULT_PURPOSE.get(row.role, "TREAT")
        return [default]
    if isinstance(asked, str):
        asked = [asked]
    codes = [str(a).rsplit("#", 1)[-1].rsplit("|", 1)[-1] for a in asked]
    refused = [c for c in codes if c not in PURPOSES or c not in registered]
    if refused or not codes:
        raise InvalidGrantError(
            description="a purpose of use asserted is not registered for this client"
        )
    return codes


def _subject(claims: dict[str, Any]) -> str | None:
    ext = claims.get("extensions")
    b2b = ext.get("hl7-b2b") if isinstance(ext, dict) else None
    subject = b2b.get("subject_id") if isinstance(b2b, dict) else None
    return str(subject)[:128] if subject else None


class BackendServicesGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt"]

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client: RegisteredClient = self.request.client
        scope = intersect_scopes(self.request.payload.scope or client.row.scope, client.row.scope)
        if not scope:
            raise InvalidScopeError(
                description="none of the requested scopes is registered for this client"
            )
        claims = ASSERTION_CLAIMS.get() or {}
        purposes = granted_purposes(claims, client.row)
        server: GatewayAuthorizationServer = self.server
        token = server.tokens.issue(
            client_id=client.row.client_id,
            agency=client.row.agency_id,
            role=client.row.role,
            scope=scope,
            purposes=purposes,
            user=_subject(claims),
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class S256Challenge(CodeChallenge):
    """PKCE with S256 only: ``plain`` and a missing challenge are refused (SMART App Launch v2)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("code_challenge is required (PKCE)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: Any) -> str:
        return str(authorization_code.row.code_challenge)

    def get_authorization_code_challenge_method(self, authorization_code: Any) -> str:
        return str(authorization_code.row.code_challenge_method)


@dataclass
class StoredCode:
    row: AuthCodeRow

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


class ConsoleCodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        _repo().save_code(
            AuthCodeRow(
                code=code,
                client_id=request.client.row.client_id,
                username=request.user.username,
                redirect_uri=data.get("redirect_uri") or "",
                scope=request.scope or "",
                code_challenge=data.get("code_challenge", ""),
                code_challenge_method=data.get("code_challenge_method", ""),
                expires_at=time.time() + CODE_LIFETIME,
            )
        )

    def query_authorization_code(self, code: str, client: RegisteredClient) -> StoredCode | None:
        row = _repo().take_code(code, client.row.client_id, time.time())
        return StoredCode(row) if row is not None else None

    def delete_authorization_code(self, authorization_code: Any) -> None:
        return None  # taken (deleted) when it was looked up: a code works once

    def authenticate_user(self, authorization_code: StoredCode) -> UserRow | None:
        user = _repo().user(authorization_code.row.username)
        return user if user is not None and user.enabled else None

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        code: StoredCode = self.request.authorization_code
        user = self.authenticate_user(code)
        if user is None:
            raise InvalidGrantError(description="the user is disabled")
        server: GatewayAuthorizationServer = self.server
        token = server.tokens.issue(
            client_id=code.row.client_id,
            agency=user.agency_id,
            role=user.role,
            scope=code.row.scope,
            purposes=[DEFAULT_PURPOSE.get(user.role, "TREAT")],
            user=user.username,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class GatewayAuthorizationServer(AuthorizationServer):
    def __init__(self, tokens: TokenService, token_url: str) -> None:
        super().__init__(scopes_supported=None)
        self.tokens = tokens
        if not token_url.startswith("https://"):
            # Development and tests run over plain HTTP on loopback; production settings require https.
            os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
        self.register_client_auth_method(
            SmartClientAssertion.CLIENT_AUTH_METHOD, SmartClientAssertion(token_url, _repo)
        )
        self.register_grant(BackendServicesGrant)
        self.register_grant(ConsoleCodeGrant, [S256Challenge(required=True)])

    def query_client(self, client_id: str) -> RegisteredClient | None:
        row = _repo().client(client_id)
        if row is None or not row.enabled:
            return None
        return RegisteredClient(row)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        return None  # access tokens are self-contained signed JWTs

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def handle_response(
        self, status: int, body: Any, headers: Any
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers or [])

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)
