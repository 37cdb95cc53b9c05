"""Notification Bundles (Subscriptions R5 Backport, R4 shape).

A ``history`` Bundle whose first entry is a ``Parameters`` in the ``backport-subscription-status-r4``
profile (subscription, topic, status, type, events-since-subscription-start, notification-event with
event-number, timestamp, focus and additional-context), followed for ``full-resource`` by the
resources themselves. Handshakes and heartbeats carry the status entry only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.notify.topics import NOTIFICATION_PROFILE, STATUS_PROFILE, canonical

Resource = dict[str, Any]


def iso(ts: float) -> str:
    """Epoch seconds as a FHIR instant (UTC, milliseconds)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ref(fhir_base: str, resource: Resource) -> Resource:
    return {"reference": f"{fhir_base}/{resource['resourceType']}/{resource['id']}"}


def status_parameters(
    *,
    fhir_base: str,
    subscription_id: str,
    topic: str,
    status: str,
    kind: str,
    events_since_start: int,
    event_number: int | None = None,
    timestamp: float | None = None,
    focus: Resource | None = None,
    context: Sequence[Resource] = (),
) -> Resource:
    """The ``SubscriptionStatus`` of one notification (R4: a profiled Parameters)."""
    pid = str(uuid.uuid4())
    params: list[Resource] = [
        {
            "name": "subscription",
            "valueReference": {"reference": f"{fhir_base}/Subscription/{subscription_id}"},
        },
        {"name": "topic", "valueCanonical": canonical(topic)},
        {"name": "status", "valueCode": status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    if event_number is not None:
        part: list[Resource] = [{"name": "event-number", "valueString": str(event_number)}]
        if timestamp is not None:
            part.append({"name": "timestamp", "valueInstant": iso(timestamp)})
        if focus is not None:
            part.append({"name": "focus", "valueReference": _ref(fhir_base, focus)})
        part.extend(
            {"name": "additional-context", "valueReference": _ref(fhir_base, extra)}
            for extra in context
        )
        params.append({"name": "notification-event", "part": part})
    return {
        "resourceType": "Parameters",
        "id": pid,
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": params,
    }


def notification_bundle(
    *,
    fhir_base: str,
    subscription_id: str,
    status: Resource,
    resources: Sequence[Resource] = (),
    timestamp: float,
) -> Resource:
    """The history Bundle POSTed to the subscriber."""
    entries: list[Resource] = [
        {
            "fullUrl": f"urn:uuid:{status['id']}",
            "resource": status,
            "request": {
                "method": "GET",
                "url": f"{fhir_base}/Subscription/{subscription_id}/$status",
            },
            "response": {"status": "200"},
        }
    ]
    for resource in resources:
        rtype, rid = resource["resourceType"], resource["id"]
        version = (resource.get("meta") or {}).get("versionId")
        entries.append(
            {
                "fullUrl": f"{fhir_base}/{rtype}/{rid}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"{rtype}/{rid}"},
                "response": {"status": "201" if version in (None, "1") else "200"},
            }
        )
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": iso(timestamp),
        "entry": entries,
    }
