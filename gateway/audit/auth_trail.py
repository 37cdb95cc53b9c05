"""Audit of trust: token issuance and refusal, sign-in, failed sign-in, lockout and sign-out, and
changes to agencies, clients, users and keys (DCM 110114 User Authentication, IHE ITI-71, DCM 110113
with 110129 / 110137).

Every event goes into the unit of work of the change it records, so a token is not issued, a person
is not signed in and a registry change does not stand unless its event is written too (fail closed).
Refusals are recorded as well; no secret (password, client assertion, authorization code, access
token) ever enters an event: only ids, scopes and the reason given to the caller.
"""

from __future__ import annotations

import getpass
import logging
import os
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from fastapi import Request
from joserfc import jws
from joserfc.errors import JoseError
from sqlalchemy.orm import Session

from gateway.audit.codes import OUTCOME_MAJOR, OUTCOME_MINOR, outcome_for_status
from gateway.audit.context import request_id
from gateway.audit.events import AuditContext
from gateway.audit.log import AuditLog, get_audit_log
from gateway.audit.security import ConfigChange
from gateway.auth.tokens import InvalidToken
from gateway.db.session import Database

log = logging.getLogger("gateway.audit")

MAX_CLAIMED_ID = 128
TOKEN_UNAVAILABLE = {
    "error": "temporarily_unavailable",
    "error_description": "the token request could not be recorded in the audit log, so no token "
    "was issued; retry later",
}
LOGIN_UNAVAILABLE = (
    "signing in is unavailable right now because it could not be recorded in the audit log; "
    "try again later"
)
Action = Literal["C", "U", "D"]
# OAuth errors that mean the caller failed to prove who it is or what it holds (outcome 8).
_AUTH_FAILURES = frozenset(
    {"invalid_client", "invalid_grant", "unauthorized_client", "access_denied"}
)


CLI_CLIENT = "gateway-cli"


def cli_context() -> AuditContext:
    """The operator at a shell: the ``gateway`` command as the client, the OS account as the person
    (it is what the host's own logs name), and a fresh request id per command."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        who = f"uid:{os.getuid()}"
    return AuditContext(client_id=CLI_CLIENT, user=f"os:{who}"[:128], request_id=str(uuid.uuid4()))


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _printable(value: Any) -> str | None:
    if not isinstance(value, str) or not value or not value.isprintable():
        return None
    return value[:MAX_CLAIMED_ID]


def claimed_client(form: Mapping[str, str]) -> str | None:
    """The client id a refused token request claims: the ``client_id`` field, else the ``sub`` of the
    (unverified) client assertion. Only the id is kept, never the assertion itself."""
    if _printable(form.get("client_id")):
        return _printable(form.get("client_id"))
    assertion = form.get("client_assertion")
    if not assertion:
        return None
    try:
        claims = orjson.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, TypeError, orjson.JSONDecodeError):
        return None
    return _printable(claims.get("sub")) if isinstance(claims, dict) else None


def record_token(
    request: Request,
    session: Session,
    form: Mapping[str, str],
    status: int,
    body: Any,
) -> None:
    """Append the ITI-71 event for one token request to ``session`` (raises
    :class:`~gateway.audit.errors.AuditUnavailable` if it cannot be written)."""
    audit = get_audit_log(request.app.state)
    rid, address = request_id(request), _address(request)
    body = body if isinstance(body, dict) else {}
    if status == 200 and "access_token" in body:
        try:
            caller = request.app.state.tokens.verify(str(body["access_token"]))
        except InvalidToken:  # cannot happen for a token just signed; refuse rather than guess
            caller = None
        if caller is not None:
            ctx = AuditContext.from_caller(caller, request_id=rid, address=address)
            event = audit.events.authentication(
                ctx, "token", success=True, scope=caller.scope_text or None
            )
            audit.append(session, event)
            return
    ctx = AuditContext(client_id=claimed_client(form), request_id=rid, address=address)
    reason = str(body.get("error_description") or body.get("error") or "refused")
    event = audit.events.authentication(
        ctx,
        "token",
        success=False,
        outcome_desc=f"{body.get('error', 'refused')}: {reason}"[:300],
        scope=_printable(form.get("scope")),
    )
    if body.get("error") not in _AUTH_FAILURES:  # a malformed request rather than a failed proof
        event["outcome"] = OUTCOME_MINOR if status < 500 else OUTCOME_MAJOR
    audit.append(session, event)


def record_token_refusal(request: Request, status: int, body: dict[str, Any]) -> None:
    """A token request refused before it could be read (its own unit of work; the refusal stands
    whether or not this can be written, and a failure is logged)."""
    db = request.app.state.db
    try:
        with db.unit_of_work() as session:
            record_token(request, session, {}, status, body)
    except Exception as exc:
        log.error("audit of a refused token request failed: %s", type(exc).__name__)


def login_context(
    request: Request,
    *,
    client_id: str | None,
    username: str | None,
    agency: str | None = None,
    role: str | None = None,
) -> AuditContext:
    """Who is signing in: the console client, and the person when the username is registered (an
    unknown username is left out: people type passwords into the wrong field)."""
    return AuditContext(
        client_id=_printable(client_id),
        user=username,
        agency=agency,
        role=role,
        request_id=request_id(request),
        address=_address(request),
    )


def record_login(
    audit: AuditLog,
    session: Session,
    ctx: AuditContext,
    *,
    success: bool,
    reason: str | None = None,
    locked: str | None = None,
) -> None:
    """A sign-in (DCM 110122), its failure, and a lockout it caused (DCM 110137 on the user)."""
    audit.append(
        session, audit.events.authentication(ctx, "login", success=success, outcome_desc=reason)
    )
    if locked and ctx.user:
        audit.append(
            session,
            audit.events.configuration(ctx, "user", ctx.user, action="U", outcome_desc=locked),
        )


def record_logout(audit: AuditLog, session: Session, ctx: AuditContext) -> None:
    audit.append(session, audit.events.authentication(ctx, "logout", success=True))


def record_change(
    audit: AuditLog,
    session: Session,
    ctx: AuditContext,
    change: ConfigChange,
    target: str,
    action: Action,
    *,
    detail: str | None = None,
) -> None:
    """A registry or key change that succeeded, in the change's own unit of work."""
    event = audit.events.configuration(ctx, change, target, action=action, outcome_desc=detail)
    audit.append(session, event)


def record_refused_change(
    audit: AuditLog,
    db: Database,
    ctx: AuditContext,
    change: ConfigChange,
    target: str,
    action: Action,
    *,
    status: int,
    reason: str,
) -> None:
    """A change that was refused (its own unit of work: the refused one rolled back). The refusal
    stands whether or not this can be written; a failure is logged."""
    event = audit.events.configuration(
        ctx, change, target, action=action, success=False, outcome_desc=reason[:300]
    )
    event["outcome"] = outcome_for_status(status)
    try:
        audit.record(db, event)
    except Exception as exc:  # the refusal stands either way
        log.error("audit of a refused change failed: %s", type(exc).__name__)
