"""The one dependency every API endpoint uses to learn who is calling: a valid bearer token.

401 with ``WWW-Authenticate`` (RFC 6750 §3) when the token is missing or invalid; the scope ceiling is
checked per interaction with :func:`require` (403 ``OperationOutcome``).
"""

from __future__ import annotations

from fastapi import Request

from gateway.auth.schemas import Caller
from gateway.auth.tokens import InvalidToken
from gateway.fhir.errors import Forbidden, Unauthorized

REALM = 'Bearer realm="crisis-exchange-gateway"'


def get_caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("a bearer access token is required", headers={"WWW-Authenticate": REALM})
    try:
        caller: Caller = request.app.state.tokens.verify(value.strip())
    except InvalidToken as exc:
        raise Unauthorized(
            str(exc),
            headers={
                "WWW-Authenticate": f'{REALM}, error="invalid_token", error_description="{exc}"'
            },
        ) from None
    request.state.caller = caller
    return caller


def require(caller: Caller, interaction: str, resource_type: str) -> None:
    """Refuse with 403 unless the caller's scopes cover the interaction on the type."""
    if not caller.may(interaction, resource_type):
        raise Forbidden(
            f"the token's scopes do not allow '{interaction}' on {resource_type}", code="forbidden"
        )


def require_role(caller: Caller, *roles: str) -> None:
    if caller.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}", code="forbidden")
