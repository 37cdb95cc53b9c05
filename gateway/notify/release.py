"""What a subscriber receives: every notification decided by the sharing rules as it is sent.

The outbox holds each event's *candidate* Bundle, built when the change committed (the focus and
context as the publishing workflow offers them). The delivery worker calls :func:`release` just
before each POST, with the facts as they are then: a consent revoked, an opt-out added, an agreement
withdrawn or a registry entry disabled between the event and its delivery takes effect. A retry is
decided again.

For the subscriber (:mod:`gateway.notify.subscriber`) a fresh :class:`SharingGuard` decides each
resource on its stored version, as a read (``guard.shown``: projection, redaction, the 42 CFR 2.32
notice):

- ``full-resource``: each resource is decided on the version the event carried. What is sent is the
  rules' output; where the publisher already offered less (the placement workflow leaves the patient
  reference off a facility's Task before it accepts) only the elements it offered are kept; a
  reduction of its own (the facility's minimum-necessary request) is sent as offered, and only when
  the rules allow the stored resource. A resource the rules withhold leaves the Bundle together with
  its ``additional-context`` reference.
- ``id-only``: a reference is kept only when the subscriber may read the resource now.
- ``empty``: nothing but the event number and time, so nothing to decide.

When the focus itself is withheld the event is still sent, as an ``empty`` one (no focus, no
context, no resources). The backport IG lets a subscriber detect lost notifications from the event
numbers (``errors.html``), so skipping the event would read as a gap to recover; an ``empty``
notification says only that something happened on a topic filtered to the subscriber's own agency,
which is the least any server's event numbering already says (its Safety and Security page
suggests falling back to less content rather than more).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session

from gateway.auth.schemas import Caller
from gateway.db.tables_placement import NotifyOutboxRow, NotifySubscriptionRow
from gateway.fhir.errors import FhirError
from gateway.fhir.guard import Guard
from gateway.fhir.service import ResourceService
from gateway.notify.subscriber import subscriber_of
from gateway.sharing.for_subscriber import SubscriberGuards
from gateway.sharing.guard import Recorded, SharingGuard

Resource = dict[str, Any]
log = logging.getLogger("gateway.notify")
NOTICE_SYSTEM = "urn:gateway:notice"
UNAUTHORISED = "the subscribing client or user is disabled or no longer with the agency"


@dataclass
class Released:
    """One message as it leaves: the bytes to POST and what was decided on the way."""

    payload: bytes
    event: bool = False  # an event notification (decided, audited); handshakes are not
    subscriber: Caller | None = None
    purpose: str | None = None
    decisions: list[Recorded] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # Type/id sent as content or reference
    withheld: list[str] = field(default_factory=list)
    reason: str | None = None  # why everything was withheld without a decision


def _local(reference: str) -> str:
    """``Type/id`` of an absolute reference ``{base}/Type/id``."""
    return "/".join(reference.split("/")[-2:])


def _event_part(status: Resource) -> Resource | None:
    for param in status.get("parameter") or []:
        if param.get("name") == "notification-event":
            return dict(param)
    return None


def _refs(event: Resource, name: str) -> list[str]:
    return [
        _local(str(p["valueReference"]["reference"]))
        for p in event.get("part") or []
        if p.get("name") == name and isinstance(p.get("valueReference"), dict)
    ]


def _within(part: Resource, whole: Resource) -> bool:
    """Every element of ``part`` is in ``whole`` unchanged (the publisher only left some out)."""
    return all(key in whole and whole[key] == value for key, value in part.items())


class _Decider:
    """Decides resources for one message with one guard, on their stored versions."""

    def __init__(self, guard: SharingGuard, svc: ResourceService) -> None:
        self.guard, self.svc = guard, svc

    def _stored(self, ref: str, version: str | None) -> str | None:
        rtype, rid = ref.split("/", 1)
        try:
            current = self.svc.read(rtype, rid)  # a deleted resource is not sent
            if version is None or str(current.version) == version or not version.isdigit():
                return current.content
            return self.svc.vread(rtype, rid, int(version)).content
        except FhirError:
            return None

    def shown(self, ref: str, offered: Resource | None) -> Resource | None:
        """What of ``ref`` may be sent (``offered``: the content the event carried, if any)."""
        version = ((offered or {}).get("meta") or {}).get("versionId")
        content = self._stored(ref, str(version) if version is not None else None)
        if content is None:
            return None
        rtype, rid = ref.split("/", 1)
        shown = self.guard.shown(rtype, rid, content, "read")
        if shown is None:
            return None
        decided: Resource = orjson.loads(shown)
        if offered is None:
            return decided
        stored: Resource = orjson.loads(content)
        if offered == stored:
            return decided
        if _within(offered, stored):
            return {key: value for key, value in decided.items() if key in offered}
        return _with_notice(offered, decided)


def readable(svc: ResourceService, guard: Guard, ref: str) -> bool:
    """Whether ``guard``'s caller may read ``ref`` (``Type/id``) now: the rule an ``id-only``
    reference follows, for anything else that names an event's resources to a subscriber."""
    rtype, _, rid = ref.partition("/")
    try:
        content = svc.read(rtype, rid).content
    except FhirError:
        return False
    return content is not None and guard.shown(rtype, rid, content, "read") is not None


