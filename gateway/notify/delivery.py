"""Delivering the outbox: lease a subscription, POST its messages in order, record what happened.

One :meth:`Deliverer.run_once` pass:

1. claims up to ``limit`` subscriptions with a message due (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so replicas claim different ones) and leases them for ``lease`` seconds;
2. for each, takes the message numbered ``delivered_seq + 1`` and decides it for the subscriber
   under the sharing rules as they stand now (:mod:`gateway.notify.release`), POSTs what was
   released (no database transaction is open during the POST), then records the outcome together
   with the attempt's audit events (:mod:`gateway.notify.delivery_audit`): a 2xx marks it
   delivered, anything else records the error, sets ``next_attempt_at`` by exponential backoff and
   stops that subscription for this pass, so later messages never overtake an undelivered one;
3. releases the lease.

Messages are never dropped: a receiver that is down gets everything, in order, once it is back. A
process that dies mid-pass loses only its lease; another replica resumes after ``lease`` seconds and
may repeat the one message whose result was not recorded, with the same ``X-Event-Id``.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

import httpx
import orjson

from gateway.audit.log import AuditLog
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.notify.delivery_audit import record_attempt
from gateway.notify.outbox import Outbox
from gateway.notify.release import Released, release
from gateway.notify.repository import NotifyRepository
from gateway.notify.signing import signed_headers
from gateway.notify.subscriptions import set_status
from gateway.sharing.for_subscriber import SubscriberGuards

log = logging.getLogger("gateway.notify")


def backoff(failures: int, base: float = 2.0, cap: float = 600.0) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: 2, 4, 8, … capped at ``cap``."""
    return float(min(cap, base * 2 ** max(failures - 1, 0)))


@dataclass(frozen=True, slots=True)
class _Message:
    pk: int
    event_id: str
    kind: str
    endpoint: str
    headers: tuple[str, ...]
    secret: str
    released: Released

    @property
    def payload(self) -> bytes:
        return self.released.payload


@dataclass
class DeliveryReport:
    """What one pass did."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0


class Deliverer:
    """Delivers due messages; one per process (or several: they share nothing but the database).

    ``audit`` receives every attempt's decisions; ``guards`` builds each subscriber's sharing guard
    (the agreements in force; the example partnership when not given, as the app without
    ``GATEWAY_AGREEMENTS_FILE``).
    """

    def __init__(
        self,
        db: Database,
        fhir_base: str,
        client: httpx.Client | None = None,
        *,
        audit: AuditLog,
        guards: SubscriberGuards | None = None,
        owner: str | None = None,
        lease: float = 60.0,
        limit: int = 20,
        batch: int = 50,
        error_after: int = 5,
        timeout: float = 10.0,
    ) -> None:
        self.db = db
        self.fhir_base = fhir_base
        self.audit = audit
        self.guards = guards or SubscriberGuards.load()
        self.client = client or httpx.Client(timeout=timeout)
        self.owner = owner or uuid.uuid4().hex[:16]
        self.lease, self.limit, self.batch, self.error_after = lease, limit, batch, error_after

    def run_once(self, now: float) -> DeliveryReport:
        report = DeliveryReport()
        with self.db.unit_of_work() as session:
            claimed = NotifyRepository(session).claim(now, self.owner, self.lease, self.limit)
        report.claimed = len(claimed)
        for sid in claimed:
            try:
                self._drain(sid, now, report)
            finally:
                with self.db.unit_of_work() as session:
                    NotifyRepository(session).release(sid, self.owner)
        return report

    def _drain(self, sid: str, now: float, report: DeliveryReport) -> None:
        # Stop well inside the lease, so no other replica takes the subscription over mid-send.
        deadline = time.monotonic() + self.lease / 2
        for _ in range(self.batch):
            if time.monotonic() > deadline:
                return
            with self.db.unit_of_work() as session:
                found = NotifyRepository(session).next_message(sid, self.owner)
                if found is None:
                    return
                sub, msg = found
                message = _Message(
                    msg.pk or 0,
                    msg.event_id,
                    msg.kind,
                    sub.endpoint,
                    tuple(orjson.loads(sub.headers)),
                    sub.secret,
                    release(session, self.fhir_base, sub, msg, self.guards),
                )
            code, error = self._post(message, now)
            ok = code is not None and 200 <= code < 300
            self._record(sid, message, now, code, error, ok)
            if ok:
                report.delivered += 1
            else:
                report.failed += 1
                return

    def _post(self, message: _Message, now: float) -> tuple[int | None, str | None]:
        headers = {"Content-Type": "application/fhir+json"}
        for header in message.headers:
            name, _, value = header.partition(":")
            headers[name.strip()] = value.strip()
        headers.update(signed_headers(message.secret, message.payload, int(now), message.event_id))
        try:
            response = self.client.post(message.endpoint, content=message.payload, headers=headers)
        except Exception as exc:  # connection refused, timeout, TLS, a bad URL: all retried
            return None, f"{type(exc).__name__}: the endpoint could not be reached"
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"the endpoint answered HTTP {response.status_code}"

    def _record(
        self,
        sid: str,
        message: _Message,
        now: float,
        code: int | None,
        error: str | None,
        ok: bool,
    ) -> None:
        with self.db.unit_of_work() as session:
            repo = NotifyRepository(session)
            sub = repo.subscription(sid, for_update=True)
            msg = repo.message(message.pk)
            if sub is None or msg is None:
                return
            result = f"delivered (HTTP {code})" if ok else (error or "not delivered")
            record_attempt(
                self.audit, session, sub, msg, message.released, delivered=ok, result=result
            )
            msg.attempts += 1
            msg.last_attempt_at, msg.last_status, msg.last_error = now, code, error
            svc = ResourceService(session, self.fhir_base)
            if ok:
                if msg.status == "pending":
                    msg.status, msg.delivered_at = "delivered", now
                if msg.seq == sub.delivered_seq + 1:
                    sub.delivered_seq = msg.seq
                sub.failures, sub.last_error, sub.last_sent_at = 0, None, now
                sub.next_attempt_at = now
                if sub.status in ("requested", "error"):
                    set_status(svc, sub, "active")
                return
            sub.failures += 1
            sub.last_error = error
            sub.next_attempt_at = now + backoff(sub.failures)
            log.info("delivery to subscription %s failed (%s)", sid, error)
            if sub.failures >= self.error_after and sub.status != "error":
                set_status(svc, sub, "error", error)


def queue_heartbeats(db: Database, fhir_base: str, now: float, limit: int = 100) -> int:
    """Queue a heartbeat for each active subscription that has been quiet for its period."""
    with db.unit_of_work() as session:
        due = NotifyRepository(session).heartbeats_due(now, limit)
        outbox = Outbox(session, fhir_base, now)
        for sub in due:
            outbox.status_message(sub, "heartbeat")
        return len(due)
