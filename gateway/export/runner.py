"""Working an export job: one output file per transaction, every resource passed through the job
caller's sharing guard exactly as a search by that caller would pass it.

The guard is rebuilt for every file from the caller kept on the job row (client, user, agency,
role, purposes; never the token) through the app's ``guard_factory``, the one every FHIR request
uses; there is no break-the-glass (a kick-off that asks for it is refused). Each file's resources
come from :class:`~gateway.fhir.search.SearchRunner` over one type, ``_sort=_id``, with the guard's
SQL filter, its ``prefetch`` and ``shown`` (projection, redaction, the Part 2 notice), walked with
keyset paging (:attr:`SearchRequest.after_id`) so that writes during the export cannot shift a page.
Patient- and Group-level exports then keep the resources in the Patient compartment of the
patients the caller may read (a Group's active members only).

A runner holds the job's lease and renews it with every file. A runner that dies leaves a lease
that runs out; the next status poll resumes the job from its last file (``type_index`` and
``cursor`` commit with the file), at most ``max_attempts`` runs in all, then the job fails.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request

from gateway.audit.fhir_trail import decided
from gateway.auth.schemas import Caller
from gateway.db.tables_export import ExportFileRow, ExportJobRow
from gateway.export.repository import ExportRepository, LeaseLost
from gateway.export.schemas import IN_PROGRESS, config_of
from gateway.fhir.guard import Guard
from gateway.fhir.search import Hit, SearchRunner
from gateway.fhir.search_parse import SearchRequest, parse

log = logging.getLogger("gateway.export")

MAX_LISTED = 500  # Group members named in the SQL itself; larger Groups are filtered after it
AUDITED_RESOURCES = 100  # resources a download's AuditEvent names (gateway.audit.events cap)
INTERRUPTED = "the export was interrupted too many times; start a new one"
FAILED = "the export failed; start a new one"


def job_caller(job: ExportJobRow) -> Caller:
    """The caller the job works for, as the kick-off's token named them."""
    return Caller(
        client_id=job.client_id,
        agency=job.agency,
        role=job.role,
        user=job.user_id,
        purposes=tuple(orjson.loads(job.purposes)),
    )


def job_request() -> Request:
    """What the guard factory reads of a request, for work done after the request: no headers,
    so no break-the-glass."""
    return Request({"type": "http", "method": "GET", "path": "/", "headers": []})


