"""Bulk export jobs as their owner sees them: start one, find it, cancel it, fetch its files.

A job belongs to the client (and person, if any) that started it: anyone else is told it does not
exist (404), whether it does or not. Services never commit; the endpoints' units of work do.
"""

from __future__ import annotations

import uuid

import orjson
from sqlalchemy.orm import Session

from gateway.auth.schemas import Caller
from gateway.db.tables_export import ExportFileRow, ExportJobRow
from gateway.export.kickoff import KickOff
from gateway.export.repository import ExportRepository, Listed
from gateway.export.schemas import ACCEPTED, COMPLETED, ExportConfig
from gateway.fhir.dates import instant_now
from gateway.fhir.errors import NotFound, TooManyRequests


class ExportService:
    def __init__(self, session: Session, config: ExportConfig) -> None:
        self.repo = ExportRepository(session)
        self.config = config

    def start(
        self,
        caller: Caller,
        kickoff: KickOff,
        *,
        request_url: str,
        members: list[str] | None,
        now: float,
    ) -> ExportJobRow:
        """A new job for ``caller``, its transaction time now (expired jobs are removed first)."""
        self.repo.purge_expired(now)
        if self.repo.active_count(caller.client_id, caller.user, now) >= self.config.max_active:
            raise TooManyRequests(
                f"{self.config.max_active} exports of this client are still running; wait for "
                "one to finish or cancel it (DELETE its status URL)",
                headers={"Retry-After": "60"},
            )
        return self.repo.add(
            ExportJobRow(
                id=str(uuid.uuid4()),
                level=kickoff.level,
                group_id=kickoff.group_id,
                members=None if members is None else orjson.dumps(members).decode(),
                types=orjson.dumps(list(kickoff.types)).decode(),
                since=kickoff.since,
                transaction_time=instant_now()[0],
                request_url=request_url,
                client_id=caller.client_id,
                user_id=caller.user,
                agency=caller.agency,
                role=caller.role,
                purposes=orjson.dumps(list(caller.purposes)).decode(),
                status=ACCEPTED,
                created_at=now,
                updated_at=now,
                expires_at=now + self.config.retention_seconds,
            )
        )

    def owned(self, caller: Caller, job_id: str, now: float) -> ExportJobRow:
        """The caller's own, unexpired job; 404 for anything else."""
        job = self.repo.job(job_id)
        if job is None or not _mine(job, caller, now):
            raise NotFound(f"no export job {job_id[:64]} is known to this client")
        return job

    def files(self, job: ExportJobRow) -> list[Listed]:
        return self.repo.listing(job.id) if job.status == COMPLETED else []

    def cancel(self, caller: Caller, job_id: str, now: float) -> None:
        """Stop the job (a runner at work notices at its next file) and delete it and its files."""
        self.repo.delete(self.owned(caller, job_id, now).id)

    def file(self, caller: Caller, file_id: str, now: float) -> tuple[ExportFileRow, ExportJobRow]:
        """One output file of one of the caller's completed jobs; 404 for anything else."""
        found = self.repo.file(file_id)
        job = self.repo.job(found.job_id) if found is not None else None
        if found is None or job is None or job.status != COMPLETED or not _mine(job, caller, now):
            raise NotFound(f"no export file {file_id[:64]} is known to this client")
        return found, job


def _mine(job: ExportJobRow, caller: Caller, now: float) -> bool:
    """The job is unexpired and was started by this client (and this person, if any)."""
    return (
        job.expires_at >= now and job.client_id == caller.client_id and job.user_id == caller.user
    )
