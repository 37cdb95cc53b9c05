"""Every query of the referral workflow: its own rows, the directory and the intake of referrals
that arrived as plain resources (ingest, transaction Bundles, bulk loads)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from gateway.db.tables import ReferenceIndex, ResourceRow, TokenIndex
from gateway.db.tables_placement import PlacementRequestRow
from gateway.db.tables_referral import ReferralRow
from gateway.referral import codes
from gateway.referral.transitions import AWAITING_ANSWER, OPEN

Resource = dict[str, Any]
R = ResourceRow.__table__  # type: ignore[attr-defined]
TOK = TokenIndex.__table__  # type: ignore[attr-defined]
REF = ReferenceIndex.__table__  # type: ignore[attr-defined]

# ServiceRequest codes and categories that name a referral (codes.service_type_of decides).
_INTAKE_SYSTEMS = (
    codes.SERVICE_TYPE_SYSTEM,
    codes.POLICE_SERVICE,
    *codes.REFERRAL_SYSTEMS,
)


class ReferralRepository:
    """Reads and writes of ``referral`` rows and the resource index (never commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- referral rows -----------------------------------------------------------------------
    def add(self, row: ReferralRow) -> ReferralRow:
        self.session.add(row)
        self.session.flush()
        return row

    def by_any_id(self, some_id: str, *, lock: bool = True) -> ReferralRow | None:
        """The referral named by its Task id or ServiceRequest id (locked for this transaction
        unless ``lock`` is false: a read that moves nothing)."""
        stmt = select(ReferralRow).where(
            or_(ReferralRow.task_id == some_id, ReferralRow.service_request_id == some_id)
        )
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return self.session.execute(stmt).scalars().first()

    def is_referral_task(self, task_id: str) -> bool:
        return (
            self.session.execute(
                select(ReferralRow.pk).where(ReferralRow.task_id == task_id)
            ).first()
            is not None
        )

    def queue(
        self, receiver: str, states: Sequence[str], team: str | None, limit: int
    ) -> list[ReferralRow]:
        stmt = select(ReferralRow).where(
            ReferralRow.receiver == receiver, ReferralRow.state.in_(list(states))
        )
        if team is not None:
            stmt = stmt.where(ReferralRow.team == team)
        return list(self.session.execute(stmt.limit(limit)).scalars())

    def sent(self, referrer: str, states: Sequence[str], limit: int) -> list[ReferralRow]:
        stmt = select(ReferralRow).where(
            ReferralRow.referrer == referrer, ReferralRow.state.in_(list(states))
        )
        return list(self.session.execute(stmt.limit(limit)).scalars())

    def _due(self, condition: Any, limit: int) -> list[ReferralRow]:
        stmt = (
            select(ReferralRow)
            .where(condition)
            .order_by(ReferralRow.pk)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return list(self.session.execute(stmt).scalars())

    def due_shift_flags(self, now: float, limit: int) -> list[ReferralRow]:
        """Referrals that waited for a team now on duty."""
        return self._due(
            and_(ReferralRow.shift_flag_at.is_not(None), ReferralRow.shift_flag_at <= now), limit
        )

    def due_escalations(self, now: float, limit: int) -> list[ReferralRow]:
        """Unanswered referrals past their urgency's time limit, not escalated yet."""
        return self._due(
            and_(
                ReferralRow.state.in_([s.value for s in AWAITING_ANSWER]),
                ReferralRow.respond_by <= now,
                ReferralRow.escalated_at.is_(None),
            ),
            limit,
        )

    def withdrawn(self, limit: int) -> list[ReferralRow]:
        """Open referrals whose ServiceRequest the referrer has since revoked (HL7 I14, a police
        record correcting ``follow_up.requested`` to false, a FHIR update)."""
        revoked = select(R.c.res_id).where(
            R.c.rtype == "ServiceRequest",
            R.c.pk.in_(
                select(TOK.c.res_pk).where(
                    TOK.c.rtype == "ServiceRequest",
                    TOK.c.param == "status",
                    TOK.c.code.in_(("revoked", "entered-in-error")),
                )
            ),
        )
        return self._due(
            and_(
                ReferralRow.state.in_([s.value for s in OPEN]),
                ReferralRow.service_request_id.in_(revoked),
            ),
            limit,
        )

    def between(self, start: float, end: float) -> list[ReferralRow]:
        stmt = select(ReferralRow).where(
            ReferralRow.created_at >= start, ReferralRow.created_at < end
        )
        return list(self.session.execute(stmt.order_by(ReferralRow.pk)).scalars())

    def open_for(self, agency: str, patient: str) -> bool:
        """Whether ``agency`` receives an open referral about ``patient``."""
        stmt = select(ReferralRow.pk).where(
            ReferralRow.receiver == agency,
            ReferralRow.patient_id == patient,
            ReferralRow.state.in_([s.value for s in OPEN]),
        )
        return self.session.execute(stmt.limit(1)).first() is not None

    # ---- the directory -----------------------------------------------------------------------
    def _contents(self, rtype: str, pks: Any) -> list[Resource]:
        rows = self.session.execute(
            select(R.c.content).where(R.c.rtype == rtype, R.c.deleted.is_(False), R.c.pk.in_(pks))
        )
        return [orjson.loads(r[0]) for r in rows if r[0]]

    def _sorted(self, rtype: str, pks: Any) -> list[Resource]:
        """The live resources among ``pks``, in id order (routing must not depend on storage order)."""
        return sorted(self._contents(rtype, pks), key=lambda d: str(d.get("id")))

    @staticmethod
    def _referring(rtype: str, param: str, target_type: str, target_id: str) -> Any:
        """Keys of ``rtype`` resources whose ``param`` refers to ``target_type/target_id``."""
        return select(REF.c.res_pk).where(
            REF.c.rtype == rtype,
            REF.c.param == param,
            REF.c.target_type == target_type,
            REF.c.target_id == target_id,
        )

    def services_of_type(self, service_type: str) -> list[Resource]:
        """HealthcareServices offering ``service_type`` (our code system)."""
        pks = select(TOK.c.res_pk).where(
            TOK.c.rtype == "HealthcareService",
            TOK.c.param == "service-type",
            TOK.c.system == codes.SERVICE_TYPE_SYSTEM,
            TOK.c.code == service_type,
        )
        return self._sorted("HealthcareService", pks)

    def services_of_org(self, org_id: str) -> list[Resource]:
        pks = self._referring("HealthcareService", "organization", "Organization", org_id)
        return self._sorted("HealthcareService", pks)

    def roles_of_practitioner(self, practitioner_id: str) -> list[Resource]:
        pks = self._referring("PractitionerRole", "practitioner", "Practitioner", practitioner_id)
        return self._sorted("PractitionerRole", pks)

    def supervisors_of(self, org_id: str) -> list[str]:
        """Ids of the organisation's PractitionerRoles coded ``supervisor`` (any code system)."""
        at_org = self._referring("PractitionerRole", "organization", "Organization", org_id)
        coded = select(TOK.c.res_pk).where(
            TOK.c.rtype == "PractitionerRole",
            TOK.c.param == "role",
            TOK.c.code == codes.SUPERVISOR_ROLE,
        )
        rows = self.session.execute(
            select(R.c.res_id)
            .where(
                R.c.rtype == "PractitionerRole",
                R.c.deleted.is_(False),
                R.c.pk.in_(at_org),
                R.c.pk.in_(coded),
            )
            .order_by(R.c.res_id)
        )
        return [r[0] for r in rows]

    def tasks_for(self, sr_id: str) -> list[Resource]:
        """Tasks whose focus is ``ServiceRequest/sr_id``."""
        return self._sorted("Task", self._referring("Task", "focus", "ServiceRequest", sr_id))

    # ---- intake ------------------------------------------------------------------------------
    def unadopted_referrals(
        self, limit: int, skip: Sequence[int] = ()
    ) -> list[tuple[int, Resource]]:
        """Active referral orders that have no referral row and no placement request yet
        (``skip``: resource keys this process could not adopt, left for a person to look at)."""
        coded = select(TOK.c.res_pk).where(
            TOK.c.rtype == "ServiceRequest",
            TOK.c.param.in_(("code", "category")),
            or_(
                TOK.c.system.in_(_INTAKE_SYSTEMS),
                and_(TOK.c.system == codes.SNOMED, TOK.c.code == codes.PATIENT_REFERRAL),
            ),
        )
        active = select(TOK.c.res_pk).where(
            TOK.c.rtype == "ServiceRequest", TOK.c.param == "status", TOK.c.code == "active"
        )
        ordered = select(TOK.c.res_pk).where(
            TOK.c.rtype == "ServiceRequest",
            TOK.c.param == "intent",
            TOK.c.code.in_(("order", "original-order")),
        )
        adopted = exists().where(ReferralRow.service_request_id == R.c.res_id)
        placed = exists().where(PlacementRequestRow.service_request_id == R.c.res_id)
        rows = self.session.execute(
            select(R.c.pk, R.c.content)
            .where(
                R.c.rtype == "ServiceRequest",
                R.c.deleted.is_(False),
                R.c.pk.in_(coded),
                R.c.pk.in_(active),
                R.c.pk.in_(ordered),
                R.c.pk.notin_(list(skip)),
                ~adopted,
                ~placed,
            )
            .order_by(R.c.pk)
            .limit(limit)
        )
        return [(int(r[0]), orjson.loads(r[1])) for r in rows if r[1]]
