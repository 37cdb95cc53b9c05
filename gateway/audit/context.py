"""The audit context of an HTTP request: the caller, the request id and the peer address."""

from __future__ import annotations

import uuid

from fastapi import Request

from gateway.audit.events import AuditContext
from gateway.auth.schemas import Caller

REQUEST_ID_HEADER = "x-request-id"


def request_id(request: Request) -> str:
    """The client's ``X-Request-Id`` (BALP XrequestId), or one made up for this request."""
    known = getattr(request.state, "request_id", None)
    if known is None:
        sent = request.headers.get(REQUEST_ID_HEADER, "").strip()
        known = sent[:64] if sent and sent.isprintable() else str(uuid.uuid4())
        request.state.request_id = known
    return str(known)


def audit_context(request: Request, caller: Caller) -> AuditContext:
    address = request.client.host if request.client else None
    return AuditContext.from_caller(caller, request_id=request_id(request), address=address)
