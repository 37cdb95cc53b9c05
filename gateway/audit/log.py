"""Appending audit events: the leaf and its search fields, in the caller's transaction.

``AuditLog.append(session, event)`` writes in the caller's transaction, so an event commits or rolls
back with the access it records. It takes no lock: concurrent requests commit in parallel (and
PostgreSQL can group their commits). The sequencer (:func:`gateway.audit.checkpoint.sequence`, run
every second in the background and before every checkpoint) later gives committed events their
gap-free log index, as Trillian's sequencer does, and stores the event's searchable AuditEvent
resource copy (:mod:`gateway.audit.copies`). For a read, build the response only after the unit
of work has committed: if the append fails the request fails, and nothing has been disclosed (fail
closed).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from gateway.audit.canonical import canonical_json
from gateway.audit.errors import AuditUnavailable
from gateway.audit.events import AuditServer
from gateway.audit.fields import derive
from gateway.audit.keys import default_origin, load_signer
from gateway.audit.notes import NoteSigner
from gateway.audit.repository import AuditRepository
from gateway.audit.security import AuditEvents
from gateway.db.session import Database
from gateway.settings import Settings

log = logging.getLogger("gateway.audit")

REFUSED = "the access could not be recorded in the audit log, so it was refused; retry later"


class AuditLog:
    """The gateway's audit log: build events with :attr:`events`, append them with :meth:`append`."""

    def __init__(self, events: AuditEvents, *, signer: NoteSigner | None = None) -> None:
        self.events = events
        self.signer = signer

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditLog:
        """The log of this gateway, its origin taken from the checkpoint key (created if absent)."""
        signer = load_signer(settings.key_dir, default_origin(settings.base_url))
        server = AuditServer(origin=signer.name, base_url=settings.base_url)
        return cls(AuditEvents(server), signer=signer)

    @property
    def origin(self) -> str:
        return self.events.server.origin

    def append(self, session: Session, event: dict[str, Any]) -> str:
        """Append ``event`` in the session's transaction and return its event id.

        Raises :class:`AuditUnavailable` (503) on any failure; the caller's unit of work then rolls
        back, taking the access with it.
        """
        try:
            fields = derive(event)
            AuditRepository(session).append(canonical_json(event), fields)
        except Exception as exc:  # fail closed, whatever went wrong; the log keeps the details
            log.error("audit append failed: %s", type(exc).__name__, exc_info=exc)
            raise AuditUnavailable(REFUSED) from exc
        return fields.event_id

    def record(self, db: Database, event: dict[str, Any]) -> str:
        """Append ``event`` in a unit of work of its own (for refusals outside any other one)."""
        with db.unit_of_work() as session:
            return self.append(session, event)


def get_audit_log(state: Any) -> AuditLog:
    """The app's :class:`AuditLog` (``app.state.audit``), created from its settings on first use."""
    audit = getattr(state, "audit", None)
    if audit is None:
        audit = AuditLog.from_settings(state.settings)
        state.audit = audit
    return audit
