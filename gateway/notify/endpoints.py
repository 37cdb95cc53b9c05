"""``/notify``: subscribe to a topic, follow a subscription and its deliveries.

POST   /notify/subscriptions                 Subscription → 201, secret in X-Subscription-Secret
GET    /notify/subscriptions                 the caller's agency's subscriptions
GET    /notify/subscriptions/{id}/$status    SubscriptionStatus (backport Parameters)
DELETE /notify/subscriptions/{id}            switch off (status off; nothing more is sent)
GET    /notify/deliveries?subscription=&status=&_count=&_offset=

Every call appends an AuditEvent in its own unit of work (:mod:`gateway.placement.trail`). A new
subscription must name a topic the sharing rules could ever show the caller (403 naming the
policies, :mod:`gateway.notify.permitted`). The delivery log names an event's focus only when the
caller may read it now (oversight roles see every one), as the notifications themselves do.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from gateway.auth.deps import get_caller, require
from gateway.auth.schemas import Caller
from gateway.db.tables_placement import NotifyOutboxRow, NotifySubscriptionRow
from gateway.fhir.errors import InvalidRequest
from gateway.fhir.guard import Guard
from gateway.fhir.schemas import FHIR_JSON
from gateway.fhir.service import ResourceService
from gateway.notify import subscriptions
from gateway.notify.bundle import iso
from gateway.notify.release import readable
from gateway.notify.repository import NotifyRepository
from gateway.placement.trail import audited

router = APIRouter(prefix="/notify")
OVERSIGHT = ("gateway_admin", "bha_auditor")
SECRET_HEADER = "X-Subscription-Secret"


def _now(request: Request) -> float:
    ctx = getattr(request.app.state, "placement", None)
    return ctx.clock.now() if ctx is not None else time.time()


def _service(request: Request, session: Any) -> ResourceService:
    return ResourceService(session, request.app.state.settings.fhir_base)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)


def subscription_summary(row: NotifySubscriptionRow, pending: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "topic": row.topic,
        "agency": row.agency,
        "endpoint": row.endpoint,
        "content": row.content,
        "status": row.status,
        "eventsSinceSubscriptionStart": row.events_since_start,
        "messagesQueued": row.seq,
        "messagesDelivered": row.delivered_seq,
        "messagesPending": pending,
        "consecutiveFailures": row.failures,
        "nextAttemptAt": _iso(row.next_attempt_at) if pending else None,
        "lastSentAt": _iso(row.last_sent_at),
        "lastError": row.last_error,
    }


def delivery_view(row: NotifyOutboxRow, focus: str | None) -> dict[str, Any]:
    return {
        "eventId": row.event_id,
        "sequence": row.seq,
        "eventNumber": row.event_number,
        "type": row.kind,
        "focus": focus,
        "status": row.status,
        "attempts": row.attempts,
        "createdAt": _iso(row.created_at),
        "lastAttemptAt": _iso(row.last_attempt_at),
        "deliveredAt": _iso(row.delivered_at),
        "lastHttpStatus": row.last_status,
        "lastError": row.last_error,
    }


def _shown_focus(
    svc: ResourceService, guard: Guard, caller: Caller, refs: list[str | None]
) -> dict[str, str]:
    """The events' focus references the caller may see: all of them for oversight (the delivery
    log, as the audit trail names resources), else only those it may read now, as a notification
    names them (a withheld event's focus is not revealed here either)."""
    wanted = {ref for ref in refs if ref}
    if caller.role in OVERSIGHT:
        return {ref: ref for ref in wanted}
    return {ref: ref for ref in sorted(wanted) if readable(svc, guard, ref)}


@router.post("/subscriptions")
async def create(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "c", "Subscription")
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "the body is not valid JSON", expression="$", code="structure"
        ) from None
    settings = request.app.state.settings
    now = _now(request)

    def run() -> tuple[str, str, str]:
        with audited(request, caller, "create", "Subscription") as trail:
            stored, secret = subscriptions.create_subscription(
                _service(request, trail.session),
                caller,
                body,
                now=now,
                https_only=settings.production,
                guard=trail.guard,
            )
            trail.touch_ref(f"Subscription/{stored.rid}")
        return stored.content or "", stored.rid, secret

    content, rid, secret = await run_in_threadpool(run)
    headers = {
        SECRET_HEADER: secret,
        "Location": f"{settings.fhir_base}/Subscription/{rid}",
        "Cache-Control": "no-store",
    }
    return Response(content, status_code=201, headers=headers, media_type=FHIR_JSON)


@router.get("/subscriptions")
def list_subscriptions(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "r", "Subscription")
    everyone = caller.role in OVERSIGHT
    with audited(request, caller, "search-type", "Subscription") as trail:
        repo = NotifyRepository(trail.session)
        rows = repo.subscriptions_of(None if everyone else caller.agency or "")
        trail.touch_ref(*(f"Subscription/{r.id}" for r in rows))
        body = [subscription_summary(r, repo.pending_count(r.id)) for r in rows]
    return Response(orjson.dumps({"subscriptions": body}), media_type="application/json")


@router.get("/subscriptions/{sid}/$status")
def status(sid: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "r", "Subscription")
    with audited(request, caller, "operation", "Subscription") as trail:
        svc = _service(request, trail.session)
        row = subscriptions.visible_subscription(svc, caller, sid)
        trail.touch_ref(f"Subscription/{row.id}")
        body = subscriptions.status_resource(svc, row)
    return Response(orjson.dumps(body), media_type=FHIR_JSON)


@router.delete("/subscriptions/{sid}")
def switch_off(sid: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "u", "Subscription")
    now = _now(request)
    with audited(request, caller, "delete", "Subscription") as trail:
        subscriptions.switch_off(_service(request, trail.session), caller, sid, now)
        trail.touch_ref(f"Subscription/{sid}")
    return Response(status_code=204)


@router.get("/deliveries")
def deliveries(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "r", "Subscription")
    params = request.query_params
    sid = params.get("subscription")
    if not sid:
        raise InvalidRequest("name the subscription: ?subscription=<id>", expression="subscription")
    state = params.get("status")
    if state not in (None, "pending", "delivered"):
        raise InvalidRequest("status is pending or delivered", expression="status")
    try:
        count = min(int(params.get("_count", 100)), 1000)
        offset = int(params.get("_offset", 0))
    except ValueError:
        raise InvalidRequest("_count and _offset are whole numbers", expression="_count") from None
    if count < 0 or offset < 0:
        raise InvalidRequest("_count and _offset are whole numbers", expression="_count")
    with audited(request, caller, "search-type", "Subscription") as trail:
        svc = _service(request, trail.session)
        row = subscriptions.visible_subscription(svc, caller, sid)
        trail.touch_ref(f"Subscription/{row.id}")
        repo = NotifyRepository(trail.session)
        total, rows = repo.deliveries(sid, state, offset, count)
        focus = _shown_focus(svc, trail.guard, caller, [r.focus for r in rows])
        body = {
            "subscription": subscription_summary(row, repo.pending_count(sid)),
            "total": total,
            "deliveries": [delivery_view(r, focus.get(r.focus or "")) for r in rows],
        }
    return Response(orjson.dumps(body), media_type="application/json")
