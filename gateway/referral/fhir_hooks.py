"""The referral package's part in FHIR REST writes (:mod:`gateway.fhir.write_hooks`).

* ``POST /fhir/Task`` (or a Task entry of a batch or transaction Bundle) whose ``focus`` is a
  stored referral ServiceRequest of the caller's own agency opens a referral: it is routed and
  the Task comes back with its owner, deadline and business status.
* ``PUT``/``PATCH /fhir/Task/{id}`` of a referral Task is the transition its new ``status`` asks
  for (reason from ``statusReason``, outcome and appointment from ``output``): 409 when illegal,
  403 when the caller is neither the referrer nor the receiver.
* ``DELETE /fhir/Task/{id}`` of a referral Task is refused (409): cancel it instead.

Other Tasks pass through to the next hook and the generic write. The Task returned is passed
through the request's sharing guard, so the interaction's AuditEvent names it and its patient.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.fhir.errors import Conflict, PreconditionFailed
from gateway.fhir.patch import apply_patch
from gateway.fhir.service import Stored
from gateway.fhir.write_hooks import WriteContext, WriteHook, registry, written_or_current
from gateway.placement.workflow_codes import TASK_CODE_SYSTEM, code_in, ref_id
from gateway.referral import codes
from gateway.referral.lifecycle import ReferralLifecycle, Step
from gateway.referral.repository import ReferralRepository
from gateway.referral.service import ReferralService
from gateway.referral.transitions import state_of
from gateway.referral.types import ReferralContext
from gateway.referral.unit import ReferralUnit

Resource = dict[str, Any]


def _context(state: Any) -> ReferralContext | None:
    ctx = getattr(state, "referral", None)
    return ctx if isinstance(ctx, ReferralContext) else None


def _referral_focus(wf: ReferralUnit, body: Any) -> bool:
    if not isinstance(body, dict) or body.get("partOf"):
        return False
    if code_in(body.get("code"), TASK_CODE_SYSTEM) != "fulfill":
        return False
    sr_id = ref_id(body.get("focus"), "ServiceRequest")
    sr = wf.find("ServiceRequest", sr_id) if sr_id else None
    return sr is not None and codes.service_type_of(sr) is not None


def step_from_task(body: Any) -> Step:
    """The transition a new version of a referral Task asks for."""
    if not isinstance(body, dict):
        raise Conflict("send the referral Task with its new status")
    wanted = state_of(body.get("status"))
    if wanted is None:
        raise Conflict(f"a referral Task cannot have status {str(body.get('status'))[:32]}")
    reason = body.get("statusReason") or {}
    reason_code = code_in(reason, codes.REJECT_SYSTEM) or code_in(reason, codes.CANCEL_SYSTEM)
    outcome = appointment = None
    for item in body.get("output") or []:
        kind = code_in((item or {}).get("type"), codes.REFERRAL_SYSTEM)
        if kind == codes.OUTPUT_OUTCOME:
            outcome = code_in(item.get("valueCodeableConcept"), codes.OUTCOME_SYSTEM)
        elif kind == codes.OUTPUT_APPOINTMENT:
            appointment = item.get("valueReference")
    return Step(
        wanted,
        reason=reason_code,
        text=reason.get("text"),
        outcome=outcome,
        appointment=appointment,
    )


class ReferralTaskHook(WriteHook):
    """FHIR writes of Tasks, routed through the referral workflow when they are referral Tasks."""

    def create(self, w: WriteContext, rtype: str, body: Any, rid: str | None) -> Stored | None:
        ctx = _context(w.state)
        if ctx is None:
            return None
        wf = ReferralService(w.session, ctx)
        if not _referral_focus(wf, body):
            return None
        opened = wf.open(w.caller.agency, None, task=body, source="fhir", rid=rid)
        return w.shown(written_or_current(wf.svc, opened.task, created=True))

    def update(
        self, w: WriteContext, rtype: str, rid: str, body: Any, if_match: str | None
    ) -> Stored | None:
        ctx = _context(w.state)
        if ctx is None or not ReferralRepository(w.session).is_referral_task(rid):
            return None
        wf = ReferralLifecycle(w.session, ctx)
        current = wf.read("Task", rid)
        if if_match is not None and if_match.strip() != f'W/"{current["meta"]["versionId"]}"':
            raise PreconditionFailed(f"Task/{rid} has changed since that version")
        step = step_from_task(body)
        if step.state.value == current.get("status"):
            return w.shown(written_or_current(wf.svc, current))
        return w.shown(
            written_or_current(wf.svc, wf.act(w.caller.agency, w.caller.role, rid, step))
        )

    def patch(
        self, w: WriteContext, rtype: str, rid: str, operations: Any, if_match: str | None
    ) -> Stored | None:
        ctx = _context(w.state)
        if ctx is None or not ReferralRepository(w.session).is_referral_task(rid):
            return None
        current = ReferralUnit(w.session, ctx).read("Task", rid)
        body = apply_patch(copy.deepcopy(current), operations)
        return self.update(w, rtype, rid, body, if_match)

    def delete(self, w: WriteContext, rtype: str, rid: str) -> Stored | None:
        if ReferralRepository(w.session).is_referral_task(rid):
            raise Conflict(
                f"Task/{rid} is a referral and cannot be deleted; cancel it instead "
                "(status cancelled with a statusReason)"
            )
        return None


def install_task_hooks(app: Any) -> None:
    """Route FHIR writes of referral Tasks through the workflow (idempotent)."""
    hooks = registry(app.state)
    if not any(isinstance(h, ReferralTaskHook) for h in hooks.hooks("Task")):
        hooks.register("Task", ReferralTaskHook())
