"""All SQL that reads and writes stored resources, their versions and their index rows.

Only this module (and the search query builder) touches the session; services never commit.

Version rows and search-index rows are not written one statement per resource: they wait in the
session and go out as one statement per table (:mod:`gateway.fhir.pending`) just before anything
might read them, or at commit. The current-row reads and writes here read neither and carry the
``gw_index_free`` execution option, so they let the rows keep waiting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import and_, delete, func, insert, select, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

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
from gateway.fhir.pending import FREE as _FREE
from gateway.fhir.pending import pending

R = ResourceRow.__table__  # type: ignore[attr-defined]
V = ResourceVersionRow.__table__  # type: ignore[attr-defined]
_INDEX = [t.__table__ for t in (TokenIndex, StringIndex, DateIndex, ReferenceIndex)]  # type: ignore[attr-defined]
_INDEX += [t.__table__ for t in (QuantityIndex, PositionIndex)]  # type: ignore[attr-defined]
_TOKEN, _STRING, _DATE, _REFERENCE, _QUANTITY, _POSITION = _INDEX
_TABLES = (V, *_INDEX)  # held-back rows are sent in this order


class ResourceRepository:
    """Queries over ``fhir_resource`` / ``fhir_resource_version`` and the index tables."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pending = pending(session, _TABLES)

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """Read and lock (FOR UPDATE) the current rows of ``keys`` ahead in one query, in a fixed
        order (type, then id) so concurrent transactions lock alike; the writes that follow in
        this transaction find them without a query each."""
        wanted = sorted(set(keys))
        if not wanted:
            return
        rows = self.session.execute(
            select(ResourceRow)
            .where(tuple_(ResourceRow.rtype, ResourceRow.res_id).in_(wanted))
            .order_by(ResourceRow.rtype, ResourceRow.res_id)
            .with_for_update()
            .execution_options(**_FREE)
        ).scalars()
        found = {(row.rtype, row.res_id): row for row in rows}
        for key in wanted:
            row = found.get(key)
            self.pending.locked[key] = row
            if row is not None and not row.deleted:
                self.pending.live.add(key)

    def current(self, rtype: str, rid: str, *, for_update: bool = False) -> ResourceRow | None:
        if for_update and (rtype, rid) in self.pending.locked:
            return self.pending.locked[(rtype, rid)]
        stmt = select(ResourceRow).where(ResourceRow.rtype == rtype, ResourceRow.res_id == rid)
        if for_update:
            stmt = stmt.with_for_update()
        row = self.session.execute(stmt.execution_options(**_FREE)).scalar_one_or_none()
        if row is not None and not row.deleted:
            self.pending.live.add((rtype, rid))
        return row

    def current_content(self, rtype: str, rid: str) -> tuple[int, bool, float, str | None] | None:
        """The hot read path: (version, deleted, last_updated, content) without ORM overhead."""
        row = self.session.execute(
            select(R.c.version, R.c.deleted, R.c.last_updated, R.c.content)
            .where(R.c.rtype == rtype, R.c.res_id == rid)
            .execution_options(**_FREE)
        ).first()
        if row is None:
            return None
        if not row[1]:
            self.pending.live.add((rtype, rid))
        return (row[0], row[1], row[2], row[3])

    def version(self, rtype: str, rid: str, version: int) -> ResourceVersionRow | None:
        stmt = select(ResourceVersionRow).where(
            ResourceVersionRow.rtype == rtype,
            ResourceVersionRow.res_id == rid,
            ResourceVersionRow.version == version,
        )
        return self.session.execute(stmt).scalar_one_or_none()

    def live_exists(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the (type, id) pairs exist and are not deleted.

        Resources this transaction already wrote or read live are answered without a query; the
        rest take one query per type.
        """
        wanted = set(keys)
        known = self.pending.live
        found = wanted & known
        by_type: dict[str, list[str]] = {}
        for rtype, rid in wanted - found:
            by_type.setdefault(rtype, []).append(rid)
        for rtype, ids in by_type.items():
            rows = self.session.execute(
                select(R.c.res_id)
                .where(R.c.rtype == rtype, R.c.res_id.in_(ids), R.c.deleted.is_(False))
                .execution_options(**_FREE)
            )
            live = {(rtype, r[0]) for r in rows}
            found |= live
            known |= live
        return found

    def insert(self, row: ResourceRow) -> ResourceRow:
        """Insert the current row of a new resource; ``row.pk`` is set from the database."""
        pk = self.session.execute(
            insert(R)
            .values(
                rtype=row.rtype,
                res_id=row.res_id,
                version=row.version,
                deleted=row.deleted,
                last_updated=row.last_updated,
                content=row.content,
            )
            .returning(R.c.pk)
            .execution_options(**_FREE)
        ).scalar_one()
        row.pk = int(pk)
        if (row.rtype, row.res_id) in self.pending.locked:
            self.pending.locked[(row.rtype, row.res_id)] = row
        if not row.deleted:
            self.pending.live.add((row.rtype, row.res_id))
        return row

    def set_current(
        self, row: ResourceRow, *, version: int, ts: float, content: str | None, deleted: bool
    ) -> None:
        self.session.execute(
            update(R)
            .where(R.c.pk == row.pk)
            .values(version=version, last_updated=ts, content=content, deleted=deleted)
            .execution_options(**_FREE)
        )
        # Set as the row's committed state: the UPDATE above already wrote it, so the ORM must
        # not see a change to flush a second time.
        for name, value in (
            ("version", version),
            ("last_updated", ts),
            ("content", content),
            ("deleted", deleted),
        ):
            set_committed_value(row, name, value)
        key = (row.rtype, row.res_id)
        if deleted:
            self.pending.live.discard(key)
        else:
            self.pending.live.add(key)

    def add_version(self, row: ResourceRow, method: str) -> None:
        """Queue the version row (sent with the index rows, before any reader or the commit)."""
        self.pending.add(
            V,
            [
                {
                    "res_pk": row.pk,
                    "rtype": row.rtype,
                    "res_id": row.res_id,
                    "version": row.version,
                    "method": method,
                    "deleted": row.deleted,
                    "last_updated": row.last_updated,
                    "content": row.content,
                }
            ],
        )

    def replace_index(
        self, res_pk: int, rtype: str, rows: IndexRows | None, *, fresh: bool = False
    ) -> None:
        """Replace a resource's index rows (``fresh``: it was just inserted, there are none yet).

        The new rows are queued; the old ones (of an earlier transaction, or queued earlier in this
        one) go at once.
        """
        if not fresh:
            self.pending.drop_index(self.session, res_pk, tuple(_INDEX))
            for table in _INDEX:
                self.session.execute(
                    delete(table).where(table.c.res_pk == res_pk).execution_options(**_FREE)
                )
        if rows is None:
            return
        base = {"res_pk": res_pk, "rtype": rtype}
        add = self.pending.add
        add(_TOKEN, [{**base, "param": p, "system": s, "code": c} for p, s, c in rows.tokens])
        add(_STRING, [{**base, "param": p, "norm": n, "exact": e} for p, n, e in rows.strings])
        add(_DATE, [{**base, "param": p, "low": lo, "high": hi} for p, lo, hi in rows.dates])
        add(
            _REFERENCE,
            [
                {**base, "param": p, "target_type": t, "target_id": i, "url": u}
                for p, t, i, u in rows.references
            ],
        )
        add(
            _QUANTITY,
            [
                {**base, "param": p, "value": v, "system": s, "code": c}
                for p, v, s, c in rows.quantities
            ],
        )
        add(_POSITION, [{**base, "lat": a, "lon": o} for a, o in rows.positions])

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
