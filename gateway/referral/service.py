"""Opening a referral: the ServiceRequest and its Task routed to a receiving organisation's queue.

Three ways in, one path: :meth:`ReferralService.open` (``POST /referrals``, the console, a FHIR
``POST /Task``) stores what the referrer sent; :meth:`ReferralService.adopt` takes a ServiceRequest
(and the Task, when the sender wrote one) that arrived as plain resources, through ``POST /ingest``
(HL7 REF^I12, a police crisis record asking for follow-up), a transaction Bundle or a bulk load.
Both route the referral, write the Task and the ``referral`` row and tell the referrer, and the
receiver too when its team is on duty (otherwise at the start of its next shift).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from gateway.db.tables_referral import ReferralRow
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import Conflict, Forbidden, InvalidRequest
from gateway.placement.workflow_codes import iso, ref_id
from gateway.placement.workflow_sharing import age_on, related
from gateway.referral import codes
from gateway.referral.directory import payer_category
from gateway.referral.routing import Person, Route, route
from gateway.referral.tasks import add_note, referral_task
from gateway.referral.transitions import State
from gateway.referral.unit import ReferralUnit
from gateway.sharing.facts import FactsRepository
from gateway.sharing.profile import owner_of
from policies.consent import ConsentQuery, evaluate_consents
from policies.engine import part2_notice
from policies.model import SUD_LABELS, Principal

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Opened:
    """What opening a referral wrote."""

    row: ReferralRow
    service_request: Resource
    task: Resource


def referrer_of(agency: str | None) -> str:
    if not agency:
        raise Forbidden("only a registered agency can make a referral")
    return agency


def is_part2(sr: Resource) -> bool:
    labels = (sr.get("meta") or {}).get("security") or []
    return any(isinstance(x, dict) and x.get("code") in SUD_LABELS for x in labels)


class ReferralService(ReferralUnit):
    """Opening and adopting referrals."""

    def open(
        self,
        agency: str | None,
        body: Any,
        *,
        task: Resource | None = None,
        source: str = "api",
        finish: bool = True,
        rid: str | None = None,
    ) -> Opened:
        """Store the referrer's ServiceRequest (or use the stored one ``task`` focuses) and route."""
        referrer = referrer_of(agency)
        if task is not None and (sr_id := ref_id(task.get("focus"), "ServiceRequest")):
            sr = self.read("ServiceRequest", sr_id)
            if owner_of(sr) != referrer:
                raise Forbidden(
                    "only the agency that wrote the ServiceRequest can refer it "
                    f"(ServiceRequest/{sr_id} is another agency's)"
                )
        else:
            sr = self._new_request(referrer, body)
        if codes.service_type_of(sr) is None:
            raise InvalidRequest(
                "ServiceRequest.code must name a referral service type from "
                f"{codes.SERVICE_TYPE_SYSTEM} ({', '.join(codes.SERVICE_TYPES)})",
                expression="ServiceRequest.code",
            )
        if self.repo.by_any_id(sr["id"]) is not None:
            raise Conflict(f"ServiceRequest/{sr['id']} already has a referral Task")
        return self._start(
            referrer, sr, task, existing_task=False, source=source, finish=finish, rid=rid
        )

    def adopt(self, sr: Resource, source: str = "ingest", *, finish: bool = True) -> Opened:
        """Route a referral that arrived as plain resources (its Task reused when there is one)."""
        referrer = owner_of(sr)
        if referrer is None:
            raise Forbidden("the ServiceRequest has no owning agency (meta.source)")
        tasks = [t for t in self.repo.tasks_for(sr["id"]) if not t.get("partOf")]
        task = tasks[0] if tasks else None
        return self._start(
            referrer, sr, task, existing_task=task is not None, source=source, finish=finish
        )

    # ---- the common path ---------------------------------------------------------------------
    def _new_request(self, referrer: str, body: Any) -> Resource:
        if not isinstance(body, dict) or body.get("resourceType") != "ServiceRequest":
            raise InvalidRequest("send a ServiceRequest resource", expression="resourceType")
        sr = copy.deepcopy(body)
        sr.pop("id", None)
        sr.setdefault("status", "active")
        sr.setdefault("intent", "order")
        sr.setdefault("authoredOn", iso(self.now))
        categories = sr.setdefault("category", [])
        if not any(codes.code_in(c, codes.SNOMED) == codes.PATIENT_REFERRAL for c in categories):
            categories.append(codes.PATIENT_REFERRAL_CATEGORY)  # BSeR / Gravity: a referral
        if ref_id(sr.get("subject"), "Patient") is None:
            raise InvalidRequest(
                "a referral names the patient: ServiceRequest.subject = Patient/<id>",
                expression="ServiceRequest.subject",
                code="required",
            )
        if sr.get("priority") not in (None, *codes.URGENCIES):
            raise InvalidRequest(
                f"ServiceRequest.priority is one of {', '.join(codes.URGENCIES)}",
                expression="ServiceRequest.priority",
            )
        return self.create(sr, author=referrer)

    def _start(
        self,
        referrer: str,
        sr: Resource,
        task: Resource | None,
        *,
        existing_task: bool,
        source: str,
        finish: bool,
        rid: str | None = None,
    ) -> Opened:
        patient_id = ref_id(sr.get("subject"), "Patient")
        if patient_id is None:
            raise InvalidRequest(
                "a referral names the patient: ServiceRequest.subject = Patient/<id>",
                expression="ServiceRequest.subject",
                code="required",
            )
        service_type = codes.service_type_of(sr) or codes.DEFAULT_TYPE
        urgency = codes.urgency_of(sr)
        patient, coverages = related(self.svc, sr)
        person = Person(
            age=age_on((patient or {}).get("birthDate"), self.now),
            sex=(patient or {}).get("gender"),
            payer=payer_category(coverages),
        )
        cfg = self.ctx.config
        where = route(
            self.find,
            self.repo,
            task=task,
            sr=sr,
            service_type=service_type,
            person=person,
            zone=cfg.timezone,
            triage_org=cfg.triage_org,
            now=self.now,
        )
        part2 = self.part2(sr, patient_id, where) if is_part2(sr) else None
        respond_by = where.visible_at + cfg.limit(urgency)
        doc = referral_task(task, sr, referrer, where, respond_by, self.now, part2)
        if where.receiver is None:
            add_note(
                doc,
                "No receiving organisation found for this referral; call the gateway's "
                "coordinator or address it to an organisation.",
                self.now,
            )
        written = self.write(doc) if existing_task else self.create(doc, author=referrer, rid=rid)
        row = self.repo.add(
            ReferralRow(
                task_id=written["id"],
                service_request_id=sr["id"],
                patient_id=patient_id,
                referrer=referrer,
                receiver=where.receiver,
                team=where.team,
                service_type=service_type,
                source=source[:16],
                routed_by=where.routed_by,
                urgency=urgency,
                state=State.REQUESTED,
                crisis_at=self._crisis_time(sr),
                created_at=self.now,
                visible_at=where.visible_at,
                respond_by=respond_by,
                shift_flag_at=where.visible_at if where.visible_at > self.now else None,
                updated_at=self.now,
            )
        )
        self.tell_referrer(row, written)
        if where.receiver is not None and where.visible_at <= self.now:
            self.tell_receiver(row, written)
        if finish:
            self.finish()
        return Opened(row, sr, written)

    def part2(self, sr: Resource, patient: str, where: Route) -> tuple[str, str]:
        """The consent that lets the receiver have this Part 2 referral, and the 2.32 notice."""
        if where.receiver is None:
            raise Conflict("a 42 CFR Part 2 referral must be addressed to a named recipient")
        query = ConsentQuery(
            principal=Principal(client_id="referral", agency=where.receiver),
            action="read",
            purpose="TREAT",
            resource_type="ServiceRequest",
            classes=frozenset({"sud", "placement"}),
            labels=frozenset({"42CFRPart2", "SUD"}),
            patient=patient,
        )
        consents = FactsRepository(self.session).consents_of([patient])[patient]
        outcome = evaluate_consents(consents, query)
        if outcome.decision != "permit" or not outcome.part2_ids:
            raise Conflict(
                "this referral holds 42 CFR Part 2 information and the patient has no active "
                f"written consent naming Organization/{where.receiver} (42 CFR 2.31); record the "
                "consent first"
            )
        return outcome.part2_ids[0], part2_notice()

    def _crisis_time(self, sr: Resource) -> float:
        """When the crisis was: the encounter's start, else when the referral was written."""
        enc_id = ref_id(sr.get("encounter"), "Encounter")
        encounter = self.find("Encounter", enc_id) if enc_id else None
        for text in (((encounter or {}).get("period") or {}).get("start"), sr.get("authoredOn")):
            if text:
                try:
                    return date_range(str(text))[0]
                except BadDate:
                    continue
        return self.now
