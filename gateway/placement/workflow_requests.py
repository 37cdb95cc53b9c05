"""Moving an accepted (or still open) request along: transport, arrival, admission, cancel, fail.

The parent Task shows the phase; the accepted child Task mirrors it so the facility follows the
placement on its own Task. Ending a request releases the reserved bed (the unit's counter goes back
up) unless the patient was admitted, and cancels the offers still open.
"""

from __future__ import annotations

from typing import Any

from gateway.db.tables_placement import PlacementRequestRow
from gateway.fhir.errors import InvalidRequest
from gateway.placement import workflow_codes as codes
from gateway.placement.transitions import Actor, Phase, check_request
from gateway.placement.workflow_offers import OfferMoves

Resource = dict[str, Any]
ENDINGS = (Phase.CANCELLED, Phase.FAILED)


class RequestMoves(OfferMoves):
    """Request (parent Task) phase transitions."""

    def move_request(
        self,
        row: PlacementRequestRow,
        wanted: Phase,
        actors: frozenset[Actor],
        *,
        reason: Resource | None = None,
        parent_after: Resource | None = None,
        child_after: Resource | None = None,
    ) -> tuple[Resource, Resource | None]:
        """Move ``row`` to ``wanted`` for ``actors``; return the parent and accepted child written.

        ``parent_after``/``child_after``: the Task a client sent (its notes are kept); otherwise
        the stored Task is the base.
        """
        current = Phase(row.phase)
        check_request(actors, current, wanted)
        if wanted in ENDINGS and not _reason_given(reason):
            raise InvalidRequest(
                f"a {wanted.value} placement needs a reason (Task.statusReason)",
                expression="Task.statusReason",
                code="required",
            )
        parent_base = parent_after or self.read("Task", row.task_id)
        parent = self.write(codes.with_phase(parent_base, wanted, self.now, reason))
        self._bookkeeping(row, wanted, reason)
        sr = self.read("ServiceRequest", row.service_request_id)
        child = None
        if row.accepted_task_id is not None:
            child_base = child_after or self.read("Task", row.accepted_task_id)
            child = self.write(codes.with_phase(child_base, wanted, self.now, reason))
            accepted = self.repo.offer_for_task(row.accepted_task_id)
            if accepted is not None:
                self.tell_facility(accepted, child, sr)
        if wanted in ENDINGS:
            self.close_open_offers(row, sr, f"request-{wanted.value}", f"the request was {wanted}")
        if child is not None:
            self.tell_requester(row, parent, child)
        else:
            self.tell_requester(row, parent)
        return parent, child

    def _bookkeeping(
        self, row: PlacementRequestRow, wanted: Phase, reason: Resource | None
    ) -> None:
        row.phase, row.updated_at = wanted, self.now
        hold = self.repo.hold_for(row.pk or 0)
        if wanted == Phase.ARRIVED:
            row.arrived_at = self.now
            if hold is not None:
                hold.expires_at = None  # the patient is there: the bed is no longer at risk
        elif wanted == Phase.COMPLETED:
            row.completed_at = row.closed_at = self.now
            row.hold_alert_at = None
            if hold is not None and hold.state == "held":
                hold.state, hold.closed_at = "used", self.now
        elif wanted in ENDINGS:
            row.closed_at, row.next_escalation_at, row.hold_alert_at = self.now, None, None
            row.reason = _reason_code(reason)
            if hold is not None and hold.state == "held":
                hold.state, hold.closed_at, hold.reason = "released", self.now, row.reason
                if hold.tracked:
                    self.repo.give_back_bed(hold.unit_id, self.now)


def _reason_given(reason: Resource | None) -> bool:
    if not isinstance(reason, dict):
        return False
    return bool(reason.get("text") or any(c.get("code") for c in reason.get("coding") or []))


def _reason_code(reason: Resource | None) -> str | None:
    if not isinstance(reason, dict):
        return None
    for coding in reason.get("coding") or []:
        if coding.get("code"):
            return str(coding["code"])[:64]
    text = reason.get("text")
    return str(text)[:64] if text else None
