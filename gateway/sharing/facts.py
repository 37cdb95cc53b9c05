"""The facts sharing decisions need from the store (the policy layer never looks anything up):
which patients an agency serves, a patient's consents, and a facility's placement requests.

An agency also serves a patient it receives a referral about (relation ``referral``) from routing
until the referral is rejected or cancelled, whether the referral Task is owned by the
organisation or by one of its team queues (``gateway/referral``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import exists, false, or_, select, text
from sqlalchemy.orm import Session

from gateway.db.tables import ReferenceIndex, ResourceRow, TokenIndex
from gateway.db.tables_referral import ReferralRow
from gateway.sharing.profile import PARAM, agency_uri

R = ResourceRow.__table__  # type: ignore[attr-defined]
REF = ReferenceIndex.__table__  # type: ignore[attr-defined]
TOK = TokenIndex.__table__  # type: ignore[attr-defined]

# Reference search parameters that name the patient a resource is about (its Patient compartment).
PATIENT_PARAMS = ("patient", "subject", "for", "beneficiary")
# Types whose ``patient`` search parameter does not come from the elements ``patient_of`` reads
# (Provenance.target, AuditEvent.entity): a decision treats them as about no patient, so must SQL.
ABOUT_NO_PATIENT = frozenset({"Provenance", "AuditEvent"})
# What links an agency to a patient it serves (AccessRequest.relations).
RELATION_OF = {
    "Encounter": "encounter",
    "EpisodeOfCare": "episode",
    "CareTeam": "care-team",
    "ServiceRequest": "placement",
    "Task": "placement",
}
ACCEPTED = frozenset({"accepted", "in-progress", "completed"})
REFERRAL_ENDED = ("rejected", "cancelled")  # a receiver no longer serves the patient


def patient_of(resource: dict[str, Any]) -> str | None:
    """The Patient id a resource is about (itself for a Patient)."""
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id")) if resource.get("id") else None
    refs = [resource.get(key) for key in ("subject", "patient", "for", "beneficiary")]
    if resource.get("resourceType") == "Appointment":  # a referral's booking: the patient attends
        refs += [p.get("actor") for p in resource.get("participant") or [] if isinstance(p, dict)]
    for ref in refs:
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            target = ref["reference"]
            if target.startswith("Patient/"):
                return target.split("/")[1]
    return None


def owned_by(res_pk: Any, agency: str, name: str) -> Any:
    """SQL: the resource whose pk is the column ``res_pk`` has ``owner`` = Organization/``agency``."""
    owner = REF.alias(name)
    return exists().where(
        owner.c.res_pk == res_pk,
        owner.c.param == "owner",
        owner.c.target_type == "Organization",
        owner.c.target_id == agency,
    )


def row_about(table: Any, rtype: str, test: Callable[[Any], Any], name: str) -> Any:
    """SQL: the row of ``table`` is about a patient (a Patient row about itself, any other through
    its Patient compartment reference) whose id column passes ``test``; per row, an index probe."""
    if rtype in ABOUT_NO_PATIENT:
        return false()
    if rtype == "Patient":
        return test(table.c.res_id)
    about = REF.alias(name)
    return exists().where(
        about.c.res_pk == table.c.pk,
        about.c.rtype == rtype,
        about.c.param.in_(PATIENT_PARAMS),
        about.c.target_type == "Patient",
        test(about.c.target_id),
    )


class FactsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _agency_row(self, agency: str) -> Any:
        """The same test for one patient's few reference rows: correlated on the row's resource."""
        written = exists().where(
            TOK.c.res_pk == REF.c.res_pk, TOK.c.param == "_source", TOK.c.code == agency_uri(agency)
        )
        return or_(written, owned_by(REF.c.res_pk, agency, "owner_ref"))

    def serves(self, agency: str, patient_id: Any) -> Any:
        """SQL: ``agency`` serves the patient whose id is the column ``patient_id``: it wrote or owns
        an encounter, episode, care team or placement request about them, holds the Patient record
        itself, or received a referral about them that is still open.

        Searches use this so the cost follows the candidate rows, not everything an agency ever
        wrote: an OR of EXISTS stays a per-row probe of the patient's few reference rows.
        """
        uri = agency_uri(agency)
        link = REF.alias("served_link")
        source = TOK.alias("served_source")
        held_source = TOK.alias("held_source")
        patient_row = R.alias("held_patient")
        linked = exists().where(
            link.c.target_type == "Patient",
            link.c.target_id == patient_id,
            link.c.rtype.in_(list(RELATION_OF)),
            link.c.param.in_(PATIENT_PARAMS),
            or_(
                exists().where(
                    source.c.res_pk == link.c.res_pk,
                    source.c.param == "_source",
                    source.c.code == uri,
                ),
                owned_by(link.c.res_pk, agency, "served_owner"),
            ),
        )
        held = exists().where(
            patient_row.c.rtype == "Patient",
            patient_row.c.res_id == patient_id,
            exists().where(
                held_source.c.res_pk == patient_row.c.pk,
                held_source.c.param == "_source",
                held_source.c.code == uri,
            ),
        )
        referred = exists().where(
            ReferralRow.patient_id == patient_id,
            ReferralRow.receiver == agency,
            ReferralRow.state.notin_(REFERRAL_ENDED),
        )
        return or_(linked, held, referred)

    def relations_of(self, agency: str, patients: Sequence[str]) -> dict[str, frozenset[str]]:
        """How ``agency`` is linked to each of ``patients`` (``AccessRequest.relations``), in three
        queries for all of them (one resource, a search's page, its consent exceptions)."""
        found: dict[str, set[str]] = {p: set() for p in patients}
        if not patients:
            return {}
        rows = self.session.execute(
            select(REF.c.target_id, REF.c.rtype)
            .where(
                REF.c.rtype.in_(list(RELATION_OF)),
                REF.c.param.in_(PATIENT_PARAMS),
                REF.c.target_type == "Patient",
                REF.c.target_id.in_(list(patients)),
                self._agency_row(agency),
            )
            .distinct()
        )
        for patient, rtype in rows:
            found[patient].add(RELATION_OF[rtype])
        held = self.session.execute(
            select(R.c.res_id).where(
                R.c.rtype == "Patient",
                R.c.res_id.in_(list(patients)),
                exists().where(
                    TOK.c.res_pk == R.c.pk,
                    TOK.c.param == "_source",
                    TOK.c.code == agency_uri(agency),
                ),
            )
        )
        for (patient,) in held:
            found[patient].add("record")
        referred = self.session.execute(
            select(ReferralRow.patient_id)
            .where(
                ReferralRow.patient_id.in_(list(patients)),
                ReferralRow.receiver == agency,
                ReferralRow.state.notin_(REFERRAL_ENDED),
            )
            .distinct()
        )
        for (patient,) in referred:
            found[str(patient)].add("referral")
        return {p: frozenset(v) for p, v in found.items()}

    def consents_of(self, patients: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every stored Consent about each of ``patients`` (the policy layer honours status and
        period), in one query."""
        found: dict[str, list[dict[str, Any]]] = {p: [] for p in patients}
        if not patients:
            return found
        rows = self.session.execute(
            select(REF.c.target_id, R.c.content)
            .join(R, R.c.pk == REF.c.res_pk)
            .where(
                REF.c.rtype == "Consent",
                REF.c.param == "patient",
                REF.c.target_type == "Patient",
                REF.c.target_id.in_(list(patients)),
                R.c.rtype == "Consent",
                R.c.deleted.is_(False),
            )
            .order_by(R.c.pk)
        )
        for patient, content in rows:
            if content:
                found[patient].append(orjson.loads(content))
        return found

    def profiles(self, rtype: str) -> list[str]:
        """The distinct access profiles stored for ``rtype``: a loose index scan (one index probe
        per distinct code) rather than a DISTINCT over every resource's token row."""
        rows = self.session.execute(
            text(
                "WITH RECURSIVE p(code) AS ("
                " SELECT min(code) FROM idx_token WHERE rtype = :rtype AND param = :param"
                " UNION ALL"
                " SELECT (SELECT min(t.code) FROM idx_token t"
                "  WHERE t.rtype = :rtype AND t.param = :param AND t.code > p.code)"
                " FROM p WHERE p.code IS NOT NULL"
                ") SELECT code FROM p WHERE code IS NOT NULL"
            ),
            {"rtype": rtype, "param": PARAM},
        )
        return [r[0] for r in rows]

    @staticmethod
    def decided_alone(patient_id: Any, facility: str | None) -> Any:
        """SQL: the patient whose id is the column ``patient_id`` has facts of their own that can
        change a decision about them: a Consent on file or, for a ``facility``, a placement Task
        addressed to it. Index probes of the Consent's ``patient`` and the Task's ``owner``."""
        consent = REF.alias("consent_of")
        consented = exists().where(
            consent.c.rtype == "Consent",
            consent.c.param == "patient",
            consent.c.target_id == patient_id,
            consent.c.target_type == "Patient",
        )
        if facility is None:
            return consented
        task = REF.alias("placement_for")
        addressed = exists().where(
            task.c.rtype == "Task",
            task.c.param.in_(PATIENT_PARAMS),
            task.c.target_type == "Patient",
            task.c.target_id == patient_id,
            owned_by(task.c.res_pk, facility, "placement_owner"),
        )
        return or_(consented, addressed)

    def about_decided_alone(self, table: Any, rtype: str, facility: str | None) -> Any:
        """SQL: the row of ``table`` is about a patient :meth:`decided_alone`."""
        return row_about(
            table, rtype, lambda patient: self.decided_alone(patient, facility), "about_alone"
        )

    def decided_alone_among(
        self, table: Any, rtype: str, candidates: Sequence[Any], facility: str | None
    ) -> list[str]:
        """The patients :meth:`decided_alone` that rows of ``table`` matching ``candidates`` (a
        search's own conditions) are about: the only patients whose own facts can change what
        this search may count, however many consents and placements the store holds."""
        if rtype in ABOUT_NO_PATIENT:
            return []
        if rtype == "Patient":
            query = select(table.c.res_id).where(
                *candidates, self.decided_alone(table.c.res_id, facility)
            )
        else:
            about = REF.alias("candidate_about")
            query = (
                select(about.c.target_id)
                .select_from(table)
                .join(about, about.c.res_pk == table.c.pk)
                .where(
                    *candidates,
                    about.c.rtype == rtype,
                    about.c.param.in_(PATIENT_PARAMS),
                    about.c.target_type == "Patient",
                    self.decided_alone(about.c.target_id, facility),
                )
            )
        return sorted({str(r[0]) for r in self.session.execute(query.distinct())})

    def placements_of(
        self, agency: str, patients: Sequence[str]
    ) -> dict[str, tuple[bool, bool, bool]]:
        """(addressed to the agency's facility, accepted by it, requested by the agency) for each of
        ``patients``, in one query."""
        found = {p: [False, False, False] for p in patients}
        if not patients:
            return {}
        about = REF.alias("placement_about")
        owned = select(REF.c.res_pk).where(
            REF.c.rtype == "Task",
            REF.c.param == "owner",
            REF.c.target_type == "Organization",
            REF.c.target_id == agency,
        )
        written = select(TOK.c.res_pk).where(
            TOK.c.rtype == "Task", TOK.c.param == "_source", TOK.c.code == agency_uri(agency)
        )
        rows = self.session.execute(
            select(about.c.target_id, R.c.pk.in_(owned), R.c.pk.in_(written), R.c.content)
            .join(R, R.c.pk == about.c.res_pk)
            .where(
                about.c.rtype == "Task",
                about.c.param.in_(PATIENT_PARAMS),
                about.c.target_type == "Patient",
                about.c.target_id.in_(list(patients)),
                R.c.rtype == "Task",
                R.c.deleted.is_(False),
                or_(R.c.pk.in_(owned), R.c.pk.in_(written)),
            )
        )
        for patient, is_owned, is_written, content in rows:
            facts = found[patient]
            if is_owned:
                facts[0] = True
                if content and orjson.loads(content).get("status") in ACCEPTED:
                    facts[1] = True
            if is_written:
                facts[2] = True
        return {p: (f[0], f[1], f[2]) for p, f in found.items()}
