"""The console's unit of work: the API's service layer with the caller's sharing guard, and one
audit event per page action appended before it commits (fail closed), as ``/fhir`` does."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from fastapi import Request
from sqlalchemy.orm import Session

from gateway.audit.fhir_trail import record_access
from gateway.auth.schemas import Caller
from gateway.fhir.endpoints import _service
from gateway.fhir.service import ResourceService


@contextmanager
def audited_unit(
    request: Request,
    caller: Caller,
    interaction: str,
    *,
    resource_type: str | None = None,
    patients: Sequence[str] = (),
) -> Iterator[Session]:
    """One unit of work for a page action; its AuditEvent names what the guard decided on."""
    with request.app.state.db.unit_of_work() as session:
        yield session
        guard = getattr(request.state, "guard", None)
        touched = [f"{d.rtype}/{d.rid}" for d in getattr(guard, "decisions", []) if d.rid]
        record_access(
            request,
            session,
            caller,
            interaction,
            resources=list(dict.fromkeys(touched))[:100],
            resource_type=resource_type,
            patients=list(patients),
        )


def guarded_service(request: Request, session: Session, caller: Caller) -> ResourceService:
    """The FHIR API's resource service for this caller (sharing rules as its guard)."""
    return _service(request, session, caller)