class _Walk:
    """The job's guard as one search page sees it: every call passes through, and the id of the
    last row the page decided is kept. Rows come in ``_id`` order, so the next page starts after
    it whether that row was shown or withheld."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self.last: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._guard, name)

    def shown(self, rtype: str, rid: str, content: str, action: str) -> str | None:
        self.last = rid
        return self._guard.shown(rtype, rid, content, action)


@dataclass
class _Compartment:
    """Whose Patient compartments a patient- or Group-level export covers: the patients the
    caller may read (decided through the guard, once per file), and of a Group its members."""

    repo: ExportRepository
    guard: Guard
    members: set[str] | None
    visible: dict[str, bool] = field(default_factory=dict)

    def keep(self, rtype: str, hits: list[Hit]) -> list[Hit]:
        if rtype == "Patient":  # the search itself decided these Patients
            self.visible.update({h.rid: True for h in hits})
            return [h for h in hits if self.members is None or h.rid in self.members]
        about = self.repo.patients_of(rtype, [h.rid for h in hits])
        allowed = self._allowed({p for ps in about.values() for p in ps})
        return [h for h in hits if about.get(h.rid, set()) & allowed]

    def _allowed(self, patients: set[str]) -> set[str]:
        if self.members is not None:
            patients &= self.members
        todo = sorted(p for p in patients if p not in self.visible)
        contents = self.repo.patients(todo)
        self.guard.prefetch(list(contents.values()))
        for p in todo:
            self.visible[p] = (
                p in contents and self.guard.shown("Patient", p, contents[p], "search") is not None
            )
        return {p for p in patients if self.visible[p]}


@dataclass
class _Chunk:
    lines: list[str]
    ids: list[str]
    cursor: str | None
    done: bool  # the type is exhausted


def _line(content: str) -> str:
    """One NDJSON line (stored JSON is compact; anything else is re-serialised)."""
    return (
        content
        if "\n" not in content and "\r" not in content
        else orjson.dumps(orjson.loads(content)).decode()
    )


class ExportRunner:
    """Works export jobs of one app (its database, settings, guard factory and export config)."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.config = config_of(state)
        self.fhir_base: str = state.settings.fhir_base
        self.page_size: int = state.settings.max_page_size

    def run(self, job_id: str) -> None:
        """Claim the job and write its files until it is done; return at once if another runner
        holds it. Safe to call from any replica, any number of times."""
        owner = uuid.uuid4().hex
        now = time.time()
        with self.state.db.unit_of_work() as session:
            repo = ExportRepository(session)
            if not repo.claim(job_id, owner, now, now + self.config.lease_seconds):
                return
            job = repo.job(job_id)
            if job is not None and job.attempts > self.config.max_attempts:
                repo.fail(job_id, owner, INTERRUPTED, now)
                return
        try:
            while self._step(job_id, owner):
                pass
        except LeaseLost:
            log.info("export %s: cancelled or taken over", job_id)
        except Exception as exc:  # the job fails; the log keeps the details, never patient data
            log.error("export %s failed: %s", job_id, type(exc).__name__, exc_info=exc)
            with self.state.db.unit_of_work() as session:
                ExportRepository(session).fail(job_id, owner, FAILED, time.time())

    def _step(self, job_id: str, owner: str) -> bool:
        """Write the job's next file (or finish it) in one transaction; False when done."""
        with self.state.db.unit_of_work() as session:
            repo = ExportRepository(session)
            job = repo.job(job_id)
            if job is None or job.lease_owner != owner or job.status != IN_PROGRESS:
                raise LeaseLost(job_id)
            types: list[str] = orjson.loads(job.types)
            now = time.time()
            if job.type_index >= len(types):
                repo.finish(job_id, owner, now, now + self.config.retention_seconds)
                return False
            rtype = types[job.type_index]
            guard = self.state.guard_factory(session, job_caller(job), job_request())
            members = None if job.members is None else set(orjson.loads(job.members))
            chunk = self._chunk(session, _Compartment(repo, guard, members), job, rtype)
            files = job.files + (1 if chunk.lines else 0)
            repo.advance(
                job_id,
                owner,
                type_index=job.type_index + (1 if chunk.done else 0),
                cursor=None if chunk.done else chunk.cursor,
                files=files,
                exported=job.exported + len(chunk.lines),
                now=now,
                lease_until=now + self.config.lease_seconds,
                expires_at=now + self.config.retention_seconds,
            )
            if chunk.lines:
                repo.add_file(
                    ExportFileRow(
                        id=str(uuid.uuid4()),
                        job_id=job_id,
                        seq=files,
                        rtype=rtype,
                        count=len(chunk.lines),
                        content="\n".join(chunk.lines) + "\n",
                        audit=orjson.dumps(self._audit(repo, guard, rtype, chunk.ids)).decode(),
                        created_at=now,
                    )
                )
            return True

    def _chunk(self, session: Any, scope: _Compartment, job: ExportJobRow, rtype: str) -> _Chunk:
        """Up to ``file_resources`` resources of ``rtype`` after the job's cursor, page by page.
        A file's transaction reads at most a few files' worth of rows: past that it commits what
        it has (a shorter file, or none) and the next transaction goes on from there."""
        lines: list[str] = []
        ids: list[str] = []
        cursor = job.cursor
        if scope.members is not None and not scope.members:
            return _Chunk(lines, ids, None, True)  # a Group with no active Patient members
        limit = self.config.file_resources
        budget = 5 * max(limit, self.page_size)
        scanned = 0
        while True:
            want = min(limit - len(lines), self.page_size)
            walk = _Walk(scope.guard)
            result = SearchRunner(session, self.fhir_base, walk).run(
                self._request(job, rtype, want, cursor, scope.members)
            )
            matched = [h for h in result.hits if h.mode == "match"]
            for hit in scope.keep(rtype, matched) if job.level != "system" else matched:
                lines.append(_line(hit.content))
                ids.append(hit.rid)
            scanned += want
            if not result.has_more or walk.last is None:
                return _Chunk(lines, ids, None, True)
            cursor = walk.last
            if len(lines) >= limit or scanned >= budget:
                return _Chunk(lines, ids, cursor, False)

    def _request(
        self,
        job: ExportJobRow,
        rtype: str,
        count: int,
        after: str | None,
        members: set[str] | None,
    ) -> SearchRequest:
        """The search for one page: the type's resources changed by the transaction time (and
        since ``_since``), in ``_id`` order after ``after``; for a patient- or Group-level export
        only those in a Patient compartment (of the Group's members, when few enough to name)."""
        items = [
            ("_sort", "_id"),
            ("_total", "none"),
            ("_count", str(count)),
            ("_lastUpdated", f"le{job.transaction_time}"),
        ]
        if job.since:
            items.append(("_lastUpdated", f"ge{job.since}"))
        listed = sorted(members) if members is not None and len(members) <= MAX_LISTED else None
        if job.level != "system" and rtype == "Patient" and listed:
            items.append(("_id", ",".join(listed)))
        elif job.level != "system" and rtype != "Patient":
            if listed:
                items.append(("patient", ",".join(f"Patient/{m}" for m in listed)))
            else:
                items.append(("patient:missing", "false"))
        req = parse(rtype, items, default_count=count, max_count=self.page_size, strict=True)
        req.after_id = after
        return req

    @staticmethod
    def _audit(
        repo: ExportRepository, guard: Guard, rtype: str, ids: list[str]
    ) -> dict[str, list[str]]:
        """What the file's download event names: the patients and resources in the file (what
        leaves), and the policies and consents of every decision made building it, those that
        withheld rows included (as a search's event names them)."""
        _, policies, consents = decided(getattr(guard, "decisions", None) or [])
        about = repo.patients_of(rtype, ids)
        return {
            "patients": sorted({f"Patient/{p}" for ps in about.values() for p in ps}),
            "resources": [f"{rtype}/{rid}" for rid in ids[:AUDITED_RESOURCES]],
            "policies": policies,
            "consents": consents,
        }
