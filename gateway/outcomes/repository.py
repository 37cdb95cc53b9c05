"""The SQL behind the program dashboard: crisis encounters, placement requests, identity links and
the referrals that ended with the person seen.

Encounters are found through the search index (``class`` token, ``date`` = the Encounter's period)
rather than by reading every stored resource; only the matching Encounters' JSON is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.tables import DateIndex, ResourceRow, TokenIndex
from gateway.db.tables_ingest import MpiLinkRow
from gateway.db.tables_placement import PlacementRequestRow
from gateway.db.tables_referral import ReferralRow

R = ResourceRow.__table__  # type: ignore[attr-defined]
T = TokenIndex.__table__  # type: ignore[attr-defined]
D = DateIndex.__table__  # type: ignore[attr-defined]
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


class OutcomesRepository:
    """Read-only queries; the caller's unit of work owns the session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def encounters(self, classes: Iterable[str], start: float, end: float) -> list[tuple[str, str]]:
        """(id, JSON) of live Encounters of the v3-ActCode ``classes`` whose period starts in
        ``[start, end)``."""
        by_class = select(T.c.res_pk).where(
            T.c.rtype == "Encounter",
            T.c.param == "class",
            T.c.system == V3_ACT_CODE,
            T.c.code.in_(sorted(classes)),
        )
        by_date = select(D.c.res_pk).where(
            D.c.rtype == "Encounter",
            D.c.param == "date",
            D.c.low >= start,
            D.c.low < end,
        )
        rows = self.session.execute(
            select(R.c.res_id, R.c.content)
            .where(
                R.c.rtype == "Encounter",
                R.c.deleted.is_(False),
                R.c.pk.in_(by_class),
                R.c.pk.in_(by_date),
            )
            .order_by(R.c.res_id)
        )
        return [(r[0], r[1]) for r in rows if r[1] is not None]

    def placement_requests(self, start: float, end: float) -> list[tuple[str, float]]:
        """(patient id, created at) of the placement requests opened in ``[start, end)``."""
        rows = self.session.execute(
            select(PlacementRequestRow.patient_id, PlacementRequestRow.created_at).where(
                PlacementRequestRow.created_at >= start,
                PlacementRequestRow.created_at < end,
                PlacementRequestRow.patient_id.is_not(None),  # type: ignore[union-attr]
            )
        )
        return [(str(r[0]), float(r[1])) for r in rows]

    def links(self, patient_ids: Sequence[str]) -> list[tuple[str, str]]:
        """Every confirmed link (``linked``) touching one of ``patient_ids``, one hop."""
        ids = sorted(set(patient_ids))
        out: list[tuple[str, str]] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self.session.execute(
                select(MpiLinkRow.patient_a, MpiLinkRow.patient_b).where(
                    MpiLinkRow.status == "linked",
                    MpiLinkRow.patient_a.in_(chunk)  # type: ignore[attr-defined]
                    | MpiLinkRow.patient_b.in_(chunk),  # type: ignore[attr-defined]
                )
            )
            out.extend((str(a), str(b)) for a, b in rows)
        return out

    def referrals_seen(
        self, patient_ids: Sequence[str], start: float, end: float
    ) -> list[tuple[str, float]]:
        """(patient id, first contact) of the referrals of ``patient_ids`` completed with the
        outcome ``seen`` whose first contact (the appointment kept) is in ``[start, end)``."""
        ids = sorted(set(patient_ids))
        out: list[tuple[str, float]] = []
        for i in range(0, len(ids), 500):
            rows = self.session.execute(
                select(ReferralRow.patient_id, ReferralRow.seen_at).where(
                    ReferralRow.state == "completed",
                    ReferralRow.outcome == "seen",
                    ReferralRow.seen_at >= start,  # type: ignore[operator]
                    ReferralRow.seen_at < end,  # type: ignore[operator]
                    ReferralRow.patient_id.in_(ids[i : i + 500]),  # type: ignore[union-attr]
                )
            )
            out.extend((str(p), float(t)) for p, t in rows)
        return out
