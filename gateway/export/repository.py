"""Every query of bulk export: jobs, their leases and progress, their files, and the two index
lookups the Patient compartment needs (never commits).

A job is worked under a lease: :meth:`ExportRepository.claim` takes it only when nobody holds it
(or the holder stopped renewing), and every later write names the lease owner, so a runner that
lost its lease (presumed dead, the job resumed by another) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from gateway.db.tables import ReferenceIndex, ResourceRow
from gateway.db.tables_export import ExportFileRow, ExportJobRow
from gateway.export.schemas import ACTIVE, COMPLETED, FAILED, IN_PROGRESS

R = ResourceRow.__table__  # type: ignore[attr-defined]
REF = ReferenceIndex.__table__  # type: ignore[attr-defined]
J = ExportJobRow
F = ExportFileRow


class Listed(NamedTuple):
    """One output file as a manifest names it."""

    id: str
    rtype: str
    count: int


class LeaseLost(RuntimeError):
    """The job was cancelled, expired or taken over while this runner worked on it."""


class ExportRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- jobs --------------------------------------------------------------------------------
    def add(self, job: ExportJobRow) -> ExportJobRow:
        self.session.add(job)
        self.session.flush()
        return job

    def job(self, job_id: str) -> ExportJobRow | None:
        return self.session.get(J, job_id, populate_existing=True)

    def active_count(self, client_id: str, user: str | None, now: float) -> int:
        owner = J.user_id.is_(None) if user is None else J.user_id == user
        return int(
            self.session.execute(
                select(func.count()).where(
                    J.client_id == client_id, owner, J.status.in_(ACTIVE), J.expires_at >= now
                )
            ).scalar_one()
        )

    def purge_expired(self, now: float) -> int:
        """Delete jobs (and, by cascade, their files) past their retention time."""
        return int(self.session.execute(delete(J).where(J.expires_at < now)).rowcount or 0)

    def delete(self, job_id: str) -> None:
        self.session.execute(delete(J).where(J.id == job_id))

    def claim(self, job_id: str, owner: str, now: float, lease_until: float) -> bool:
        """Take the job's lease if it is unfinished and nobody holds a live lease on it."""
        result = self.session.execute(
            update(J)
            .where(
                J.id == job_id,
                J.status.in_(ACTIVE),
                or_(J.lease_until.is_(None), J.lease_until < now),
            )
            .values(
                status=IN_PROGRESS,
                lease_owner=owner,
                lease_until=lease_until,
                attempts=J.attempts + 1,
                updated_at=now,
            )
        )
        return bool(result.rowcount)

    def _held(self, job_id: str, owner: str, **values: object) -> None:
        result = self.session.execute(
            update(J)
            .where(J.id == job_id, J.lease_owner == owner, J.status == IN_PROGRESS)
            .values(**values)
        )
        if not result.rowcount:
            raise LeaseLost(job_id)

    def advance(
        self,
        job_id: str,
        owner: str,
        *,
        type_index: int,
        cursor: str | None,
        files: int,
        exported: int,
        now: float,
        lease_until: float,
        expires_at: float,
    ) -> None:
        """Record where the job stands and renew its lease and retention (in the file's own
        transaction: a file and the progress past it commit together)."""
        self._held(
            job_id,
            owner,
            type_index=type_index,
            cursor=cursor,
            files=files,
            exported=exported,
            lease_until=lease_until,
            expires_at=expires_at,
            updated_at=now,
        )

    def finish(self, job_id: str, owner: str, now: float, expires_at: float) -> None:
        self._held(
            job_id,
            owner,
            status=COMPLETED,
            lease_owner=None,
            lease_until=None,
            completed_at=now,
            updated_at=now,
            expires_at=expires_at,
        )

    def fail(self, job_id: str, owner: str | None, error: str, now: float) -> None:
        """Mark the job failed (by its lease holder, or by anyone when ``owner`` is None)."""
        stmt = update(J).where(J.id == job_id, J.status.in_(ACTIVE))
        if owner is not None:
            stmt = stmt.where(J.lease_owner == owner)
        self.session.execute(
            stmt.values(
                status=FAILED, error=error[:500], lease_owner=None, lease_until=None, updated_at=now
            )
        )

    # ---- files -------------------------------------------------------------------------------
    def add_file(self, row: ExportFileRow) -> None:
        self.session.add(row)
        self.session.flush()

    def listing(self, job_id: str) -> list[Listed]:
        """The job's files in order, without their content (a manifest lists them)."""
        rows = self.session.execute(
            select(F.id, F.rtype, F.count).where(F.job_id == job_id).order_by(F.seq)
        )
        return [Listed(*row) for row in rows]

    def file(self, file_id: str) -> ExportFileRow | None:
        return self.session.get(F, file_id)

    # ---- the Patient compartment -------------------------------------------------------------
    def patients_of(self, rtype: str, ids: Sequence[str]) -> dict[str, set[str]]:
        """The Patients each resource's ``patient`` search parameter names (its compartments)."""
        if rtype == "Patient":
            return {rid: {rid} for rid in ids}
        found: dict[str, set[str]] = {}
        if not ids:
            return found
        rows = self.session.execute(
            select(R.c.res_id, REF.c.target_id)
            .join(REF, REF.c.res_pk == R.c.pk)
            .where(
                R.c.rtype == rtype,
                R.c.res_id.in_(list(ids)),
                REF.c.rtype == rtype,
                REF.c.param == "patient",
                REF.c.target_type == "Patient",
                REF.c.target_id.is_not(None),
            )
        )
        for rid, patient in rows:
            found.setdefault(rid, set()).add(patient)
        return found

    def patients(self, ids: Sequence[str]) -> dict[str, str]:
        """The stored content of these live Patients, by id."""
        if not ids:
            return {}
        rows = self.session.execute(
            select(R.c.res_id, R.c.content).where(
                R.c.rtype == "Patient", R.c.res_id.in_(list(ids)), R.c.deleted.is_(False)
            )
        )
        return {rid: content for rid, content in rows if content}
