"""Creating, reading and switching off rest-hook Subscriptions (backport profile on R4).

A subscriber sends a ``Subscription`` whose ``criteria`` is a topic canonical
(``urn:crisis-exchange:subscription-topic:new-placement-task`` or ``…:placement-status``), with a
``rest-hook`` channel, an optional ``backport-filter-criteria`` (which may only name the caller's
own agency, and is added when missing), ``backport-payload-content`` (``empty``, ``id-only``, the
default, or ``full-resource``) and an optional ``backport-heartbeat-period``. The gateway stores it
with ``status=requested``, issues a signing secret (returned once) and queues the handshake; the
delivery worker makes it ``active`` when the endpoint answers the handshake.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.auth.schemas import Caller
from gateway.db.tables_placement import NotifySubscriptionRow
from gateway.fhir.errors import FhirError, Forbidden, InvalidRequest, NotFound
from gateway.fhir.guard import Guard
from gateway.fhir.service import ResourceService, Stored
from gateway.notify import topics
from gateway.notify.bundle import status_parameters
from gateway.notify.outbox import Outbox
from gateway.notify.permitted import check_topic
from gateway.notify.repository import NotifyRepository
from gateway.notify.signing import EVENT_ID, SIGNATURE, TIMESTAMP, new_secret
from gateway.notify.subscriber import subscriber_extension, without_subscriber
from gateway.sharing.profile import agency_uri

Resource = dict[str, Any]
_RESERVED_HEADERS = {h.lower() for h in (SIGNATURE, TIMESTAMP, EVENT_ID, "idempotency-key")}
_RESERVED_HEADERS |= {"content-type", "content-length", "host"}


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """What a Subscription asks for, checked."""

    topic: str
    endpoint: str
    headers: tuple[str, ...]
    content: str
    heartbeat: int | None


def _ext(element: Any, url: str) -> Any:
    for ext in (element or {}).get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None


def _filter_for(topic: str, agency: str) -> str:
    param = topics.TOPICS[topic][1]
    return f"Task?{param}=Organization/{agency}"


def check_subscription(body: Any, agency: str, *, https_only: bool) -> SubscriptionSpec:
    """Refuse (400/403) a Subscription the gateway cannot serve for ``agency``."""
    if not isinstance(body, dict) or body.get("resourceType") != "Subscription":
        raise InvalidRequest("send a Subscription resource", expression="resourceType")
    topic = topics.topic_name(str(body.get("criteria") or ""))
    if topic is None:
        known = ", ".join(topics.canonical(t) for t in topics.TOPICS)
        raise InvalidRequest(
            f"Subscription.criteria must name a topic this gateway publishes: {known}",
            expression="Subscription.criteria",
        )
    wanted = _filter_for(topic, agency)
    for ext in (body.get("_criteria") or {}).get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == topics.FILTER_CRITERIA:
            given = str(ext.get("valueString", "")).replace(" ", "")
            if given != wanted:
                raise Forbidden(
                    f"this topic can only be filtered to your own agency ({wanted})",
                    expression="Subscription.criteria.extension",
                )
    channel = body.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise InvalidRequest(
            "only rest-hook channels are supported", expression="Subscription.channel.type"
        )
    endpoint = str(channel.get("endpoint") or "")
    parts = urlsplit(endpoint)
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme not in schemes or not parts.netloc:
        raise InvalidRequest(
            f"Subscription.channel.endpoint must be an absolute {' or '.join(schemes)} URL",
            expression="Subscription.channel.endpoint",
        )
    if channel.get("payload") not in (None, "application/fhir+json", "application/json"):
        raise InvalidRequest(
            "notifications are sent as application/fhir+json",
            expression="Subscription.channel.payload",
        )
    content = _ext(channel.get("_payload"), topics.PAYLOAD_CONTENT) or "id-only"
    if content not in topics.CONTENTS:
        raise InvalidRequest(
            f"payload content must be one of {', '.join(topics.CONTENTS)}",
            expression="Subscription.channel.payload.extension",
        )
    headers = tuple(str(h) for h in channel.get("header") or [])
    for header in headers:
        name, sep, _ = header.partition(":")
        if not sep or not name.strip() or name.strip().lower() in _RESERVED_HEADERS:
            raise InvalidRequest(
                "each channel.header is 'Name: value' and may not set the gateway's own headers",
                expression="Subscription.channel.header",
            )
    heartbeat = _ext(channel, topics.HEARTBEAT_PERIOD)
    if heartbeat is not None and (not isinstance(heartbeat, int) or heartbeat < 1):
        raise InvalidRequest(
            "the heartbeat period is a whole number of seconds",
            expression="Subscription.channel.extension",
        )
    return SubscriptionSpec(topic, endpoint, headers, str(content), heartbeat)


def _normalised(body: Resource, spec: SubscriptionSpec, caller: Caller, agency: str) -> Resource:
    out = copy.deepcopy(body)
    out.pop("id", None)
    out["extension"] = [*without_subscriber(out.get("extension")), subscriber_extension(caller)]
    out["status"] = "requested"
    out.setdefault("reason", f"{spec.topic} notifications for {agency}")
    out["criteria"] = topics.canonical(spec.topic)
    others = [
        e
        for e in (out.get("_criteria") or {}).get("extension") or []
        if not (isinstance(e, dict) and e.get("url") == topics.FILTER_CRITERIA)
    ]
    out["_criteria"] = {
        "extension": [
            *others,
            {"url": topics.FILTER_CRITERIA, "valueString": _filter_for(spec.topic, agency)},
        ]
    }
    channel = out.setdefault("channel", {})
    channel["payload"] = "application/fhir+json"
    channel["_payload"] = {
        "extension": [{"url": topics.PAYLOAD_CONTENT, "valueCode": spec.content}]
    }
    meta = out.setdefault("meta", {})
    meta["source"] = agency_uri(agency)  # the sharing rules read it as the owner
    profiles = meta.setdefault("profile", [])
    if topics.SUBSCRIPTION_PROFILE not in profiles:
        profiles.append(topics.SUBSCRIPTION_PROFILE)
    return out


def create_subscription(
    svc: ResourceService,
    caller: Caller,
    body: Any,
    *,
    now: float,
    https_only: bool,
    guard: Guard | None = None,
) -> tuple[Stored, str]:
    """Store the Subscription, queue its handshake; return it and its signing secret.

    ``guard`` is the request's sharing guard: a topic whose notifications it could never show the
    caller is refused (403). Internal callers that subscribe on an agency's behalf pass none.
    """
    if not caller.agency:
        raise Forbidden("only a registered agency can subscribe to notifications")
    spec = check_subscription(body, caller.agency, https_only=https_only)
    if guard is not None:
        check_topic(guard, spec.topic)
    stored = svc.create("Subscription", _normalised(body, spec, caller, caller.agency))
    secret = new_secret()
    row = NotifySubscriptionRow(
        id=stored.rid,
        agency=caller.agency,
        client_id=caller.client_id,
        topic=spec.topic,
        endpoint=spec.endpoint,
        headers=orjson.dumps(list(spec.headers)).decode(),
        content=spec.content,
        secret=secret,
        status="requested",
        heartbeat_seconds=spec.heartbeat,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    NotifyRepository(svc.session).add_subscription(row)
    Outbox(svc.session, svc.base_url, now).status_message(row, "handshake")
    return stored, secret


def visible_subscription(svc: ResourceService, caller: Caller, sid: str) -> NotifySubscriptionRow:
    """The subscription, if the caller's agency owns it (auditors and admins see all)."""
    row = NotifyRepository(svc.session).subscription(sid)
    if row is None:
        raise NotFound(f"Subscription/{sid} is not known")
    if row.agency != caller.agency and caller.role not in ("gateway_admin", "bha_auditor"):
        raise Forbidden("this subscription belongs to another agency")
    return row


