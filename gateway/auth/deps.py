"""The one dependency every API endpoint uses to learn who is calling.

Until the token service lands this yields a development caller holding ``system/*.cruds``; the
endpoints only ever see :class:`Caller`, so plugging real token checks in changes nothing else.
"""

from __future__ import annotations

from fastapi import Request

from gateway.auth.schemas import Caller
from gateway.fhir.errors import Forbidden

DEVELOPMENT_CALLER = Caller.with_scope("development", "system/*.cruds", role="gateway_admin")


def get_caller(request: Request) -> Caller:
    caller = getattr(request.state, "caller", None)
    return caller if isinstance(caller, Caller) else DEVELOPMENT_CALLER


def require(caller: Caller, interaction: str, resource_type: str) -> None:
    """Refuse with 403 unless the caller's scopes cover the interaction on the type."""
    if not caller.may(interaction, resource_type):
        raise Forbidden(
            f"the token's scopes do not allow '{interaction}' on {resource_type}", code="forbidden"
        )
