"""Referral timers: intake of referrals that arrived as plain resources, the start-of-shift flag,
and escalation of unanswered referrals to the receiving organisation's supervisor.

:func:`run_due` does everything due at ``now`` in the caller's transaction; :func:`referral_worker`
calls it every few seconds in every replica. Due rows are claimed with ``FOR UPDATE SKIP LOCKED``
and each referral is handled under a savepoint, so one bad referral does not hold up the others.

* **Intake**: an active referral ServiceRequest (HL7 REF^I12 through ``POST /ingest``, a police
  crisis record asking for follow-up, a transaction Bundle, a bulk load) with no referral yet is
  routed (:meth:`ReferralService.adopt`).
* **Shift start**: a referral that waited for an off-duty team is flagged on its Task when the
  team's shift starts, and the receiving organisation is told then.
* **Withdrawal**: an open referral whose ServiceRequest the referrer revoked (HL7 REF^I14, a
  corrected police record) is cancelled by the gateway and both parties are told.
* **Escalation**: a referral neither accepted nor rejected by its urgency's time limit is marked
  ``overdue``, a ``Communication`` alert goes to the receiving organisation and its supervisors
  (its PractitionerRoles coded ``supervisor``; topic ``referral-escalation``) and the referrer is
  told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gateway.db.tables_referral import ReferralRow
from gateway.notify.worker import PeriodicWorker
from gateway.placement.escalation import COMMUNICATION_CATEGORY
from gateway.placement.workflow_codes import concept, iso, ref
from gateway.referral import codes
from gateway.referral.lifecycle import ReferralLifecycle, Step
from gateway.referral.service import ReferralService
from gateway.referral.tasks import add_note, business
from gateway.referral.transitions import Actor, State
from gateway.referral.types import ReferralContext

log = logging.getLogger("gateway.referral")
Resource = dict[str, Any]


@dataclass
class DueReport:
    """What one :func:`run_due` pass did."""

    adopted: int = 0
    withdrawn: int = 0
    flagged: int = 0
    escalated: int = 0
    errors: int = 0


def run_due(
    session: Session, ctx: ReferralContext, now: float | None = None, limit: int = 100
) -> DueReport:
    """Adopt, flag and escalate whatever is due at ``now`` (default: the context's clock)."""
    wf = ReferralWorkflow(session, ctx, now)
    report = DueReport()
    for pk, sr in wf.repo.unadopted_referrals(ctx.config.intake_limit, sorted(ctx.failed_intake)):
        if not _guarded(wf, report, f"intake of ServiceRequest/{sr.get('id')}", _adopt, sr):
            ctx.failed_intake.add(pk)
        else:
            report.adopted += 1
    for row in wf.repo.withdrawn(limit):
        _guarded(wf, report, f"withdrawal of Task/{row.task_id}", _withdraw, row)
    for row in wf.repo.due_shift_flags(wf.now, limit):
        _guarded(wf, report, f"shift flag of Task/{row.task_id}", _flag, row)
    for row in wf.repo.due_escalations(wf.now, limit):
        _guarded(wf, report, f"escalation of Task/{row.task_id}", _escalate, row)
    wf.finish()
    return report


class ReferralWorkflow(ReferralService, ReferralLifecycle):
    """Opening and the later steps on one unit of work (what the timers need)."""


def _guarded(wf: ReferralService, report: DueReport, what: str, act: Any, item: Any) -> bool:
    queued, refs = len(wf.outbox.notices), len(wf.svc.deferred_refs or [])
    try:
        with wf.session.begin_nested():
            act(wf, item, report)
            wf.svc.finish_transaction()
            wf.svc.deferred_refs = []
        return True
    except Exception as exc:  # one referral's failure must not stop the others
        del wf.outbox.notices[queued:]
        wf.svc.deferred_refs = (wf.svc.deferred_refs or [])[:refs]
        report.errors += 1
        log.warning("referral timer: %s failed (%s)", what, type(exc).__name__)
        return False


def _adopt(wf: ReferralWorkflow, sr: Resource, report: DueReport) -> None:
    opened = wf.adopt(sr, source=source_of(sr), finish=False)
    log.info("referral %s routed (%s)", opened.row.task_id, opened.row.routed_by)


def source_of(sr: Resource) -> str:
    """Where a referral that arrived as plain resources came from (for the metrics)."""
    systems = {
        str(c.get("system"))
        for concept in [sr.get("code"), *(sr.get("category") or [])]
        for c in (concept or {}).get("coding") or []
        if isinstance(c, dict)
    }
    if codes.POLICE_SERVICE in systems:
        return "police-rms"
    if systems & set(codes.REFERRAL_SYSTEMS):
        return "hl7v2"
    return "ingest"


def _withdraw(wf: ReferralWorkflow, row: ReferralRow, report: DueReport) -> None:
    step = Step(
        State.CANCELLED,
        reason="withdrawn",
        text="The referrer withdrew the request (its ServiceRequest was revoked).",
    )
    wf.apply(row, frozenset({Actor.GATEWAY}), step, finish=False)
    report.withdrawn += 1


def _flag(wf: ReferralService, row: ReferralRow, report: DueReport) -> None:
    row.shift_flag_at = None
    row.updated_at = wf.now
    if row.state not in ("requested", "received"):
        return
    task = wf.read("Task", row.task_id)
    task["businessStatus"] = business("shift-started")
    add_note(
        task, "Arrived while the team was off duty; flagged at the start of its shift.", wf.now
    )
    task["lastModified"] = iso(wf.now)
    written = wf.write(task)
    wf.tell_receiver(row, written)
    report.flagged += 1


def _escalate(wf: ReferralService, row: ReferralRow, report: DueReport) -> None:
    row.escalated_at = wf.now
    row.updated_at = wf.now
    hours = (wf.now - row.visible_at) / 3600
    text = (
        f"Referral not answered within the {row.urgency} time limit "
        f"({wf.ctx.config.limit(row.urgency) / 3600:g} h; waiting {hours:.1f} h): escalated to "
        "the receiving organisation's supervisor."
    )
    task = wf.read("Task", row.task_id)
    task["businessStatus"] = business("overdue")
    add_note(task, text, wf.now)
    task["lastModified"] = iso(wf.now)
    written = wf.write(task)
    alert: Resource = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [concept(COMMUNICATION_CATEGORY, "alert", "Alert")],
        "priority": "urgent" if row.urgency in ("stat", "asap", "urgent") else "routine",
        "about": [ref("Task", row.task_id)],
        "recipient": [ref("Organization", row.receiver)] if row.receiver else [],
        "sent": iso(wf.now),
        "payload": [{"contentString": text}],
        "reasonCode": [{"text": "supervisor escalation: overdue referral"}],
    }
    if row.patient_id:
        alert["subject"] = ref("Patient", row.patient_id)
    if row.receiver:
        alert["recipient"] += [
            ref("PractitionerRole", rid) for rid in wf.repo.supervisors_of(row.receiver)
        ]
    if not alert["recipient"]:
        alert.pop("recipient")
    stored = wf.create(alert, author=row.receiver or row.referrer)
    wf.tell_supervisor(row, stored, written)
    wf.tell_referrer(row, written)
    report.escalated += 1


def referral_worker(app: Any, interval: float = 5.0) -> PeriodicWorker:
    """The periodic worker for the app's lifespan (``app.state.referral`` must be set)."""
    state = app.state

    def tick() -> None:
        with state.db.unit_of_work() as session:
            run_due(session, state.referral)

    return PeriodicWorker("referral-timers", tick, interval)