def set_status(
    svc: ResourceService, row: NotifySubscriptionRow, status: str, error: str | None = None
) -> None:
    """Record a new status on the row and on the stored Subscription resource."""
    row.status = status
    try:
        stored = svc.read("Subscription", row.id)
    except FhirError:  # the resource was deleted over FHIR: the row still decides
        return
    doc = orjson.loads(stored.content or "{}")
    doc["status"] = status
    if error:
        doc["error"] = error
    else:
        doc.pop("error", None)
    svc.update("Subscription", row.id, doc)


def switch_off(svc: ResourceService, caller: Caller, sid: str, now: float) -> None:
    row = visible_subscription(svc, caller, sid)
    if row.agency != caller.agency and caller.role != "gateway_admin":
        raise Forbidden("only the subscribing agency can switch this subscription off")
    locked = NotifyRepository(svc.session).subscription(sid, for_update=True)
    assert locked is not None
    locked.updated_at = now
    set_status(svc, locked, "off")


def status_resource(svc: ResourceService, row: NotifySubscriptionRow) -> Resource:
    """``$status``: the subscription's SubscriptionStatus (type ``query-status``)."""
    return status_parameters(
        fhir_base=svc.base_url,
        subscription_id=row.id,
        topic=row.topic,
        status=row.status,
        kind="query-status",
        events_since_start=row.events_since_start,
    )
