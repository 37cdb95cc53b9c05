"""The audit trail and the sharing guard for the ``/placement`` and ``/notify`` endpoints.

Every interaction there runs in :func:`audited`, the same way the FHIR endpoints do: one unit of
work, and one BALP AuditEvent appended to it before it commits (fail closed: no event, no change).
The event names the resources the interaction touched (:meth:`Trail.touch`) and the patients they
are about, plus the policies that decided the reads made through :meth:`Trail.shown`, which passes
each resource through the request's sharing guard (``app.state.guard_factory``).

Refusals (403) are audited by the app's error handler in a unit of work of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy.orm import Session

from gateway.audit.events import patient_refs
from gateway.audit.fhir_trail import record_access
from gateway.auth.schemas import Caller
from gateway.fhir.guard import Guard

Resource = dict[str, Any]
MAX_RESOURCES = 100


class Trail:
    """What one audited interaction touched, and its sharing guard."""

    def __init__(self, request: Request, session: Session, caller: Caller) -> None:
        self.request, self.session, self.caller = request, session, caller
        self.resources: list[str] = []
        self.patients: list[str] = []
        self._guard: Guard | None = None

    @property
    def guard(self) -> Guard:
        """The request's policy enforcement point (made once; its decisions go into the event)."""
        if self._guard is None:
            state = self.request.app.state
            factory = getattr(state, "guard_factory", None)
            if factory is None:
                from gateway.fhir.guard import OPEN

                self._guard = OPEN
            else:
                self._guard = factory(self.session, self.caller, self.request)
            self.request.state.guard = self._guard
        return self._guard

    def touch(self, *docs: Resource | None) -> None:
        """Name resources (and the patients they are about) in the interaction's AuditEvent."""
        for doc in docs:
            if not isinstance(doc, dict) or not doc.get("resourceType"):
                continue
            ref = f"{doc['resourceType']}/{doc['id']}" if doc.get("id") else None
            if ref is not None and ref not in self.resources:
                self.resources.append(ref)
            for patient in patient_refs(doc):
                if patient not in self.patients:
                    self.patients.append(patient)

    def touch_ref(self, *refs: str | None) -> None:
        """Name resources by reference (``Type/id``) when their content is not at hand."""
        for ref in refs:
            if ref and ref not in self.resources:
                self.resources.append(ref)

    def shown(self, doc: Resource) -> Resource:
        """``doc`` as the caller may see it (403 when the sharing rules withhold it)."""
        self.touch(doc)
        rtype, rid = str(doc.get("resourceType")), str(doc.get("id"))
        shown = self.guard.check_read(rtype, rid, orjson.dumps(doc).decode(), "read")
        out: Resource = orjson.loads(shown)
        return out


@contextmanager
def audited(
    request: Request, caller: Caller, interaction: str, resource_type: str | None = None
) -> Iterator[Trail]:
    """The interaction's unit of work; its AuditEvent is appended before it commits."""
    with request.app.state.db.unit_of_work() as session:
        trail = Trail(request, session, caller)
        yield trail
        record_access(
            request,
            session,
            caller,
            interaction,
            resources=trail.resources[:MAX_RESOURCES],
            resource_type=resource_type,
            patients=trail.patients,
        )
