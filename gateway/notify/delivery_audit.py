"""The audit trail of deliveries: every attempt to send an event notification, with the decisions
made for it, appended in the transaction that records the attempt's outcome.

As on the read path (``gateway.audit.fhir_trail.record_access`` takes the request guard's
``decisions``), the event names the patients and resources released, the policies that decided and
the consents consulted; the subscriber's client, user, agency, role and purpose of use are its
agents, and the message's event id (the receiver's ``X-Event-Id``) is its request id. A notification
leaving the gateway is a DCM 110106 Export; for a purpose outside treatment, payment and operations
(police: HLEGAL, THREAT) a delivered one is a disclosure that appears in the accounting (45 CFR
164.528), as a read is. Whatever was withheld is recorded as well, as a DCM 110113 Security Alert
(BALP AuthZ, outcome 8) naming what was withheld and the policies that refused it, so no
notification content disappears without trace.

If the audit cannot be written the attempt's record rolls back with it: the message stays pending
and is decided and sent again (same event id), never marked delivered without its audit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from gateway.audit import codes as c
from gateway.audit.events import AuditContext
from gateway.audit.log import AuditLog
from gateway.db.tables_placement import NotifyOutboxRow, NotifySubscriptionRow
from gateway.notify.release import Released

Resource = dict[str, Any]


def _context(sub: NotifySubscriptionRow, msg: NotifyOutboxRow, released: Released) -> AuditContext:
    who = released.subscriber
    return AuditContext(
        client_id=who.client_id if who else sub.client_id,
        agency=sub.agency,
        role=who.role if who else None,
        user=who.user if who else None,
        purposes=(released.purpose,) if released.purpose else (),
        request_id=msg.event_id,
    )


def delivery_event(
    audit: AuditLog,
    ctx: AuditContext,
    what: str,
    released: Released,
    *,
    delivered: bool,
    outcome_desc: str,
) -> Resource:
    """DCM 110106 Export of one notification (a disclosure when delivered for a non-TPO purpose)."""
    events = audit.events
    sent = set(released.sent)
    shown = [d for d in released.decisions if d.decision.allowed and f"{d.rtype}/{d.rid}" in sent]
    patients = sorted({f"Patient/{d.patient}" for d in shown if d.patient})
    disclosure = delivered and bool(patients) and c.is_accountable(ctx.purpose)
    event = events.base(
        c.coding(c.DCM, "110106"),
        [c.coding(c.LIFECYCLE, "disclose")] if disclosure else [],
        "R",
        c.OUTCOME_SUCCESS if delivered else c.OUTCOME_MINOR,
        outcome_desc=outcome_desc,
        purposes=ctx.purposes,
    )
    events.people(
        event,
        ctx,
        client_type=c.concept(c.DCM, "110152"),
        user_type=c.concept(c.PARTICIPATION, "IRCP"),
        policies=sorted({p for d in shown for p in d.decision.policy_ids}),
    )
    event["agent"].insert(1, events.server_agent(c.concept(c.DCM, "110153")))
    event["entity"].append(
        {
            "type": c.coding(c.ENTITY_TYPE, "2"),
            "role": c.coding(c.OBJECT_ROLE, "3"),
            "description": what[:500],
        }
    )
    events.add_entities(
        event,
        ctx,
        patients=patients,
        resources=released.sent,
        consents=sorted({x for d in released.decisions for x in d.decision.consents_consulted}),
    )
    return event


def withheld_event(audit: AuditLog, ctx: AuditContext, what: str, released: Released) -> Resource:
    """DCM 110113 Security Alert (BALP AuthZ, outcome 8): what the rules kept out of a notification."""
    gone = set(released.withheld)
    refused = [d for d in released.decisions if f"{d.rtype}/{d.rid}" in gone]
    listed = ", ".join(released.withheld[:20])
    more = f" and {len(released.withheld) - 20} more" if len(released.withheld) > 20 else ""
    why = released.reason or "refused by the sharing rules, or no longer stored"
    event = audit.events.consent_decision(
        ctx,
        permit=False,
        patients=sorted({f"Patient/{d.patient}" for d in refused if d.patient}),
        consents=sorted({x for d in refused for x in d.decision.consents_consulted}),
        policies=sorted({p for d in refused for p in d.decision.policy_ids}),
        outcome_desc=f"withheld from {what}: {listed}{more} ({why})",
    )
    # the withheld resources themselves, so an auditor's search lists them
    audit.events.add_entities(
        event, replace(ctx, request_id=None, token_id=None), resources=released.withheld
    )
    return event


def record_attempt(
    audit: AuditLog,
    session: Session,
    sub: NotifySubscriptionRow,
    msg: NotifyOutboxRow,
    released: Released,
    *,
    delivered: bool,
    result: str,
) -> None:
    """Append the attempt's events to ``session``'s transaction (raises ``AuditUnavailable``)."""
    if not released.event:
        return  # handshakes and heartbeats carry nothing to decide
    ctx = _context(sub, msg, released)
    what = f"notification {msg.event_number} of Subscription/{sub.id} ({sub.topic})"
    audit.append(
        session,
        delivery_event(audit, ctx, what, released, delivered=delivered, outcome_desc=result),
    )
    if released.withheld:
        audit.append(session, withheld_event(audit, ctx, what, released))
