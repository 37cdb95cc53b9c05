"""What a receiving organisation's work queue and a referral's status page show.

The queue lists the organisation's referrals (optionally one team's), most urgent first: overdue
ones on top, then by urgency and the answer deadline. A referral's status shows its Task, state,
deadline and appointment to its two parties, with the ServiceRequest and the Patient as far as
the sharing rules let the caller see them (the receiver's view comes from the sharing guard).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.orm import Session

from gateway.auth.schemas import Caller
from gateway.db.tables_referral import ReferralRow
from gateway.fhir.errors import FhirError
from gateway.placement.workflow_codes import iso
from gateway.referral import codes
from gateway.referral.lifecycle import ReferralLifecycle
from gateway.referral.metrics import is_overdue
from gateway.referral.transitions import State, next_states
from gateway.referral.types import ReferralContext

Resource = dict[str, Any]
QUEUE_LIMIT = 500
_RANK = {u: i for i, u in enumerate(codes.URGENCIES)}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)


def _entry(row: ReferralRow, task: Resource, now: float) -> Resource:
    return {
        "task": task,
        "state": row.state,
        "urgency": row.urgency,
        "service_type": row.service_type,
        "referrer": row.referrer,
        "receiver": row.receiver,
        "team": row.team,
        "routed_by": row.routed_by,
        "overdue": is_overdue(row, now),
        "escalated": row.escalated_at is not None,
        "awaiting_shift": row.shift_flag_at is not None,
        "on_duty_from": _iso(row.visible_at),
        "respond_by": _iso(row.respond_by),
        "created": _iso(row.created_at),
    }


def queue_view(
    session: Session,
    ctx: ReferralContext,
    agency: str,
    states: list[str],
    team: str | None,
    overdue: str | None,
    side: str,
) -> Resource:
    """The referrals ``agency`` receives (``side`` receiver) or made (``side`` referrer)."""
    wf = ReferralLifecycle(session, ctx)
    rows = (
        wf.repo.queue(agency, states, team, QUEUE_LIMIT)
        if side == "receiver"
        else wf.repo.sent(agency, states, QUEUE_LIMIT)
    )
    if overdue is not None:
        rows = [r for r in rows if is_overdue(r, wf.now) == (overdue == "true")]
    rows.sort(
        key=lambda r: (not is_overdue(r, wf.now), _RANK.get(r.urgency, 9), r.respond_by, r.pk)
    )
    items = [_entry(r, wf.read("Task", r.task_id), wf.now) for r in rows]
    return {
        side: agency,
        "as_of": iso(wf.now),
        "total": len(items),
        "counts": {s: sum(1 for r in rows if r.state == s) for s in states},
        "overdue": sum(1 for r in rows if is_overdue(r, wf.now)),
        "items": items,
    }


def _shown(guard: Any, rtype: str, rid: str | None, wf: ReferralLifecycle) -> Resource | None:
    """``rtype/rid`` as the caller may see it (None when the sharing rules withhold it)."""
    if rid is None:
        return None
    try:
        stored = wf.svc.read(rtype, rid)
    except FhirError:
        return None
    content = guard.shown(rtype, rid, stored.content or "{}", "read")
    return None if content is None else dict(orjson.loads(content))


def referral_view(
    session: Session, ctx: ReferralContext, caller: Caller, some_id: str, guard: Any
) -> Resource:
    """One referral's status for one of its parties (or an administrator)."""
    wf = ReferralLifecycle(session, ctx)
    row = wf.locked(some_id, lock=False)
    actors = wf.party(row, caller.agency, caller.role)
    view = _entry(row, wf.read("Task", row.task_id), wf.now)
    view.update(
        {
            "patient_id": row.patient_id,
            "outcome": row.outcome,
            "reason": row.reason,
            "appointment_start": _iso(row.appointment_at),
            "appointment": _shown(guard, "Appointment", row.appointment_id, wf),
            "service_request": _shown(guard, "ServiceRequest", row.service_request_id, wf),
            "patient": _shown(guard, "Patient", row.patient_id, wf),
            "next": [s.value for s in next_states(actors, State(row.state))],
        }
    )
    return view
