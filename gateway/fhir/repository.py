"""All SQL that reads and writes stored resources, their versions and their index rows.

Only this module (and the search query builder) touches the session; services never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.orm import Session

from gateway.db.tables import (
    DateIndex,
    PositionIndex,
    QuantityIndex,
    ReferenceIndex,
    ResourceRow,
    ResourceVersionRow,
    StringIndex,
    TokenIndex,
)
from gateway.fhir.indexing import IndexRows

R = ResourceRow.__table__  # type: ignore[attr-defined]
V = ResourceVersionRow.__table__  # type: ignore[attr-defined]
_INDEX = [t.__table__ for t in (TokenIndex, StringIndex, DateIndex, ReferenceIndex)]  # type: ignore[attr-defined]
_INDEX += [t.__table__ for t in (QuantityIndex, PositionIndex)]  # type: ignore[attr-defined]


class ResourceRepository:
    """Queries over ``fhir_resource`` / ``fhir_resource_version`` and the index tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def current(self, rtype: str, rid: str, *, for_update: bool = False) -> ResourceRow | None:
        stmt = select(ResourceRow).where(ResourceRow.rtype == rtype, ResourceRow.res_id == rid)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def current_content(self, rtype: str, rid: str) -> tuple[int, bool, float, str | None] | None:
        """The hot read path: (version, deleted, last_updated, content) without ORM overhead."""
        row = self.session.execute(
            select(R.c.version, R.c.deleted, R.c.last_updated, R.c.content).where(
                R.c.rtype == rtype, R.c.res_id == rid
            )
        ).first()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def version(self, rtype: str, rid: str, version: int) -> ResourceVersionRow | None:
        stmt = select(ResourceVersionRow).where(
            ResourceVersionRow.rtype == rtype,
            ResourceVersionRow.res_id == rid,
            ResourceVersionRow.version == version,
        )
        return self.session.execute(stmt).scalar_one_or_none()

    def live_exists(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the (type, id) pairs exist and are not deleted."""
        wanted = set(keys)
        if not wanted:
            return set()
        found: set[tuple[str, str]] = set()
        by_type: dict[str, list[str]] = {}
        for rtype, rid in wanted:
            by_type.setdefault(rtype, []).append(rid)
        for rtype, ids in by_type.items():
            rows = self.session.execute(
                select(R.c.res_id).where(
                    R.c.rtype == rtype, R.c.res_id.in_(ids), R.c.deleted.is_(False)
                )
            )
            found.update((rtype, r[0]) for r in rows)
        return found

    def insert(self, row: ResourceRow) -> ResourceRow:
        self.session.add(row)
        self.session.flush()
        return row

    def set_current(
        self, row: ResourceRow, *, version: int, ts: float, content: str | None, deleted: bool
    ) -> None:
        self.session.execute(
            update(R)
            .where(R.c.pk == row.pk)
            .values(version=version, last_updated=ts, content=content, deleted=deleted)
        )
        row.version, row.last_updated, row.content, row.deleted = version, ts, content, deleted

    def add_version(self, row: ResourceRow, method: str) -> None:
        self.session.execute(
            insert(V).values(
                res_pk=row.pk,
                rtype=row.rtype,
                res_id=row.res_id,
                version=row.version,
                method=method,
                deleted=row.deleted,
                last_updated=row.last_updated,
                content=row.content,
            )
        )

    def replace_index(
        self, res_pk: int, rtype: str, rows: IndexRows | None, *, fresh: bool = False
    ) -> None:
        """Replace a resource's index rows (``fresh``: it was just inserted, there are none yet)."""
        if not fresh:
            for table in _INDEX:
                self.session.execute(delete(table).where(table.c.res_pk == res_pk))
        if rows is None:
            return
        base = {"res_pk": res_pk, "rtype": rtype}
        self._bulk(
            TokenIndex, [{**base, "param": p, "system": s, "code": c} for p, s, c in rows.tokens]
        )
        self._bulk(
            StringIndex, [{**base, "param": p, "norm": n, "exact": e} for p, n, e in rows.strings]
        )
        self._bulk(
            DateIndex, [{**base, "param": p, "low": lo, "high": hi} for p, lo, hi in rows.dates]
        )
        self._bulk(
            ReferenceIndex,
            [
                {**base, "param": p, "target_type": t, "target_id": i, "url": u}
                for p, t, i, u in rows.references
            ],
        )
        self._bulk(
            QuantityIndex,
            [
                {**base, "param": p, "value": v, "system": s, "code": c}
                for p, v, s, c in rows.quantities
            ],
        )
        self._bulk(PositionIndex, [{**base, "lat": a, "lon": o} for a, o in rows.positions])

    def _bulk(self, model: type, values: list[dict[str, object]]) -> None:
        if values:
            self.session.execute(insert(model.__table__), values)  # type: ignore[attr-defined]

    def referrers(self, rtype: str, rid: str, limit: int = 5) -> list[tuple[str, str]]:
        """Live resources whose indexed references point at ``rtype/rid``."""
        ref = ReferenceIndex.__table__  # type: ignore[attr-defined]
        rows = self.session.execute(
            select(R.c.rtype, R.c.res_id)
            .join(ref, ref.c.res_pk == R.c.pk)
            .where(
                ref.c.target_type == rtype,
                ref.c.target_id == rid,
                R.c.deleted.is_(False),
                R.c.rtype != "AuditEvent",  # the audit trail never blocks a delete
                ~and_(R.c.rtype == rtype, R.c.res_id == rid),
            )
            .distinct()
            .limit(limit)
        )
        return [(r[0], r[1]) for r in rows]

    def history(
        self,
        rtype: str | None,
        rid: str | None,
        *,
        since: float | None,
        before: float | None,
        offset: int,
        count: int,
    ) -> tuple[int, Sequence[ResourceVersionRow]]:
        conds = []
        if rtype is not None:
            conds.append(V.c.rtype == rtype)
        if rid is not None:
            conds.append(V.c.res_id == rid)
        if since is not None:
            conds.append(V.c.last_updated >= since)
        if before is not None:
            conds.append(V.c.last_updated < before)
        total = self.session.execute(select(func.count()).select_from(V).where(*conds)).scalar_one()
        rows = (
            self.session.execute(
                select(ResourceVersionRow)
                .where(*conds)
                .order_by(V.c.last_updated.desc(), V.c.pk.desc())
                .offset(offset)
                .limit(count)
            )
            .scalars()
            .all()
        )
        return int(total), rows

    def contents_by_pk(self, pks: Sequence[int]) -> dict[int, tuple[str, str, str]]:
        """(type, id, content) for live resources, keyed by primary key."""
        if not pks:
            return {}
        rows = self.session.execute(
            select(R.c.pk, R.c.rtype, R.c.res_id, R.c.content).where(R.c.pk.in_(list(pks)))
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows if r[3] is not None}
