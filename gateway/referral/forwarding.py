"""Forwarding: the receiving organisation (a triage hub, or a team that is the wrong one) passes an
unanswered referral on to another organisation or team instead of rejecting it.

``$forward`` with ``to`` = ``Organization/…``, ``HealthcareService/…``, ``PractitionerRole/…`` or
``Practitioner/…`` re-routes the referral as if it had been addressed there: new owner, new
deadline from the new team's next shift, state back to ``requested``. Only the current receiver may
forward, and only before it accepts or rejects (409 otherwise); a Part 2 referral needs the
patient's consent naming the new receiver. The referrer and the new receiver are told.
"""

from __future__ import annotations

from typing import Any

from gateway.fhir.errors import Conflict, InvalidRequest
from gateway.placement.workflow_codes import iso
from gateway.referral.lifecycle import ReferralLifecycle
from gateway.referral.routing import addressed
from gateway.referral.service import ReferralService, is_part2
from gateway.referral.tasks import add_note, business, owner_of, referral_task
from gateway.referral.transitions import FORWARD_FROM, FORWARDERS, State

Resource = dict[str, Any]


class ReferralForwarding(ReferralService, ReferralLifecycle):
    """Re-routing an unanswered referral on one unit of work."""

    def forward(
        self, agency: str | None, role: str | None, some_id: str, to: Any, text: str | None
    ) -> Resource:
        row = self.locked(some_id)
        actors = self.party(row, agency, role)
        if not actors & FORWARDERS:
            raise Conflict("only the receiving organisation may forward a referral")
        if State(row.state) not in FORWARD_FROM:
            raise Conflict(f"a referral that is {row.state} cannot be forwarded")
        ref = {"reference": to} if isinstance(to, str) else to
        cfg = self.ctx.config
        where = addressed(self.find, self.repo, ref, row.service_type, cfg.timezone, self.now)
        if where is None:
            raise InvalidRequest(
                "to names no Organization, HealthcareService, PractitionerRole or Practitioner "
                "the directory knows",
                expression="to",
                code="required" if to is None else "value",
            )
        if (where.receiver, where.team) == (row.receiver, row.team):
            raise Conflict("the referral is already in that queue")
        sr = self.read("ServiceRequest", row.service_request_id)
        part2 = self.part2(sr, row.patient_id or "", where) if is_part2(sr) else None
        respond_by = where.visible_at + cfg.limit(row.urgency)
        task = self.read("Task", row.task_id)
        routed = referral_task(task, sr, row.referrer, where, respond_by, self.now, part2)
        routed["status"] = State.REQUESTED.value
        if where.visible_at <= self.now:
            routed.pop("businessStatus", None)
        else:
            routed["businessStatus"] = business("awaiting-shift")
        target = (owner_of(where) or {}).get("reference")
        add_note(
            routed,
            (text or f"Forwarded by Organization/{row.receiver} to {target}.")[:2000],
            self.now,
        )
        routed["lastModified"] = iso(self.now)
        row.receiver, row.team, row.routed_by = where.receiver, where.team, "forwarded"
        row.state = State.REQUESTED.value
        row.visible_at, row.respond_by = where.visible_at, respond_by
        row.shift_flag_at = where.visible_at if where.visible_at > self.now else None
        row.escalated_at = row.received_at = None
        row.updated_at = self.now
        written = self.write(routed)
        self.tell_referrer(row, written)
        if where.visible_at <= self.now:
            self.tell_receiver(row, written)
        self.finish()
        return written
