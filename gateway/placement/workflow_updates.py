"""The placement workflow's entry points: FHIR updates of placement Tasks, and named actions.

A FHIR ``PUT``/``PATCH`` of a placement Task is a request for a transition: the state machine
(:mod:`gateway.placement.transitions`) decides whether the caller may make it. Who the caller is
follows from the Task: only the requesting agency updates the parent Task, only the owning facility
its child Task (403 otherwise); anything else than ``status``, ``businessStatus``,
``statusReason``, ``note`` (and, on a child, ``output``) must stay as stored (409).
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.auth.schemas import Caller
from gateway.db.tables_placement import PlacementOfferRow, PlacementRequestRow
from gateway.fhir.errors import Forbidden, InvalidRequest, NotFound, PreconditionFailed
from gateway.fhir.patch import apply_patch
from gateway.fhir.service import parse_etag
from gateway.placement import workflow_codes as codes
from gateway.placement.transitions import (
    DECLINE_REASONS,
    OPEN_OFFERS,
    Actor,
    IllegalTransition,
    OfferState,
    Phase,
    offer_state_of,
    phase_of,
)
from gateway.placement.workflow import Opened, requester_agency
from gateway.placement.workflow_requests import RequestMoves

Resource = dict[str, Any]
MUTABLE_PARENT = frozenset(
    {"status", "businessStatus", "statusReason", "note", "lastModified", "meta", "text"}
)
MUTABLE_CHILD = MUTABLE_PARENT | {"output"}


class PlacementWorkflow(RequestMoves):
    """Every placement step, on one unit of work (call from inside ``db.unit_of_work()``)."""

    # ---- FHIR updates ------------------------------------------------------------------------
    def update_task(
        self, caller: Caller, task_id: str, after: Resource, *, if_match: str | None = None
    ) -> Resource:
        """A client's new version of a placement Task, applied as the transition it asks for."""
        row = self._lock_task(task_id)
        before = self.read("Task", task_id)
        _check_version(before, if_match)
        result = self._apply(caller, row, before, after)
        self.finish()
        return result

    def patch_task(
        self, caller: Caller, task_id: str, operations: Any, *, if_match: str | None = None
    ) -> Resource:
        """A JSON Patch of a placement Task, applied to the stored version under the lock."""
        row = self._lock_task(task_id)
        before = self.read("Task", task_id)
        _check_version(before, if_match)
        after = apply_patch(copy.deepcopy(before), operations)
        if not isinstance(after, dict):
            raise InvalidRequest("the patch must leave a Task", expression="$", code="processing")
        result = self._apply(caller, row, before, after)
        self.finish()
        return result

    def _lock_task(self, task_id: str) -> PlacementRequestRow:
        pk = self.repo.request_pk_for_task(task_id)
        row = None if pk is None else self.repo.lock_request(pk)
        if row is None:
            raise NotFound(f"Task/{task_id} is not a placement Task")
        return row

    def _apply(
        self, caller: Caller, row: PlacementRequestRow, before: Resource, after: Resource
    ) -> Resource:
        if after.get("resourceType") != "Task" or after.get("id") != before["id"]:
            raise InvalidRequest(
                "the body must be the same Task (resourceType Task, the id in the URL)",
                expression="Task.id",
            )
        after = {**after, "meta": before.get("meta")}  # labels and versions stay server-managed
        if before["id"] == row.task_id:
            if caller.agency != row.requester:
                raise Forbidden("only the requesting agency may update the request's Task")
            _check_unchanged(before, after, MUTABLE_PARENT)
            wanted = _phase(after)
            if wanted == Phase(row.phase):
                return self._touch(row, after, parent=True)
            parent, _ = self.move_request(
                row,
                wanted,
                frozenset({Actor.REQUESTER}),
                reason=after.get("statusReason"),
                parent_after=after,
            )
            return parent
        offer = self._owned_offer(caller, before["id"])
        _check_unchanged(before, after, MUTABLE_CHILD)
        if offer.state == OfferState.ACCEPTED:
            wanted = _phase(after)
            if wanted == Phase(row.phase):
                return self._touch(row, after, parent=False, offer=offer)
            _, child = self.move_request(
                row,
                wanted,
                frozenset({Actor.FACILITY}),
                reason=after.get("statusReason"),
                child_after=after,
            )
            return child or after
        state = offer_state_of(after.get("status"))
        if state is None:
            raise IllegalTransition(
                "a facility answers its Task with status received, accepted or rejected"
            )
        if state == OfferState(offer.state):
            if state not in OPEN_OFFERS:
                raise IllegalTransition(f"this offer is closed ({offer.state})")
            return self._touch(row, after, parent=False, offer=offer)
        return self.move_offer(row, offer, after, state)

    def _owned_offer(self, caller: Caller, task_id: str) -> PlacementOfferRow:
        offer = self.repo.offer_for_task(task_id)
        if offer is None:
            raise NotFound(f"Task/{task_id} is not a facility's placement Task")
        if caller.agency != offer.org_id:
            raise Forbidden("only the facility that owns this Task may update it")
        return offer

    def _touch(
        self,
        row: PlacementRequestRow,
        after: Resource,
        *,
        parent: bool,
        offer: PlacementOfferRow | None = None,
    ) -> Resource:
        """No transition (a note, say): write it and tell the other side."""
        after = {**after, "lastModified": codes.iso(self.now)}
        written = self.write(after)
        if parent:
            self.tell_requester(row, written)
        elif offer is not None:
            self.tell_facility(offer, written, self.read("ServiceRequest", row.service_request_id))
            self.tell_requester(row, written, self.read("Task", row.task_id))
        return written

    # ---- named actions (POST /placement/...) -------------------------------------------------
    def open_from_task(
        self, caller: Caller, task: Resource, *, task_id: str | None = None
    ) -> Opened:
        """A parent Task created over FHIR (its ServiceRequest already stored) opens a request;
        ``task_id``: the id a transaction Bundle assigned to the Task."""
        agency = requester_agency(caller)
        sr_id = codes.ref_id(task.get("focus"), "ServiceRequest")
        if sr_id is None:
            raise InvalidRequest(
                "a placement Task's focus is its ServiceRequest", expression="Task.focus"
            )
        if task.get("status") not in (None, "requested"):
            raise IllegalTransition("a placement request starts with status requested")
        sr = self.read("ServiceRequest", sr_id)
        if codes.ref_id(task.get("requester"), "Organization") not in (None, agency):
            raise Forbidden("Task.requester must be your own agency's Organization")
        return self.open_request(caller, sr, task=task, task_id=task_id)

    def offer_action(
        self,
        caller: Caller,
        task_id: str,
        wanted: OfferState,
        *,
        bed: Any = None,
        reason: str | None = None,
        text: str | None = None,
    ) -> Resource:
        """``$received``, ``$accept`` (naming the bed) or ``$reject`` (with a reason code)."""
        row = self._lock_task(task_id)
        offer = self._owned_offer(caller, task_id)
        before = self.read("Task", task_id)
        after = copy.deepcopy(before)
        after["status"] = wanted.value
        if wanted == OfferState.ACCEPTED and bed is not None:
            after["output"] = [
                *[o for o in after.get("output") or [] if not codes.typed([o], codes.OUTPUT_BED)],
                codes.bed_output(bed),
            ]
        if wanted == OfferState.REJECTED:
            if reason not in DECLINE_REASONS:
                raise InvalidRequest(
                    "reason must be one of " + ", ".join(DECLINE_REASONS),
                    expression="reason",
                    code="required",
                )
            after["statusReason"] = codes.decline_reason(reason, text)
        result = self._apply_offer(row, offer, after, wanted)
        self.finish()
        return result

    def _apply_offer(
        self,
        row: PlacementRequestRow,
        offer: PlacementOfferRow,
        after: Resource,
        wanted: OfferState,
    ) -> Resource:
        if OfferState(offer.state) == wanted and wanted in OPEN_OFFERS:
            return after  # asking for the state it is in: nothing to do
        return self.move_offer(row, offer, after, wanted)

    def request_action(
        self,
        caller: Caller,
        some_id: str,
        wanted: Phase,
        *,
        reason: str | None = None,
        text: str | None = None,
    ) -> tuple[Resource, Resource | None]:
        """``$transport``, ``$en-route``, ``$arrived``, ``$complete``, ``$cancel``, ``$fail``."""
        row = self.lock(some_id)
        actors: set[Actor] = set()
        if caller.agency and caller.agency == row.requester:
            actors.add(Actor.REQUESTER)
        if caller.agency and caller.agency == row.accepted_org:
            actors.add(Actor.FACILITY)
        if not actors:
            raise Forbidden("only the requesting agency or the accepting facility may do this")
        status_reason = codes.close_reason(reason, text) if reason else None
        if status_reason is None and text:
            status_reason = {"text": text}
        result = self.move_request(row, wanted, frozenset(actors), reason=status_reason)
        self.finish()
        return result

    def summary(self, caller: Caller, some_id: str) -> dict[str, Any]:
        """The request's workflow state, for its requester (and admins and auditors)."""
        pk = self.repo.request_pk_for(some_id)
        row = None if pk is None else self.session.get(PlacementRequestRow, pk)
        if row is None:
            raise NotFound(f"no placement request is known by {some_id}")
        if caller.agency != row.requester and caller.role not in ("gateway_admin", "bha_auditor"):
            raise Forbidden("only the requesting agency can see this request's progress")
        hold = self.repo.hold_for(row.pk or 0)
        return {
            "task": row.task_id,
            "serviceRequest": row.service_request_id,
            "phase": row.phase,
            "wave": row.wave,
            "radiusKm": row.radius_km,
            "nextEscalationAt": _iso(row.next_escalation_at),
            "holdExpiresAt": _iso(row.hold_expires_at),
            "acceptedTask": row.accepted_task_id,
            "bed": None
            if hold is None
            else {"unit": hold.unit_id, "bed": hold.bed, "state": hold.state},
            "offers": [
                {
                    "task": o.task_id,
                    "organization": o.org_id,
                    "unit": o.unit_id,
                    "wave": o.wave,
                    "state": o.state,
                    "reason": o.reason,
                }
                for o in self.repo.offers(row.pk or 0)
            ],
        }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else codes.iso(ts)


def _phase(task: Resource) -> Phase:
    phase = phase_of(task.get("status"), codes.business_code(task))
    if phase is None:
        raise IllegalTransition(
            "Task.status/businessStatus do not name a placement phase (see the placement docs)"
        )
    return phase


def _check_version(before: Resource, if_match: str | None) -> None:
    if if_match is None:
        return
    current = int((before.get("meta") or {}).get("versionId", 0))
    if parse_etag(if_match) != current:
        raise PreconditionFailed(
            f"Task/{before['id']} is at version {current}; read it again and retry",
            headers={"ETag": f'W/"{current}"'},
        )


def _check_unchanged(before: Resource, after: Resource, mutable: frozenset[str]) -> None:
    changed = sorted(
        key
        for key in set(before) | set(after)
        if key not in mutable and before.get(key) != after.get(key)
    )
    if changed:
        allowed = ", ".join(sorted(mutable - {"meta", "text", "lastModified"}))
        raise IllegalTransition(
            f"only {allowed} of a placement Task may change; these differ: {', '.join(changed)}"
        )
