"""Appending audit events: the leaf and its search fields, in the caller's transaction.

``AuditLog.append(session, event)`` writes in the caller's transaction, so an event commits or rolls
back with the access it records. It takes no lock: concurrent requests commit in parallel (and
PostgreSQL can group their commits). The sequencer (:func:`gateway.audit.checkpoint.sequence`, run
every second in the background and before every checkpoint) later gives committed events their
gap-free log index, as Trillian's sequencer does, and stores the event's searchable AuditEvent
resource copy (:mod:`gateway.audit.copies`). For a read, build the response only after the unit
of work has committed: if the append fails the request fails, and nothing has been disclosed (fail
closed).

A read changes nothing, so without its event its transaction would commit with no WAL flush; with
it, the read pays a durable commit, and on PostgreSQL used to pay one more round trip for the
INSERT. A read's unit of work marked with :func:`mark_read_only` has each event's INSERT and the
COMMIT sent together (psycopg pipeline mode: one round trip, one sync), so the event is durable
when :meth:`AuditLog.append` returns, before the response is built, and concurrent reads' commits
share WAL flushes as PostgreSQL groups them. (An application-level group commit, every read's
event handed to one batching thread, was measured slower on the two-core reference machine:
bench/README.md.)
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from gateway.audit.append_sql import append_statement, psycopg_statement
from gateway.audit.canonical import canonical_json
from gateway.audit.errors import AuditUnavailable
from gateway.audit.events import AuditServer
from gateway.audit.fields import LeafFields, derive
from gateway.audit.keys import default_origin, load_signer
from gateway.audit.notes import NoteSigner
from gateway.audit.repository import AuditRepository
from gateway.audit.security import AuditEvents
from gateway.db.session import Database
from gateway.settings import Settings

log = logging.getLogger("gateway.audit")

READ_ONLY = "audit_read_only"
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

        When the unit of work is a read (:func:`mark_read_only`) on PostgreSQL, the event is
        inserted and the read's transaction committed in one round trip, before this returns.
        Raises :class:`AuditUnavailable` (503) on any failure; the caller's unit of work then rolls
        back, taking the access with it.
        """
        try:
            fields = derive(event)
            body = canonical_json(event)
            if session.info.get(READ_ONLY) and session.get_bind().dialect.name == "postgresql":
                _append_and_commit(session, body, fields)
            else:
                AuditRepository(session).append(body, fields)
        except Exception as exc:  # fail closed, whatever went wrong; the log keeps the details
            log.error("audit append failed: %s", type(exc).__name__, exc_info=exc)
            raise AuditUnavailable(REFUSED) from exc
        return fields.event_id

    def record(self, db: Database, event: dict[str, Any]) -> str:
        """Append ``event`` in a unit of work of its own (for refusals outside any other one)."""
        with db.unit_of_work() as session:
            return self.append(session, event)


def _append_and_commit(session: Session, body: bytes, fields: LeafFields) -> None:
    """Insert the event and commit the read's transaction in one round trip (psycopg pipeline:
    INSERT and COMMIT sent together, one sync). The read changed nothing, so committing it here is
    harmless (and were anything pending, it is flushed first and commits with the event); the
    session's own commit later finds no transaction open and sends nothing."""
    session.flush()
    raw = session.connection().connection.driver_connection
    _, params = append_statement(body, fields)
    with raw.pipeline():  # INSERT, COMMIT, then one Sync on leaving the block
        raw.execute(psycopg_statement(len(fields.patients)), params)
        raw.execute("COMMIT")


def mark_read_only(session: Session) -> None:
    """Declare the unit of work a read that writes nothing but its audit events: on PostgreSQL each
    event is then committed with the transaction in one round trip when it is appended (anything
    the unit of work does afterwards runs in a transaction of its own)."""
    session.info[READ_ONLY] = True


def get_audit_log(state: Any) -> AuditLog:
    """The app's :class:`AuditLog` (``app.state.audit``), created from its settings on first use."""
    audit = getattr(state, "audit", None)
    if audit is None:
        audit = AuditLog.from_settings(state.settings)
        state.audit = audit
    return audit
