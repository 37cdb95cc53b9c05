"""SQL the directory, census and matcher need beyond plain reads: references, changes, history.

Only this module touches the session for them. All queries read the current-resource table
(``fhir_resource``), its reference index and the version table, as stored by the FHIR service.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from gateway.db.tables import ReferenceIndex, ResourceRow, ResourceVersionRow

R = ResourceRow.__table__  # type: ignore[attr-defined]
V = ResourceVersionRow.__table__  # type: ignore[attr-defined]
REF = ReferenceIndex.__table__  # type: ignore[attr-defined]
DIRECTORY_TYPES = ("HealthcareService", "Location", "Organization")

Row = tuple[str, str, int, bool, float, str | None]  # rtype, id, version, deleted, ts, content


class DirectoryRepository:
    """Queries over stored directory resources on one session (or plain connection)."""

    def __init__(self, session: Session | Connection) -> None:
        self.session = session

    def current(self, rtype: str, ids: Sequence[str] | None = None) -> list[Row]:
        """Every current row of a type (or of the given ids), deleted ones included."""
        stmt = select(
            R.c.rtype, R.c.res_id, R.c.version, R.c.deleted, R.c.last_updated, R.c.content
        )
        stmt = stmt.where(R.c.rtype == rtype)
        if ids is not None:
            if not ids:
                return []
            out: list[Row] = []
            chunk = list(ids)
            for start in range(0, len(chunk), 500):
                part = stmt.where(R.c.res_id.in_(chunk[start : start + 500]))
                out += [tuple(r) for r in self.session.execute(part)]  # type: ignore[misc]
            return out
        return [tuple(r) for r in self.session.execute(stmt)]  # type: ignore[misc]

    def changed_since(self, since: float) -> list[tuple[str, str, int, bool, float]]:
        """(type, id, version, deleted, ts) of directory rows stamped at or after ``since``."""
        stmt = select(R.c.rtype, R.c.res_id, R.c.version, R.c.deleted, R.c.last_updated).where(
            R.c.rtype.in_(DIRECTORY_TYPES), R.c.last_updated >= since
        )
        return [tuple(r) for r in self.session.execute(stmt)]  # type: ignore[misc]

    def signature(self, rtype: str) -> tuple[int, int]:
        """(rows, sum of versions) of a type: changes whenever any row of it changes."""
        row = self.session.execute(
            select(func.count(), func.coalesce(func.sum(R.c.version), 0)).where(R.c.rtype == rtype)
        ).one()
        return int(row[0]), int(row[1])

    def referrers(self, rtype: str, param: str, target: str) -> list[tuple[str, str]]:
        """(id, content) of live ``rtype`` resources whose ``param`` refers to ``target``."""
        ttype, tid = target.split("/", 1)
        stmt = (
            select(R.c.res_id, R.c.content)
            .join(REF, REF.c.res_pk == R.c.pk)
            .where(
                REF.c.rtype == rtype,
                REF.c.param == param,
                REF.c.target_type == ttype,
                REF.c.target_id == tid,
                R.c.deleted.is_(False),
            )
            .distinct()
            .order_by(R.c.res_id)
        )
        return [(r[0], r[1]) for r in self.session.execute(stmt) if r[1] is not None]

    def task_versions(self, since: float) -> list[tuple[str, int, float, str | None]]:
        """(id, version, ts, content) of every Task version written after ``since``, in order."""
        stmt = (
            select(V.c.res_id, V.c.version, V.c.last_updated, V.c.content)
            .where(V.c.rtype == "Task", V.c.last_updated > since)
            .order_by(V.c.res_id, V.c.version)
        )
        return [(r[0], r[1], r[2], r[3]) for r in self.session.execute(stmt)]
