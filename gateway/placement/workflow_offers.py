"""A facility answers its child Task: received, accepted (first one wins) or rejected.

Every step here runs with the request row locked (:meth:`WorkflowBase.lock`), so two facilities
accepting at the same moment, in any number of gateway processes, are decided one after the other:
the first finds the request open and takes it, the second finds it reserved and gets a 409.
"""

from __future__ import annotations

from typing import Any

from gateway.db.tables_placement import (
    PlacementBedHoldRow,
    PlacementOfferRow,
    PlacementRequestRow,
)
from gateway.fhir.errors import InvalidRequest
from gateway.placement import workflow_codes as codes
from gateway.placement.transitions import (
    DECLINE_REASONS,
    OPEN_OFFERS,
    Actor,
    IllegalTransition,
    OfferState,
    Phase,
    check_offer,
)
from gateway.placement.workflow import WorkflowBase
from gateway.placement.workflow_repository import BedResult

Resource = dict[str, Any]
FACILITY = frozenset({Actor.FACILITY})


class OfferMoves(WorkflowBase):
    """Offer (child Task) transitions."""

    def move_offer(
        self,
        row: PlacementRequestRow,
        offer: PlacementOfferRow,
        after: Resource,
        wanted: OfferState,
        actors: frozenset[Actor] = FACILITY,
    ) -> Resource:
        """Apply an offer transition the facility asked for; ``after`` is the child Task wanted."""
        current = OfferState(offer.state)
        if current == OfferState.CANCELLED and row.accepted_task_id not in (None, offer.task_id):
            raise IllegalTransition("another facility accepted this request first")
        check_offer(actors, current, wanted)
        if Phase(row.phase) != Phase.OPEN:
            raise IllegalTransition(f"this request is no longer open ({row.phase})")
        if wanted == OfferState.ACCEPTED:
            return self.accept(row, offer, after)
        if wanted == OfferState.REJECTED:
            return self._reject(row, offer, after)
        return self._received(row, offer, after)

    def _answered(self, row: PlacementRequestRow, offer: PlacementOfferRow) -> None:
        if offer.responded_at is None:
            offer.responded_at = self.now
        if row.first_response_at is None:
            row.first_response_at = self.now
        row.updated_at = self.now

    def _received(
        self, row: PlacementRequestRow, offer: PlacementOfferRow, after: Resource
    ) -> Resource:
        self._answered(row, offer)
        offer.state = OfferState.RECEIVED
        child = self.write(codes.with_status(after, "received", self.now))
        parent = self.read("Task", row.task_id)
        self.tell_requester(row, child, parent)
        self.tell_facility(offer, child, self.read("ServiceRequest", row.service_request_id))
        return child

    def _reject(
        self, row: PlacementRequestRow, offer: PlacementOfferRow, after: Resource
    ) -> Resource:
        reason = after.get("statusReason")
        code = codes.code_in(reason, codes.DECLINE_SYSTEM)
        if code not in DECLINE_REASONS:
            raise InvalidRequest(
                f"a decline needs Task.statusReason coded from {codes.DECLINE_SYSTEM}: "
                + ", ".join(DECLINE_REASONS),
                expression="Task.statusReason",
                code="required",
            )
        if code == "other" and not (reason or {}).get("text"):
            raise InvalidRequest(
                "a decline for an 'other' reason needs statusReason.text",
                expression="Task.statusReason.text",
                code="required",
            )
        self._answered(row, offer)
        offer.state, offer.reason, offer.closed_at = OfferState.REJECTED, code, self.now
        child = self.write(codes.with_status(after, "rejected", self.now, reason))
        open_left = [
            o
            for o in self.repo.offers(row.pk or 0)
            if o.pk != offer.pk and OfferState(o.state) in OPEN_OFFERS
        ]
        if not open_left:
            row.next_escalation_at = self.now  # everyone asked said no: ask the next at once
        parent = self.read("Task", row.task_id)
        self.tell_requester(row, child, parent)
        self.tell_facility(offer, child, self.read("ServiceRequest", row.service_request_id))
        return child

    def accept(
        self, row: PlacementRequestRow, offer: PlacementOfferRow, after: Resource
    ) -> Resource:
        """The facility takes the patient: reserve a bed, close the other offers, tell everyone."""
        beds = [b for b in codes.typed(after.get("output"), codes.OUTPUT_BED) if codes.bed_of(b)]
        if not beds:
            raise InvalidRequest(
                "an acceptance names the reserved bed: Task.output of type "
                f"{codes.PLACEMENT_SYSTEM}#{codes.OUTPUT_BED} (a Location or a label)",
                expression="Task.output",
                code="required",
            )
        taken = self.repo.take_bed(offer.unit_id, self.now)
        if taken == BedResult.NONE_LEFT:
            raise IllegalTransition(
                f"HealthcareService/{offer.unit_id} has no free bed on record; report the bed "
                "census first, then accept again"
            )
        bed = codes.bed_of(beds[0])
        self.repo.add(
            PlacementBedHoldRow(
                request_pk=row.pk or 0,
                task_id=offer.task_id,
                org_id=offer.org_id,
                unit_id=offer.unit_id,
                bed=bed,
                tracked=taken == BedResult.TAKEN,
                state="held",
                created_at=self.now,
                expires_at=self.now + self.ctx.config.bed_hold_seconds,
            )
        )
        self._answered(row, offer)
        offer.state, offer.closed_at = OfferState.ACCEPTED, self.now
        row.phase, row.accepted_at = Phase.RESERVED, self.now
        row.accepted_task_id, row.accepted_org, row.accepted_unit = (
            offer.task_id,
            offer.org_id,
            offer.unit_id,
        )
        row.next_escalation_at = None
        child = self.write(codes.with_phase(after, Phase.RESERVED, self.now))
        parent = codes.with_phase(self.read("Task", row.task_id), Phase.RESERVED, self.now)
        parent["owner"] = codes.ref("Organization", offer.org_id)
        parent["output"] = [
            {
                "type": codes.concept(codes.PLACEMENT_SYSTEM, codes.OUTPUT_TASK, "accepted task"),
                "valueReference": codes.ref("Task", offer.task_id),
            },
            {
                "type": codes.concept(codes.PLACEMENT_SYSTEM, codes.OUTPUT_UNIT, "reserved unit"),
                "valueReference": codes.ref("HealthcareService", offer.unit_id),
            },
            beds[0],
        ]
        parent = self.write(parent)
        sr = self.read("ServiceRequest", row.service_request_id)
        self.close_open_offers(row, sr, "filled-elsewhere", "another facility accepted first")
        self.tell_requester(row, parent, child)
        self.tell_facility(offer, child, sr)
        return child

    def close_open_offers(
        self, row: PlacementRequestRow, sr: Resource, code: str, text: str
    ) -> None:
        """The gateway cancels every offer still open (another facility won, or the request ended)."""
        for other in self.repo.offers(row.pk or 0):
            if OfferState(other.state) not in OPEN_OFFERS:
                continue
            check_offer(frozenset({Actor.GATEWAY}), OfferState(other.state), OfferState.CANCELLED)
            other.state, other.closed_at = OfferState.CANCELLED, self.now
            reason = codes.close_reason(code, text)
            child = self.write(
                codes.with_status(self.read("Task", other.task_id), "cancelled", self.now, reason)
            )
            self.tell_facility(other, child, sr)
