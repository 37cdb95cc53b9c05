"""Which registered client an MLLP connection speaks for: sending facility (MSH-4) + source network."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.auth.repository import AuthRepository
from gateway.auth.scopes import parse_scopes
from gateway.db.session import Database
from gateway.db.tables_ingest import MllpSenderRow
from gateway.fhir.errors import Conflict, InvalidRequest, NotFound
from gateway.ingest.mllp import Sender, in_network

CACHE_SECONDS = 30.0


def add_sender(session: Session, facility: str, networks: str, client_id: str) -> MllpSenderRow:
    """Register ``facility`` (MSH-4 namespace id) as sent by ``client_id`` from ``networks`` (CIDRs)."""
    if not facility.strip():
        raise InvalidRequest("the sending facility (MSH-4) is required", expression="facility")
    cidrs = [n.strip() for n in networks.split(",") if n.strip()]
    if not cidrs or not all(in_network(n.split("/")[0], n) for n in cidrs):
        raise InvalidRequest(
            "networks must be CIDR blocks such as 10.20.0.0/16", expression="networks"
        )
    client = AuthRepository(session).client(client_id)
    if client is None:
        raise NotFound(f"client {client_id} is not registered", expression="client_id")
    existing = session.execute(
        select(MllpSenderRow).where(MllpSenderRow.facility == facility)
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict(f"sending facility {facility} is already registered")
    row = MllpSenderRow(facility=facility, networks=",".join(cidrs), client_id=client_id)
    session.add(row)
    session.flush()
    return row


class SenderDirectory:
    """Resolves senders from the database, cached briefly so every message is not a query."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._loaded = 0.0
        self._senders: list[tuple[str, str, Sender]] = []

    def _refresh(self) -> None:
        with self.db.unit_of_work() as session:
            rows = session.execute(select(MllpSenderRow)).scalars().all()
            repo = AuthRepository(session)
            senders = []
            for row in rows:
                client = repo.client(row.client_id)
                if client is not None and client.enabled:
                    sender = Sender(client.client_id, client.agency_id, parse_scopes(client.scope))
                    senders.append((row.facility, row.networks, sender))
        self._senders, self._loaded = senders, time.monotonic()

    def lookup(self, facility: str, address: str) -> Sender | None:
        if time.monotonic() - self._loaded > CACHE_SECONDS:
            self._refresh()
        for name, networks, sender in self._senders:
            if name == facility and in_network(address, networks):
                return sender
        return None

    def as_lookup(self) -> Callable[[str, str], Sender | None]:
        return self.lookup
