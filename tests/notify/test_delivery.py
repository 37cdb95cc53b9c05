"""Delivery from the outbox to a real HTTP receiver: down at first, then up; failures and backoff;
a gateway restart; two delivery workers at once. Every event arrives once, in order, signed."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from gateway.audit.log import AuditLog
from gateway.db.session import Database
from gateway.db.tables_placement import NotifyOutboxRow, NotifySubscriptionRow
from gateway.notify.delivery import Deliverer, backoff, queue_heartbeats
from gateway.notify.signing import verify
from gateway.notify.topics import NEW_PLACEMENT_TASK, PLACEMENT_STATUS
from gateway.placement.workflow_types import ManualClock, PlacementContext
from tests.notify.receiver import Receiver
from tests.placement.workflow.support import (
    BASE,
    ORIGIN,
    REQUESTER,
    caller,
    read,
    run,
    service_request,
    subscribe,
)


def open_requests(db: Database, ctx: PlacementContext, count: int) -> list[str]:
    out = []
    for _ in range(count):
        opened = run(
            db, ctx, lambda wf: wf.open_request(caller(REQUESTER), service_request(), near=ORIGIN)
        )
        out.append(opened.parent["id"])
    return out


def outbox(db: Database, sid: str) -> list[NotifyOutboxRow]:
    with db.unit_of_work() as session:
        return list(
            session.execute(
                select(NotifyOutboxRow)
                .where(NotifyOutboxRow.subscription_id == sid)
                .order_by(NotifyOutboxRow.seq)
            ).scalars()
        )


def subscription(db: Database, sid: str) -> NotifySubscriptionRow:
    with db.unit_of_work() as session:
        row = session.get(NotifySubscriptionRow, sid)
        assert row is not None
        return row


def test_a_receiver_that_is_down_gets_every_event_once_it_is_back(
    seeded: Database,
    ctx: PlacementContext,
    clock: ManualClock,
    receiver: Receiver,
    audit_log: AuditLog,
) -> None:
    sid, secret = subscribe(seeded, REQUESTER, PLACEMENT_STATUS, receiver.url, now=clock.now())
    open_requests(seeded, ctx, 3)
    queued = outbox(seeded, sid)
    assert [m.kind for m in queued] == ["handshake"] + ["event-notification"] * 3
    deliverer = Deliverer(seeded, BASE, timeout=2, audit=audit_log)
    first = deliverer.run_once(clock.now())
    assert (first.claimed, first.delivered, first.failed) == (1, 0, 1)
    sub = subscription(seeded, sid)
    assert sub.status == "requested" and sub.failures == 1
    assert sub.next_attempt_at == clock.now() + backoff(1)
    assert "could not be reached" in (sub.last_error or "")
    receiver.start()
    clock.advance(backoff(1) - 0.5)
    assert deliverer.run_once(clock.now()).claimed == 0  # still backing off
    clock.advance(0.5)
    report = deliverer.run_once(clock.now())
    assert (report.delivered, report.failed) == (4, 0)
    assert [r.kind for r in receiver.got] == ["handshake"] + ["event-notification"] * 3
    assert [r.event_number for r in receiver.got[1:]] == [1, 2, 3]
    assert [r.event_id for r in receiver.got] == [m.event_id for m in queued]
    for got in receiver.got:
        assert verify(secret, got.body, got.headers, now=clock.now())
        assert got.headers["content-type"] == "application/fhir+json"
    assert subscription(seeded, sid).status == "active"
    assert read(seeded, "Subscription", sid)["status"] == "active"
    assert deliverer.run_once(clock.now() + 3600).claimed == 0  # nothing is sent twice
    assert len(receiver.got) == 4
    assert [m.attempts for m in outbox(seeded, sid)] == [2, 1, 1, 1]


def test_failures_back_off_exponentially_and_mark_the_subscription_in_error(
    seeded: Database,
    ctx: PlacementContext,
    clock: ManualClock,
    receiver: Receiver,
    audit_log: AuditLog,
) -> None:
    receiver.status = 503
    receiver.start()
    sid, _ = subscribe(seeded, "org-f1", NEW_PLACEMENT_TASK, receiver.url, now=clock.now())
    open_requests(seeded, ctx, 1)
    deliverer = Deliverer(seeded, BASE, timeout=2, error_after=3, audit=audit_log)
    waits = []
    for _ in range(4):
        deliverer.run_once(clock.now())
        sub = subscription(seeded, sid)
        waits.append(sub.next_attempt_at - clock.now())
        clock.t = sub.next_attempt_at
    assert waits == [2.0, 4.0, 8.0, 16.0]
    sub = subscription(seeded, sid)
    assert sub.status == "error" and sub.last_error == "the endpoint answered HTTP 503"
    assert read(seeded, "Subscription", sid)["error"] == "the endpoint answered HTTP 503"
    head = outbox(seeded, sid)[0]
    assert (head.status, head.attempts, head.last_status) == ("pending", 4, 503)
    receiver.status = 200
    assert deliverer.run_once(clock.now()).delivered == 2
    assert subscription(seeded, sid).status == "active"
    assert backoff(20) == 600.0  # capped at ten minutes


def test_queued_messages_survive_a_restart(
    seeded: Database,
    database_url: str,
    ctx: PlacementContext,
    clock: ManualClock,
    receiver: Receiver,
    audit_log: AuditLog,
) -> None:
    sid, secret = subscribe(seeded, "org-f1", NEW_PLACEMENT_TASK, receiver.url, now=clock.now())
    open_requests(seeded, ctx, 2)
    # A gateway process that claimed the subscription and died: its lease is left behind.
    with seeded.unit_of_work() as session:
        from gateway.notify.repository import NotifyRepository

        assert NotifyRepository(session).claim(clock.now(), "dead-process", 60, 10) == [sid]
    receiver.start()
    fresh = Database(database_url, pool_size=2)  # "after the restart": a new engine, new worker
    try:
        deliverer = Deliverer(fresh, BASE, timeout=2, audit=audit_log)
        assert deliverer.run_once(clock.now()).claimed == 0  # the dead lease still holds
        clock.advance(61)
        assert deliverer.run_once(clock.now()).delivered == 3
    finally:
        fresh.dispose()
    assert [r.kind for r in receiver.got] == [
        "handshake",
        "event-notification",
        "event-notification",
    ]
    assert all(verify(secret, r.body, r.headers) for r in receiver.got)


def test_heartbeats_after_a_quiet_period(
    seeded: Database,
    clock: ManualClock,
    receiver: Receiver,
    audit_log: AuditLog,
) -> None:
    from gateway.fhir.service import ResourceService
    from gateway.notify.subscriptions import create_subscription
    from gateway.notify.topics import HEARTBEAT_PERIOD, canonical

    receiver.start()
    body = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "hb",
        "criteria": canonical(PLACEMENT_STATUS),
        "channel": {
            "type": "rest-hook",
            "endpoint": receiver.url,
            "extension": [{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 600}],
        },
    }
    with seeded.unit_of_work() as session:
        create_subscription(
            ResourceService(session, BASE),
            caller(REQUESTER),
            body,
            now=clock.now(),
            https_only=False,
        )
    deliverer = Deliverer(seeded, BASE, timeout=2, audit=audit_log)
    deliverer.run_once(clock.now())
    clock.advance(599)
    assert queue_heartbeats(seeded, BASE, clock.now()) == 0
    clock.advance(1)
    assert queue_heartbeats(seeded, BASE, clock.now()) == 1
    assert queue_heartbeats(seeded, BASE, clock.now()) == 0  # one is already waiting
    deliverer.run_once(clock.now())
    assert [r.kind for r in receiver.got] == ["handshake", "heartbeat"]


def test_two_workers_deliver_everything_exactly_once_in_order(
    seeded: Database,
    ctx: PlacementContext,
    clock: ManualClock,
    receiver: Receiver,
    backend: str,
    audit_log: AuditLog,
) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent claiming (FOR UPDATE SKIP LOCKED) needs PostgreSQL")
    receiver.start()
    subs = [
        subscribe(seeded, org, NEW_PLACEMENT_TASK, receiver.url, now=clock.now())[0]
        for org in ("org-f1", "org-f2")
    ] + [
        subscribe(seeded, REQUESTER, PLACEMENT_STATUS, receiver.url, now=clock.now())[0]
        for _ in range(4)
    ]
    open_requests(seeded, ctx, 8)
    expected = sum(len(outbox(seeded, s)) for s in subs)
    workers = [
        Deliverer(seeded, BASE, timeout=5, limit=2, batch=3, audit=audit_log) for _ in range(3)
    ]
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def work(d: Deliverer) -> None:
        try:
            barrier.wait()
            for _ in range(40):
                d.run_once(clock.now())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(receiver.got) == expected
    assert max(Counter(r.event_id for r in receiver.got).values()) == 1
    for sid in subs:
        mine = [
            r
            for r in receiver.got
            if r.bundle["entry"][0]["resource"]["parameter"][0]["valueReference"][
                "reference"
            ].endswith(sid)
        ]
        assert [r.event_id for r in mine] == [m.event_id for m in outbox(seeded, sid)]