def _with_notice(offered: Resource, decided: Resource) -> Resource:
    """The publisher's own reduction, carrying the notices the rules attach (42 CFR 2.32)."""
    notices = [
        t for t in (decided.get("meta") or {}).get("tag") or [] if t.get("system") == NOTICE_SYSTEM
    ]
    if not notices:
        return offered
    meta = dict(offered.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), *notices]
    return {**offered, "meta": meta}


def _rebuild(
    bundle: Resource,
    event: Resource,
    focus: bool,
    context: list[str],
    contents: dict[str, Resource],
) -> Resource:
    """The candidate Bundle with only what was released (its ids, numbers and times unchanged)."""
    parts = []
    for part in event.get("part") or []:
        name = part.get("name")
        ref = part.get("valueReference") or {}
        if name == "focus" and not focus:
            continue
        if name == "additional-context" and _local(str(ref.get("reference"))) not in context:
            continue
        parts.append(part)
    status = dict(bundle["entry"][0]["resource"])
    status["parameter"] = [
        {**event, "part": parts} if p.get("name") == "notification-event" else p
        for p in status.get("parameter") or []
    ]
    entries = [{**bundle["entry"][0], "resource": status}]
    for entry in bundle["entry"][1:]:
        resource = entry.get("resource") or {}
        ref = f"{resource.get('resourceType')}/{resource.get('id')}"
        if ref in contents:
            entries.append({**entry, "resource": contents[ref]})
    return {**bundle, "entry": entries}


def release(
    session: Session,
    fhir_base: str,
    sub: NotifySubscriptionRow,
    msg: NotifyOutboxRow,
    guards: SubscriberGuards,
) -> Released:
    """Decide ``msg`` for ``sub``'s owner now; the Bundle to send and the decisions made."""
    if msg.kind != "event-notification":
        return Released(msg.payload.encode())
    bundle: Resource = orjson.loads(msg.payload)
    event = _event_part(bundle["entry"][0]["resource"])
    if event is None:
        return Released(msg.payload.encode(), event=True)
    offered = {
        f"{r['resourceType']}/{r['id']}": r
        for r in (e.get("resource") or {} for e in bundle["entry"][1:])
        if r.get("resourceType") and r.get("id")
    }
    focus = next(iter(_refs(event, "focus")), None)
    context = _refs(event, "additional-context")
    named = list(dict.fromkeys([*([focus] if focus else []), *context, *offered]))
    out = Released(b"", event=True)
    out.subscriber = subscriber_of(session, sub, fhir_base)
    if out.subscriber is None:
        out.reason, out.withheld = UNAUTHORISED, named
        out.payload = orjson.dumps(_rebuild(bundle, event, False, [], {}))
        return out
    guard = guards.guard(session, out.subscriber)
    out.purpose = guard.purpose
    decider = _Decider(guard, ResourceService(session, fhir_base))
    contents: dict[str, Resource] = {}
    kept: list[str] = []
    for ref in named:
        if ref != focus and focus is not None and focus not in kept:
            out.withheld.append(ref)  # the event's focus is withheld: nothing else is decided
            continue
        shown = decider.shown(ref, offered.get(ref))
        if shown is None:
            out.withheld.append(ref)
            continue
        kept.append(ref)
        if ref in offered:
            contents[ref] = shown
    out.decisions = guard.decisions
    if focus is None or focus in kept:
        out.sent, rebuilt = kept, _rebuild(bundle, event, True, kept, contents)
    else:  # sent as an empty notification
        rebuilt = _rebuild(bundle, event, False, [], {})
    if out.withheld:
        log.info(
            "notification %s of subscription %s: %d of %d resources withheld by the sharing rules",
            msg.event_id,
            sub.id,
            len(out.withheld),
            len(named),
        )
    out.payload = orjson.dumps(rebuilt)
    return out
