"""The policy enforcement point (PEP) for one request: decisions from ``policies.pipeline.evaluate``
applied on every FHIR access path, filtered into SQL for searches.

Decision order (DESIGN.md): token scopes (checked by the endpoints) -> role/agency/agreement policies
-> patient consent -> 42 CFR Part 2 -> obligations (projection, redaction, labels) -> audit. Every
decision is kept in :attr:`SharingGuard.decisions` for the audit trail.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Table, and_, exists, false, not_, or_, select
from sqlalchemy.orm import Session

from gateway.auth.schemas import Caller
from gateway.fhir.errors import Forbidden, Issue
from gateway.sharing.facts import (
    PATIENT_PARAMS,
    REF,
    TOK,
    FactsRepository,
    patient_of,
    row_about,
)
from gateway.sharing.profile import PARAM, WRITTEN, agency_uri, owner_of, parse_profile
from policies.agreements import AgreementSet
from policies.engine import default_engine
from policies.model import AccessRequest, Decision, Principal
from policies.pipeline import evaluate, request_for
from policies.redaction import apply_obligations

WRITE_ACTIONS = frozenset({"create", "update", "delete"})
PROFILE_TTL = 10.0
_profiles: dict[tuple[int, str], tuple[float, list[str]]] = {}


@dataclass(frozen=True, slots=True)
class Recorded:
    """One decision, for the audit trail."""

    action: str
    rtype: str
    rid: str
    patient: str | None
    decision: Decision


def purpose_of(caller: Caller, btg_reason: str | None) -> str:
    if btg_reason and "BTG" in caller.purposes:
        return "BTG"
    return next(
        (p for p in caller.purposes if p != "BTG"),
        caller.purposes[0] if caller.purposes else "TREAT",
    )


class SharingGuard:
    def __init__(
        self,
        session: Session,
        caller: Caller,
        *,
        agency_kind: str | None,
        agreements: AgreementSet | None,
        btg_reason: str | None = None,
        medical_emergency: bool = False,
    ) -> None:
        self.session = session
        self.facts = FactsRepository(session)
        self.caller = caller
        self.principal = Principal(
            client_id=caller.client_id,
            agency=caller.agency,
            agency_kind=agency_kind,
            role=caller.role,
            user=caller.user,
            purposes=caller.purposes,
        )
        self.purpose = purpose_of(caller, btg_reason)
        self.btg_reason = btg_reason if self.purpose == "BTG" else None
        self.medical_emergency = medical_emergency
        self.agreements = agreements
        self.at = datetime.now(UTC)
        self.decisions: list[Recorded] = []
        self._relations: dict[str, frozenset[str]] = {}
        self._consents: dict[str, list[dict[str, Any]]] = {}
        self._placement: dict[str, tuple[bool, bool, bool]] = {}

    # -- facts ---------------------------------------------------------------------------------
    def _facts(self, patient: str | None) -> dict[str, Any]:
        if patient is None:
            return {"relations": frozenset()}
        self._prefetch([patient])
        addressed, accepted, requested = self._placement[patient]
        return {
            "relations": self._relations[patient],
            "addressed_to_principal_facility": addressed,
            "accepted": accepted,
            "requested_by_principal_agency": requested,
        }

    def prefetch(self, contents: list[str]) -> None:
        """Fetch the facts of every patient these stored resources are about in a few queries,
        before they are decided one by one (a search page, an include)."""
        patients = []
        for content in contents:
            if content and (patient := patient_of(orjson.loads(content))):
                patients.append(patient)
        self._prefetch(patients)

    def _prefetch(self, patients: list[str]) -> None:
        todo = sorted({p for p in patients if p not in self._relations})
        if not todo:
            return
        agency = self.principal.agency
        relations = self.facts.relations_of(agency, todo) if agency else {}
        placements = self.facts.placements_of(agency, todo) if agency else {}
        for patient in todo:
            self._relations[patient] = relations.get(patient, frozenset())
            self._placement[patient] = placements.get(patient, (False, False, False))
        self._consents.update(self.facts.consents_of([p for p in todo if p not in self._consents]))

    def _consents_of(self, patient: str | None) -> list[dict[str, Any]]:
        if patient is None:
            return []
        if patient not in self._consents:
            self._consents.update(self.facts.consents_of([patient]))
        return self._consents[patient]

    def decide(self, action: str, resource: dict[str, Any]) -> Decision:
        patient = patient_of(resource)
        request = request_for(
            self.principal,
            action,
            resource,
            purpose=self.purpose,
            owning_agency=owner_of(resource),
            active=resource.get("status", "active") in ("active", None)
            if resource.get("resourceType") == "Flag"
            else True,
            btg_reason=self.btg_reason,
            medical_emergency=self.medical_emergency,
            patient=patient,
            at=self.at,
            **self._facts(patient),
        )
        decision = evaluate(request, resource, self._consents_of(patient), self.agreements)
        rid = str(resource.get("id", ""))
        self.decisions.append(
            Recorded(action, str(resource.get("resourceType")), rid, patient, decision)
        )
        return decision

    # -- the Guard protocol ---------------------------------------------------------------------
    def shown(self, rtype: str, rid: str, content: str, action: str) -> str | None:
        resource = orjson.loads(content)
        decision = self.decide(action, resource)
        if not decision.allowed:
            return None
        out = apply_obligations(resource, decision)
        if out is None:
            return None
        if out == resource and not decision.obligations.part2_notice:
            return content
        if decision.obligations.part2_notice:
            out.setdefault("meta", {}).setdefault("tag", []).append(
                {
                    "system": "urn:gateway:notice",
                    "code": "42CFR2.32",
                    "display": decision.obligations.part2_notice[:1000],
                }
            )
        return orjson.dumps(out).decode()

    def check_read(self, rtype: str, rid: str, content: str, action: str) -> str:
        shown = self.shown(rtype, rid, content, action)
        if shown is None:
            raise refusal(self.decisions[-1].decision, f"{action} of {rtype}/{rid}")
        return shown

    def check_write(self, action: str, rtype: str, resource: dict[str, Any]) -> None:
        decision = self.decide(action, resource)
        if not decision.allowed:
            raise refusal(decision, f"{action} of {rtype}")

    def search_filter(
        self, rtype: str, table: Table, candidates: Sequence[ColumnElement[bool]] = ()
    ) -> list[ColumnElement[bool]]:
        """What the caller may count and page through, as SQL.

        Rows about patients without a Consent are decided per security profile (owner, data
        classes, labels): allowed outright, or allowed when the caller's agency serves the patient.
        A Consent can widen or narrow that for its patient, so rows about consented patients are
        decided patient by patient, but only for the patients the search's own ``candidates``
        conditions reach (found in one query first): the cost follows the search, not the number
        of consents in the store.
        """
        profiles = self._profiles(rtype)
        always, if_served = [], []
        for code in profiles:
            base = self._profile_request(rtype, code)
            if evaluate(base, None, (), self.agreements).allowed:
                always.append(code)
            elif evaluate(
                replace(base, relations=frozenset({"record"})), None, (), self.agreements
            ).allowed:
                if_served.append(code)
        general = [self._has_profile(table, rtype, always)]
        agency = self.principal.agency
        if if_served and agency:
            general.append(
                and_(self._has_profile(table, rtype, if_served), self._about_served(table, rtype))
            )
        # A row about a consented patient never passes on the general rule, even one written
        # after the candidates were looked at (it is then left out, never counted unchecked).
        facility = agency if self.principal.agency_kind == "facility" else None
        unconsented = and_(
            or_(*general), not_(self.facts.about_decided_alone(table, rtype, facility))
        )
        consented = self.facts.decided_alone_among(table, rtype, [*candidates], facility)
        if not consented:
            return [unconsented]
        self._prefetch(consented)
        by_allowed: dict[tuple[str, ...], list[str]] = {}
        for patient in consented:
            allowed = self._allowed_profiles(rtype, patient, profiles)
            if allowed:
                by_allowed.setdefault(allowed, []).append(patient)
        exceptions = [
            and_(self._about(table, rtype, patients), self._has_profile(table, rtype, list(codes)))
            for codes, patients in by_allowed.items()
        ]
        return [or_(unconsented, *exceptions)]

    # -- search helpers -------------------------------------------------------------------------
    def _profile_request(self, rtype: str, code: str) -> AccessRequest:
        owner, classes, labels = parse_profile(code)
        return AccessRequest(
            principal=self.principal,
            action="search",
            resource_type=rtype,
            purpose=self.purpose,
            data_classes=classes,
            labels=labels,
            owning_agency=owner,
            btg_reason=self.btg_reason,
            medical_emergency=self.medical_emergency,
            at=self.at,
        )

    def _profiles(self, rtype: str) -> list[str]:
        key = (id(self.session.get_bind()), rtype)
        cached = _profiles.get(key)
        if cached is None or time.monotonic() - cached[0] >= PROFILE_TTL:
            cached = (time.monotonic(), self.facts.profiles(rtype))
            _profiles[key] = cached
        return sorted(set(cached[1]) | WRITTEN.get(rtype, set()))

    @staticmethod
    def _has_profile(table: Table, rtype: str, codes: list[str]) -> ColumnElement[bool]:
        if not codes:
            return false()
        # Correlated on the row, so a search probes its candidates' own tokens; an IN over every
        # resource with these profiles hashed a third of the store on each search.
        access = TOK.alias("access_profile")
        return exists().where(
            access.c.res_pk == table.c.pk,
            access.c.param == PARAM,
            access.c.code.in_(codes),
        )

    @staticmethod
    def _about(table: Table, rtype: str, patient_ids: Any) -> ColumnElement[bool]:
        if rtype == "Patient":
            return table.c.res_id.in_(patient_ids)
        return table.c.pk.in_(
            select(REF.c.res_pk).where(
                REF.c.rtype == rtype,
                REF.c.param.in_(PATIENT_PARAMS),
                REF.c.target_type == "Patient",
                REF.c.target_id.in_(patient_ids),
            )
        )

    def _about_served(self, table: Table, rtype: str) -> ColumnElement[bool]:
        """The row is about a patient the caller's agency serves, probed per candidate row."""
        agency = str(self.principal.agency)
        return row_about(
            table, rtype, lambda patient: self.facts.serves(agency, patient), "about_served"
        )

    def _allowed_profiles(self, rtype: str, patient: str, profiles: list[str]) -> tuple[str, ...]:
        """The security profiles of ``rtype`` the caller may see about this consented patient."""
        consents = self._consents_of(patient)
        facts = self._facts(patient)
        return tuple(
            code
            for code in profiles
            if evaluate(
                replace(self._profile_request(rtype, code), patient=patient, **facts),
                None,
                consents,
                self.agreements,
            ).allowed
        )


def refusal(decision: Decision, what: str) -> Forbidden:
    """A 403 naming the policies that decided and why, never the withheld data (nor, when another
    rule refused too, a policy whose name would tell what kind of record it is)."""
    decision = default_engine().outward(decision)
    ids = ", ".join(decision.policy_ids) or "default-deny"
    reasons = " ".join(decision.reasons) or "no sharing rule allows it"
    codes = f" ({', '.join(decision.refusal_codes)})" if decision.refusal_codes else ""
    text = f"{what} refused by policy {ids}{codes}: {reasons}"
    return Forbidden(text, issues=[Issue(text, code="forbidden")])


def source_uri(caller: Caller) -> str | None:
    return agency_uri(caller.agency) if caller.agency else None
