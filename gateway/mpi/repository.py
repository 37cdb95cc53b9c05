"""SQL for identity matching: blocking candidates from the search index, and the link table."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, or_, select, union
from sqlalchemy.orm import Session

from gateway.db.tables import DateIndex, ResourceRow, StringIndex, TokenIndex
from gateway.db.tables_ingest import MpiLinkRow
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.indexing import normalize

R = ResourceRow.__table__  # type: ignore[attr-defined]
T = TokenIndex.__table__  # type: ignore[attr-defined]
D = DateIndex.__table__  # type: ignore[attr-defined]
S = StringIndex.__table__  # type: ignore[attr-defined]
MAX_CANDIDATES = 500


def _like_safe(text: str) -> str:
    return text.replace("%", "").replace("_", "").replace("\\", "")


def ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


class MpiRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def candidates(
        self,
        patient_id: str,
        identifiers: Sequence[tuple[str, str]],
        birth: str,
        phones: Sequence[str],
        family: str,
        initials: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        """(id, content) of live Patients sharing an identifier, the birth date or a phone, or
        whose family name starts alike and who share the birth year or a first-name initial.

        Each block is an index lookup; their union picks the rows, so the cost follows the number
        of candidates, not the number of stored Patients.
        """
        blocks: list[Select[Any]] = []
        if identifiers:
            blocks.append(
                select(T.c.res_pk).where(
                    T.c.rtype == "Patient",
                    T.c.param == "identifier",
                    or_(*[and_(T.c.system == s, T.c.code == v) for s, v in identifiers]),
                )
            )
        year: tuple[float, float] | None = None
        if birth:
            try:
                low, high = date_range(birth)
                year = date_range(birth[:4])
                blocks.append(
                    select(D.c.res_pk).where(
                        D.c.rtype == "Patient",
                        D.c.param == "birthdate",
                        D.c.low == low,
                        D.c.high == high,
                    )
                )
            except BadDate:
                year = None
        if phones:
            blocks.append(
                select(T.c.res_pk).where(
                    T.c.rtype == "Patient", T.c.param == "phone", T.c.code.in_(list(phones))
                )
            )
        if len(family) >= 3:
            blocks.extend(self._name_block(family, initials, year))
        if not blocks:
            return []
        picked = union(*blocks) if len(blocks) > 1 else blocks[0]
        rows = self.session.execute(
            select(R.c.res_id, R.c.content)
            .where(
                R.c.pk.in_(picked),
                R.c.rtype == "Patient",
                R.c.deleted.is_(False),
                R.c.res_id != patient_id,
            )
            .limit(MAX_CANDIDATES)
        )
        return [(r[0], r[1]) for r in rows if r[1] is not None]

    @staticmethod
    def _name_block(
        family: str, initials: Sequence[str], year: tuple[float, float] | None
    ) -> list[Select[Any]]:
        """Family name prefix, narrowed by the birth year or a first-name initial."""
        prefix = _like_safe(normalize(family)[:3])
        narrow = []
        if year is not None:
            narrow.append(
                S.c.res_pk.in_(
                    select(D.c.res_pk).where(
                        D.c.rtype == "Patient",
                        D.c.param == "birthdate",
                        D.c.low >= year[0],
                        D.c.low < year[1],
                    )
                )
            )
        letters = sorted({_like_safe(normalize(i)[:1]) for i in initials} - {""})
        if letters:
            given = S.alias("given_idx")
            narrow.append(
                S.c.res_pk.in_(
                    select(given.c.res_pk).where(
                        given.c.rtype == "Patient",
                        given.c.param == "given",
                        or_(*[given.c.norm.like(f"{letter}%") for letter in letters]),
                    )
                )
            )
        if not prefix:
            return []
        stmt = select(S.c.res_pk).where(
            S.c.rtype == "Patient", S.c.param == "family", S.c.norm.like(f"{prefix}%")
        )
        return [stmt.where(or_(*narrow))] if narrow else [stmt]

    def link(self, a: str, b: str) -> MpiLinkRow | None:
        first, second = ordered(a, b)
        return self.session.execute(
            select(MpiLinkRow).where(MpiLinkRow.patient_a == first, MpiLinkRow.patient_b == second)
        ).scalar_one_or_none()

    def save_link(
        self, a: str, b: str, score: float, status: str, method: str, by: str | None = None
    ) -> MpiLinkRow:
        row = self.link(a, b)
        now = time.time()
        if row is None:
            first, second = ordered(a, b)
            row = MpiLinkRow(
                patient_a=first,
                patient_b=second,
                score=score,
                status=status,
                method=method,
                created_at=now,
            )
        else:
            row.score, row.status, row.method = score, status, method
        if by is not None:
            row.decided_by, row.decided_at = by, now
        self.session.add(row)
        self.session.flush()
        return row

    def by_pk(self, pk: int) -> MpiLinkRow | None:
        return self.session.get(MpiLinkRow, pk)

    def queue(self, limit: int = 100) -> Sequence[MpiLinkRow]:
        return (
            self.session.execute(
                select(MpiLinkRow)
                .where(MpiLinkRow.status == "review")
                .order_by(MpiLinkRow.score.desc())
                .limit(limit)
            )
            .scalars()
            .all()
        )

    def linked_to(self, patient_ids: Sequence[str]) -> set[str]:
        """Every patient linked (status linked) to one of ``patient_ids``, one hop."""
        if not patient_ids:
            return set()
        rows = self.session.execute(
            select(MpiLinkRow.patient_a, MpiLinkRow.patient_b).where(
                MpiLinkRow.status == "linked",
                or_(
                    MpiLinkRow.patient_a.in_(list(patient_ids)),
                    MpiLinkRow.patient_b.in_(list(patient_ids)),
                ),
            )
        )
        out: set[str] = set()
        for a, b in rows:
            out.update((a, b))
        return out - set(patient_ids)
