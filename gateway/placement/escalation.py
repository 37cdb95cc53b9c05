"""Placement timers: escalation, release of unused reserved beds, involuntary-hold alerts.

:func:`run_due` does everything that is due at ``now`` in the caller's transaction; a periodic worker
(:func:`placement_worker`) calls it every few seconds in every replica. Due rows are claimed with
``FOR UPDATE SKIP LOCKED``, so two replicas never work the same request, and each request is handled
under a savepoint, so one bad request does not hold up the others.

* **Escalation**: an open request whose answers are overdue (``response_seconds`` after the last
  ask, or at once when every facility asked has declined) asks the next best units, within the
  radius reached so far and then one radius step wider at a time; the requester is told in a note
  on the parent Task (and a ``placement-status`` notification).
* **Bed release**: a bed reserved ``bed_hold_seconds`` ago for a patient who has not arrived is
  released and the placement fails with reason ``bed-hold-expired``.
* **Hold alert**: ``hold_alert_seconds`` before an involuntary hold expires, while the placement is
  not complete, a ``Communication`` (category alert, priority urgent) goes to the requester.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gateway.db.tables_placement import PlacementRequestRow
from gateway.notify.worker import PeriodicWorker
from gateway.placement import workflow_codes as codes
from gateway.placement.transitions import Actor, Phase
from gateway.placement.workflow_matcher import prepare_candidates
from gateway.placement.workflow_types import PlacementContext
from gateway.placement.workflow_updates import PlacementWorkflow

log = logging.getLogger("gateway.placement")
Resource = dict[str, Any]
COMMUNICATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"


@dataclass
class DueReport:
    """What one :func:`run_due` pass did."""

    escalated: int = 0
    exhausted: int = 0
    released: int = 0
    alerted: int = 0
    errors: int = 0


def run_due(
    session: Session, ctx: PlacementContext, now: float | None = None, limit: int = 100
) -> DueReport:
    """Escalate, release and alert whatever is due at ``now`` (default: the context's clock)."""
    wf = PlacementWorkflow(session, ctx, now)
    report = DueReport()
    steps = (
        (wf.repo.due_bed_releases, _release),
        (wf.repo.due_escalations, _escalate),
        (wf.repo.due_alerts, _alert),
    )
    for find, act in steps:
        for row in find(wf.now, limit):
            queued, refs = len(wf.outbox.notices), len(wf.svc.deferred_refs or [])
            try:
                with session.begin_nested():
                    act(wf, row, report)
                    wf.svc.finish_transaction()  # this request's references, checked now
                    wf.svc.deferred_refs = []
            except Exception:  # one request's failure must not stop the others
                del wf.outbox.notices[queued:]
                wf.svc.deferred_refs = (wf.svc.deferred_refs or [])[:refs]
                report.errors += 1
                log.exception("placement timer failed for request %s", row.task_id)
    wf.finish()
    return report


def _escalate(wf: PlacementWorkflow, row: PlacementRequestRow, report: DueReport) -> None:
    sr = wf.read("ServiceRequest", row.service_request_id)
    parent = wf.read("Task", row.task_id)
    children = wf.ask(row, sr, parent, first=False)
    minutes = round(wf.ctx.config.response_seconds / 60)
    if children:
        row.exhausted = False
        report.escalated += 1
        text = (
            f"No acceptance yet (answers are due within {minutes} min): asked "
            f"{len(children)} more {'facility' if len(children) == 1 else 'facilities'} "
            f"within {row.radius_km:g} km."
        )
    elif not row.exhausted:
        row.exhausted = True
        report.exhausted += 1
        text = (
            f"No acceptance yet and no other facility within {row.radius_km:g} km to ask; "
            f"the gateway keeps looking every {minutes} min."
        )
    else:
        return
    parent.setdefault("note", []).append({"time": codes.iso(wf.now), "text": text})
    parent["lastModified"] = codes.iso(wf.now)
    wf.tell_requester(row, wf.write(parent))


def _release(wf: PlacementWorkflow, row: PlacementRequestRow, report: DueReport) -> None:
    hours = wf.ctx.config.bed_hold_seconds / 3600
    reason = codes.close_reason(
        "bed-hold-expired", f"the reserved bed was not used within {hours:g} h and was released"
    )
    wf.move_request(row, Phase.FAILED, frozenset({Actor.GATEWAY}), reason=reason)
    report.released += 1


def _alert(wf: PlacementWorkflow, row: PlacementRequestRow, report: DueReport) -> None:
    expires = row.hold_expires_at or wf.now
    minutes = max(0, round((expires - wf.now) / 60))
    text = (
        f"The involuntary hold expires at {codes.iso(expires)} (in {minutes} min) and the "
        f"placement is still {row.phase}."
    )
    alert: Resource = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [codes.concept(COMMUNICATION_CATEGORY, "alert", "Alert")],
        "priority": "urgent",
        "about": [codes.ref("Task", row.task_id)],
        "recipient": [codes.ref("Organization", row.requester)],
        "sent": codes.iso(wf.now),
        "payload": [{"contentString": text}],
    }
    if row.patient_id:
        alert["subject"] = codes.ref("Patient", row.patient_id)
    row.hold_alert_at = None
    wf.tell_requester(row, wf.create(alert, author=row.requester), wf.read("Task", row.task_id))
    report.alerted += 1


def placement_worker(app: Any, interval: float = 5.0) -> PeriodicWorker:
    """The periodic worker for the app's lifespan (``app.state.placement`` must be set)."""
    state = app.state

    def tick() -> None:
        prepare_candidates(state.placement)
        with state.db.unit_of_work() as session:
            run_due(session, state.placement)

    return PeriodicWorker("placement-timers", tick, interval)
