"""All SQL of notifications: subscriptions, their counters and leases, and the outbox.

Ordering: each subscription numbers its messages (``seq``) under the subscription row's lock, in
the transaction that writes them, so numbers follow commit order and a worker that finds
``delivered_seq + 1`` missing knows an earlier writer has not committed yet and waits for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, select, update
from sqlalchemy.orm import Session

from gateway.db.tables_placement import NotifyOutboxRow, NotifySubscriptionRow

S = NotifySubscriptionRow
M = NotifyOutboxRow
DELIVERABLE = ("requested", "active", "error")


class NotifyRepository:
    """Queries over ``notify_subscription`` and ``notify_outbox`` on one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- subscriptions -------------------------------------------------------------------------
    def add_subscription(self, row: NotifySubscriptionRow) -> None:
        self.session.add(row)
        self.session.flush()

    def subscription(self, sid: str, *, for_update: bool = False) -> NotifySubscriptionRow | None:
        stmt = select(S).where(S.id == sid).execution_options(populate_existing=True)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def subscribers(self, topic: str, agency: str) -> list[tuple[str, str, str]]:
        """(id, content, status) of the live subscriptions of ``agency`` to ``topic``."""
        rows = self.session.execute(
            select(S.id, S.content, S.status).where(
                S.topic == topic, S.agency == agency, S.status != "off"
            )
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def subscribers_of(
        self, topic: str, agencies: Sequence[str]
    ) -> dict[str, list[tuple[str, str, str]]]:
        """:meth:`subscribers` for several agencies in one query."""
        out: dict[str, list[tuple[str, str, str]]] = {a: [] for a in agencies}
        rows = self.session.execute(
            select(S.agency, S.id, S.content, S.status).where(
                S.topic == topic,
                S.agency.in_(list(agencies)),  # type: ignore[attr-defined]
                S.status != "off",
            )
        )
        for agency, sid, content, status in rows:
            out[agency].append((sid, content, status))
        return out

    def bump(self, sid: str, messages: int, events: int, now: float) -> tuple[int, int]:
        """Reserve ``messages`` sequence numbers (``events`` of them event notifications).

        Returns the new ``(seq, events_since_start)``; the row stays locked until commit.
        """
        row = self.session.execute(
            update(S)
            .where(S.id == sid)
            .values(
                seq=S.seq + messages,
                events_since_start=S.events_since_start + events,
                updated_at=now,
            )
            .returning(S.seq, S.events_since_start)
        ).one()
        return int(row[0]), int(row[1])

    def bump_many(
        self, counts: dict[str, tuple[int, int]], now: float
    ) -> dict[str, tuple[int, int]]:
        """:meth:`bump` for several subscriptions: ``{id: (messages, events)}`` → new counters.

        Locks the rows in id order (``ORDER BY id FOR UPDATE``), so concurrent writers take them
        in the same order and cannot deadlock, then sets all of them in one batch.
        """
        ids = sorted(counts)
        current = self.session.execute(
            select(S.id, S.seq, S.events_since_start)
            .where(S.id.in_(ids))  # type: ignore[attr-defined]
            .order_by(S.id)
            .with_for_update()
        ).all()
        out: dict[str, tuple[int, int]] = {}
        for sid, seq, events in current:
            add_messages, add_events = counts[sid]
            out[sid] = (int(seq) + add_messages, int(events) + add_events)
        if out:
            table = S.__table__  # type: ignore[attr-defined]
            self.session.execute(
                update(table)
                .where(table.c.id == bindparam("sid"))
                .values(
                    seq=bindparam("new_seq"),
                    events_since_start=bindparam("new_events"),
                    updated_at=now,
                ),
                [
                    {"sid": sid, "new_seq": seq, "new_events": events}
                    for sid, (seq, events) in out.items()
                ],
            )
        return out

    def insert_messages(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(M), rows)

    # ---- delivery ------------------------------------------------------------------------------
    def claim(self, now: float, owner: str, lease: float, limit: int) -> list[str]:
        """Lease up to ``limit`` subscriptions that have a message due; skip rows others hold."""
        pending = exists().where(M.subscription_id == S.id, M.status == "pending")
        stmt = (
            select(S)
            .where(
                S.status.in_(DELIVERABLE),  # type: ignore[attr-defined]
                S.next_attempt_at <= now,
                (S.lease_until.is_(None)) | (S.lease_until < now),  # type: ignore[union-attr]
                pending,
            )
            .order_by(S.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        claimed = list(self.session.execute(stmt).scalars())
        for row in claimed:
            row.lease_owner, row.lease_until = owner, now + lease
        self.session.flush()
        return [row.id for row in claimed]

    def next_message(self, sid: str, owner: str) -> tuple[NotifySubscriptionRow, M] | None:
        """The subscription (if still leased by ``owner``) and its next message in order."""
        sub = self.subscription(sid)
        if sub is None or sub.lease_owner != owner or sub.status not in DELIVERABLE:
            return None
        msg = self.session.execute(
            select(M).where(M.subscription_id == sid, M.seq == sub.delivered_seq + 1)
        ).scalar_one_or_none()
        if msg is None or msg.status != "pending":
            return None
        return sub, msg

    def holds_lease(self, sid: str, owner: str) -> NotifySubscriptionRow | None:
        sub = self.subscription(sid, for_update=True)
        return sub if sub is not None and sub.lease_owner == owner else None

    def release(self, sid: str, owner: str) -> None:
        self.session.execute(
            update(S)
            .where(S.id == sid, S.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    def message(self, pk: int) -> M | None:
        stmt = select(M).where(M.pk == pk).execution_options(populate_existing=True)
        return self.session.execute(stmt).scalar_one_or_none()

    # ---- reading -------------------------------------------------------------------------------
    def deliveries(
        self, sid: str, status: str | None, offset: int, count: int
    ) -> tuple[int, Sequence[M]]:
        cond = [M.subscription_id == sid]
        if status:
            cond.append(M.status == status)
        total = self.session.execute(select(func.count()).select_from(M).where(*cond)).scalar_one()
        rows = self.session.execute(
            select(M).where(*cond).order_by(M.seq).offset(offset).limit(count)
        ).scalars()
        return int(total), list(rows)

    def subscriptions_of(self, agency: str | None) -> list[NotifySubscriptionRow]:
        stmt = select(S).order_by(S.created_at)
        if agency is not None:
            stmt = stmt.where(S.agency == agency)
        return list(self.session.execute(stmt).scalars())

    def pending_count(self, sid: str) -> int:
        return int(
            self.session.execute(
                select(func.count())
                .select_from(M)
                .where(M.subscription_id == sid, M.status == "pending")
            ).scalar_one()
        )

    def heartbeats_due(self, now: float, limit: int) -> list[NotifySubscriptionRow]:
        """Active subscriptions with a heartbeat period, quiet for that long, nothing pending."""
        pending = exists().where(M.subscription_id == S.id, M.status == "pending")
        stmt = (
            select(S)
            .where(
                S.status == "active",
                S.heartbeat_seconds.is_not(None),  # type: ignore[union-attr]
                S.last_sent_at + S.heartbeat_seconds <= now,  # type: ignore[operator]
                ~pending,
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(self.session.execute(stmt).scalars())
