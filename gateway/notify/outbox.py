"""The transactional outbox: notices raised by a change become messages in the same transaction.

A unit of work collects its notices in an :class:`Outbox` and calls :meth:`Outbox.flush` once, at
the end: the subscribers of each notice are found, each subscription's counters are bumped in
subscription-id order (a fixed lock order, so concurrent writers never deadlock on them) and one
``notify_outbox`` row per subscriber and notice is inserted, its *candidate* Bundle built now.
What the subscriber may see of it is decided when it is sent, under the sharing rules as they stand
then (:mod:`gateway.notify.release`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session

from gateway.db.tables_placement import NotifySubscriptionRow
from gateway.notify.bundle import notification_bundle, status_parameters
from gateway.notify.repository import NotifyRepository

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something happened that ``agency``'s subscribers to ``topic`` should hear about.

    ``resources`` is what a ``full-resource`` payload may carry (the focus first; as the
    publishing workflow offers it, e.g. reduced to the minimum necessary); ``context`` names
    resources for ``additional-context``. The sharing rules decide each one for each subscriber at
    delivery, on the stored version.
    """

    topic: str
    agency: str
    focus: Resource
    resources: tuple[Resource, ...] = ()
    context: tuple[Resource, ...] = ()


@dataclass
class Outbox:
    """The notices of one unit of work, written by :meth:`flush`."""

    session: Session
    fhir_base: str
    now: float
    notices: list[Notice] = field(default_factory=list)

    def publish(self, notice: Notice) -> None:
        self.notices.append(notice)

    def flush(self) -> int:
        """Write one message per subscriber and notice; return how many were written."""
        repo = NotifyRepository(self.session)
        wanted: dict[str, set[str]] = defaultdict(set)
        for notice in self.notices:
            wanted[notice.topic].add(notice.agency)
        found = {
            topic: repo.subscribers_of(topic, sorted(agencies))
            for topic, agencies in wanted.items()
        }
        per_sub: dict[str, list[tuple[Notice, str]]] = defaultdict(list)
        for notice in self.notices:
            for sid, content, _status in found[notice.topic][notice.agency]:
                per_sub[sid].append((notice, content))
        self.notices = []
        rows: list[dict[str, Any]] = []
        counters = repo.bump_many({sid: (len(v), len(v)) for sid, v in per_sub.items()}, self.now)
        for sid in sorted(counters):
            items = per_sub[sid]
            seq_end, events_end = counters[sid]
            for i, (notice, content) in enumerate(items):
                seq = seq_end - len(items) + i + 1
                number = events_end - len(items) + i + 1
                rows.append(self._event_row(sid, content, notice, seq, number))
        repo.insert_messages(rows)
        return len(rows)

    def _event_row(
        self, sid: str, content: str, notice: Notice, seq: int, number: int
    ) -> dict[str, Any]:
        empty = content == "empty"
        status = status_parameters(
            fhir_base=self.fhir_base,
            subscription_id=sid,
            topic=notice.topic,
            status="active",
            kind="event-notification",
            events_since_start=number,
            event_number=number,
            timestamp=self.now,
            focus=None if empty else notice.focus,
            context=() if empty else notice.context,
        )
        resources = notice.resources if content == "full-resource" else ()
        bundle = notification_bundle(
            fhir_base=self.fhir_base,
            subscription_id=sid,
            status=status,
            resources=resources,
            timestamp=self.now,
        )
        focus = f"{notice.focus['resourceType']}/{notice.focus['id']}"
        return self._row(sid, seq, number, "event-notification", notice.topic, focus, bundle)

    def status_message(self, sub: NotifySubscriptionRow, kind: str) -> None:
        """Queue a handshake or heartbeat for ``sub`` (written at once, in order with events)."""
        repo = NotifyRepository(self.session)
        seq, events = repo.bump(sub.id, 1, 0, self.now)
        status = status_parameters(
            fhir_base=self.fhir_base,
            subscription_id=sub.id,
            topic=sub.topic,
            status="active" if kind == "heartbeat" else sub.status,
            kind=kind,
            events_since_start=events,
        )
        bundle = notification_bundle(
            fhir_base=self.fhir_base, subscription_id=sub.id, status=status, timestamp=self.now
        )
        repo.insert_messages([self._row(sub.id, seq, 0, kind, sub.topic, None, bundle)])

    def _row(
        self,
        sid: str,
        seq: int,
        number: int,
        kind: str,
        topic: str,
        focus: str | None,
        bundle: Resource,
    ) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "subscription_id": sid,
            "seq": seq,
            "event_number": number,
            "kind": kind,
            "topic": topic,
            "focus": focus,
            "payload": orjson.dumps(bundle).decode(),
            "status": "pending",
            "attempts": 0,
            "created_at": self.now,
        }
