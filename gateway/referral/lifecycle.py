"""A referral's life after routing: received, accepted or rejected, booked, completed, cancelled.

Every step locks the ``referral`` row, checks the transition table (:mod:`.transitions`) for the
caller's part in this referral (referrer or receiver; anybody else gets 403), writes the Task (and
the Appointment when booking), updates the row's milestone times and tells the referrer; the
receiver hears of a cancellation. One unit of work; never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.db.tables_referral import ReferralRow
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import Forbidden, InvalidRequest, NotFound
from gateway.placement.workflow_codes import iso, ref, ref_id
from gateway.referral import codes
from gateway.referral.tasks import add_note, business, io
from gateway.referral.transitions import Actor, State, check
from gateway.referral.unit import ReferralUnit

Resource = dict[str, Any]
ADMIN_ROLES = frozenset({"gateway_admin"})


@dataclass(frozen=True, slots=True)
class Step:
    """What the caller asks for: the new state and what it needs."""

    state: State
    reason: str | None = None  # reject / cancel reason code
    text: str | None = None  # a note from the person acting
    outcome: str | None = None  # complete: seen | did-not-attend | declined-services
    appointment: Any = None  # book: "Appointment/<id>" or {"start": …, "end": …}


def actors_of(row: ReferralRow, agency: str | None) -> frozenset[Actor]:
    found = set()
    if agency and agency == row.referrer:
        found.add(Actor.REFERRER)
    if agency and agency == row.receiver:
        found.add(Actor.RECEIVER)
    return frozenset(found)


def _instant(value: Any, where: str) -> float:
    try:
        return date_range(str(value))[0]
    except BadDate:
        raise InvalidRequest("a date-time such as 2026-03-14T09:30:00Z", expression=where) from None


class ReferralLifecycle(ReferralUnit):
    """The steps after routing."""

    def locked(self, some_id: str, *, lock: bool = True) -> ReferralRow:
        row = self.repo.by_any_id(some_id, lock=lock)
        if row is None:
            raise NotFound(f"no referral is known by {some_id[:64]}")
        return row

    def party(self, row: ReferralRow, agency: str | None, role: str | None) -> frozenset[Actor]:
        """The caller's part in the referral; 403 for anybody else (admins may read)."""
        actors = actors_of(row, agency)
        if not actors and role not in ADMIN_ROLES:
            raise Forbidden(
                "only the referring agency or the receiving organisation may see or move this "
                "referral"
            )
        return actors

    def act(self, agency: str | None, role: str | None, some_id: str, step: Step) -> Resource:
        """Apply ``step`` to the referral named by its Task or ServiceRequest id."""
        row = self.locked(some_id)
        return self.apply(row, self.party(row, agency, role), step)

    def apply(
        self, row: ReferralRow, actors: frozenset[Actor], step: Step, *, finish: bool = True
    ) -> Resource:
        """Apply ``step`` for ``actors`` to a locked referral row (409 when not allowed)."""
        current = State(row.state)
        check(actors, current, step.state)
        task = self.read("Task", row.task_id)
        extra: list[Resource] = []
        handler = {
            State.RECEIVED: self._received,
            State.ACCEPTED: self._accepted,
            State.REJECTED: self._rejected,
            State.IN_PROGRESS: self._booked,
            State.COMPLETED: self._completed,
            State.CANCELLED: self._cancelled,
        }[step.state]
        handler(row, task, step, extra)
        task["status"] = step.state.value
        task["lastModified"] = iso(self.now)
        if step.text:
            add_note(task, step.text[:2000], self.now)
        row.state = step.state.value
        row.updated_at = self.now
        written = self.write(task)
        self.tell_referrer(row, written, *extra)
        if step.state == State.CANCELLED:
            self.tell_receiver(row, written)
        if finish:
            self.finish()
        return written

    # ---- one handler per target state ----------------------------------------------------------
    def _received(self, row: ReferralRow, task: Resource, step: Step, extra: list[Any]) -> None:
        row.received_at = row.received_at or self.now

    def _answered(self, row: ReferralRow, task: Resource) -> None:
        row.received_at = row.received_at or self.now
        row.responded_at = self.now
        row.shift_flag_at = None
        task.pop("businessStatus", None)

    def _accepted(self, row: ReferralRow, task: Resource, step: Step, extra: list[Any]) -> None:
        self._answered(row, task)

    def _rejected(self, row: ReferralRow, task: Resource, step: Step, extra: list[Any]) -> None:
        reason = _code(step.reason, codes.REJECT_REASONS, "reason")
        self._answered(row, task)
        task["statusReason"] = codes.coded(
            codes.REJECT_SYSTEM, codes.REJECT_REASONS, reason, step.text
        )
        row.reason = reason
        row.closed_at = self.now

    def _cancelled(self, row: ReferralRow, task: Resource, step: Step, extra: list[Any]) -> None:
        reason = _code(step.reason or "withdrawn", codes.CANCEL_REASONS, "reason")
        task["statusReason"] = codes.coded(
            codes.CANCEL_SYSTEM, codes.CANCEL_REASONS, reason, step.text
        )
        row.reason = reason
        row.shift_flag_at = None
        row.closed_at = self.now
        if row.appointment_id:
            appointment = self.find("Appointment", row.appointment_id)
            if appointment and appointment.get("status") in ("proposed", "pending", "booked"):
                appointment["status"] = "cancelled"
                extra.append(self.write(appointment))

    def _booked(self, row: ReferralRow, task: Resource, step: Step, extra: list[Any]) -> None:
        appointment = self._appointment(row, step.appointment)
        row.appointment_id = appointment["id"]
        row.booked_at = self.now
        start = appointment.get("start")
        row.appointment_at = _instant(start, "appointment.start") if start else None
        task["businessStatus"] = business("booked")
        outputs = [
            o
            for o in task.get("output") or []
            if codes.OUTPUT_APPOINTMENT not in str(o.get("type"))
        ]
        outputs.append(
            io(
                codes.OUTPUT_APPOINTMENT,
                "appointment",
                valueReference=ref("Appointment", appointment["id"]),
            )
        )
        task["output"] = outputs
        extra.append(appointment)

    def _completed(self, row: ReferralRow, task: Resource, step: Step, extra: list[Any]) -> None:
        outcome = _code(step.outcome, codes.OUTCOMES, "outcome")
        row.outcome = outcome
        row.closed_at = self.now
        if outcome == "seen":
            row.seen_at = min(row.appointment_at or self.now, self.now)
        task["businessStatus"] = business(outcome)
        task.setdefault("output", []).append(
            io(
                codes.OUTPUT_OUTCOME,
                "outcome",
                valueCodeableConcept=codes.coded(
                    codes.OUTCOME_SYSTEM, codes.OUTCOMES, outcome, step.text
                ),
            )
        )
        if row.appointment_id:
            appointment = self.find("Appointment", row.appointment_id)
            wanted = {"seen": "fulfilled", "did-not-attend": "noshow"}.get(outcome, "cancelled")
            if appointment and appointment.get("status") != wanted:
                appointment["status"] = wanted
                extra.append(self.write(appointment))

    def _appointment(self, row: ReferralRow, given: Any) -> Resource:
        """The Appointment a booking names, or a new one from its start (and end)."""
        if isinstance(given, dict) and isinstance(given.get("reference"), str):
            given = given["reference"]
        if isinstance(given, str):
            aid = ref_id({"reference": given}, "Appointment")
            found = self.find("Appointment", aid) if aid else None
            if found is None:
                raise InvalidRequest(
                    "appointment names no stored Appointment", expression="appointment"
                )
            people = {ref_id(p.get("actor"), "Patient") for p in found.get("participant") or []}
            if row.patient_id not in people:
                raise InvalidRequest(
                    "the Appointment is not about this referral's patient",
                    expression="appointment",
                )
            return found
        if not isinstance(given, dict) or not given.get("start"):
            raise InvalidRequest(
                "booking needs an appointment: 'Appointment/<id>' or {\"start\": date-time}",
                expression="appointment",
                code="required",
            )
        start = _instant(given["start"], "appointment.start")
        end = _instant(given["end"], "appointment.end") if given.get("end") else start + 3600
        if end <= start:
            raise InvalidRequest(
                "the appointment ends before it starts", expression="appointment.end"
            )
        participants = [
            {"actor": ref("Patient", row.patient_id), "status": "accepted"},
        ]
        if row.team:
            participants.append({"actor": ref("HealthcareService", row.team), "status": "accepted"})
        doc: Resource = {
            "resourceType": "Appointment",
            "status": "booked",
            "basedOn": [ref("ServiceRequest", row.service_request_id)],
            "start": iso(start),
            "end": iso(end),
            "created": iso(self.now)[:10],
            "participant": participants,
        }
        if given.get("description"):
            doc["description"] = str(given["description"])[:500]
        return self.create(doc, author=row.receiver)


def _code(value: Any, table: dict[str, str], where: str) -> str:
    if value in table:
        return str(value)
    raise InvalidRequest(
        f"{where} is one of {', '.join(table)}",
        expression=where,
        code="required" if value is None else "value",
    )
