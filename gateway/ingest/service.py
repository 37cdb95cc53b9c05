"""The ingest pipeline: adapter → labelling → one transaction per source record → result.

One record is all-or-nothing (its transaction Bundle commits whole or not at all); in a batch every
good record is kept and every bad one is reported with where it went wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError, OperationalError

from adapters.base import Adapter, AdapterError, SourceInfo, SourceRecord
from gateway.audit.codes import OUTCOME_MINOR
from gateway.audit.events import AuditContext
from gateway.audit.log import AuditLog
from gateway.db.session import Database
from gateway.fhir.bundles import BundleProcessor
from gateway.fhir.errors import FhirError, InvalidRequest, Issue, NotFound, UnsupportedMediaType
from gateway.fhir.service import ResourceService
from gateway.ingest.own_records import OwnRecordsOnly
from gateway.mpi.matching import Thresholds
from gateway.mpi.service import MpiService

log = logging.getLogger("gateway.ingest")
Authorize = Callable[[str, str], None]
_REFUSED = OUTCOME_MINOR  # a record refused for its content: the sender's error, not the gateway's
WRITE_ATTEMPTS = 3


@dataclass(slots=True)
class RecordResult:
    """What happened to one source record."""

    key: str
    index: int
    outcome: str  # "stored" (something new), "updated", "unchanged" or "refused"
    response: dict[str, Any] | None = None
    issues: list[Issue] = field(default_factory=list)
    status: int = 200
    unmapped: list[str] = field(default_factory=list)


@dataclass(slots=True)
class IngestResult:
    records: list[RecordResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.records if r.outcome == outcome)

    @property
    def refused(self) -> int:
        return self.count("refused")


def adapter_issue(exc: AdapterError) -> Issue:
    where = exc.where
    spot = where.field or where.segment
    expression = (spot,) if spot else ()
    return Issue(
        f"{where.describe()}: {exc.message}",
        code="not-supported" if exc.code == "not-supported" else "invalid",
        expression=expression,
    )


def _outcome(svc: ResourceService) -> str:
    if not svc.written:
        return "unchanged"
    return "stored" if any(s.created for s in svc.written) else "updated"


_RETRY_STATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _RETRY_STATES


@dataclass(frozen=True, slots=True)
class _Audited:
    source: str
    ctx: AuditContext


def _patients(bundle: dict[str, Any]) -> list[str]:
    """``Patient/id`` of every Patient the record's Bundle writes (an adapter's stable ids)."""
    return sorted(f"{rtype}/{rid}" for rtype, rid in _put_targets(bundle) if rtype == "Patient")


def _put_targets(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, id) of every ``PUT Type/id`` entry: an adapter's resources have stable ids, so one
    query per type reads (and locks) them all before the Bundle is written."""
    out = []
    for entry in bundle.get("entry") or []:
        request = entry.get("request") or {} if isinstance(entry, dict) else {}
        url = request.get("url")
        if request.get("method") == "PUT" and isinstance(url, str) and "?" not in url:
            parts = url.split("/")
            if len(parts) == 2 and all(parts):
                out.append((parts[0], parts[1]))
    return out


class IngestService:
    def __init__(
        self,
        db: Database,
        base_url: str,
        adapters: dict[str, Adapter],
        *,
        labeller: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        link_patients: bool = True,
        thresholds: Thresholds | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.audit = audit
        self.link_patients = link_patients
        self.thresholds = thresholds
        self.db = db
        self.base_url = base_url
        self.adapters = adapters
        self.labeller = labeller

    def adapter(self, name: str) -> Adapter:
        adapter = self.adapters.get(name)
        if adapter is None:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise NotFound(f"no adapter named {name!r} is installed (installed: {known})")
        return adapter

    def parse(self, name: str, payload: bytes, media_type: str) -> list[SourceRecord]:
        adapter = self.adapter(name)
        if media_type not in adapter.media_types:
            raise UnsupportedMediaType(
                f"the {name} adapter takes {', '.join(adapter.media_types)}",
                expression="Content-Type",
            )
        try:
            return adapter.parse(payload, media_type)
        except AdapterError as exc:
            raise InvalidRequest(exc.message, issues=[adapter_issue(exc)]) from None

    def store_record(
        self,
        name: str,
        record: SourceRecord,
        source: SourceInfo,
        authorize: Authorize,
        audit_ctx: AuditContext | None = None,
    ) -> RecordResult:
        """Convert and store one record in its own transaction, with its AuditEvent (DCM 110107
        Import) when the service has an audit log and the caller says who sent it."""
        result = self._store_record(name, record, source, authorize, audit_ctx)
        if result.outcome == "refused" and self.audit is not None and audit_ctx is not None:
            self._audit_refusal(name, result, audit_ctx)
        return result

    def _store_record(
        self,
        name: str,
        record: SourceRecord,
        source: SourceInfo,
        authorize: Authorize,
        audit_ctx: AuditContext | None,
    ) -> RecordResult:
        adapter = self.adapter(name)
        try:
            conversion = adapter.to_fhir(record, source)
        except AdapterError as exc:
            return RecordResult(
                record.key, record.index, "refused", issues=[adapter_issue(exc)], status=400
            )
        audit = _Audited(f"{name} record {record.key}", audit_ctx) if audit_ctx else None
        for attempt in range(WRITE_ATTEMPTS):
            try:
                response, outcome = self._store(conversion.bundle, source, authorize, audit)
                break
            except (IntegrityError, OperationalError) as exc:
                # Another record created one of the same shared resources (an officer, a location)
                # at the same moment (the retry finds it and updates instead of inserting), or the
                # database broke a lock cycle with a concurrent FHIR transaction.
                if not _retryable(exc):
                    raise
                if attempt == WRITE_ATTEMPTS - 1:
                    issue = Issue(
                        f"record {record.key}: kept colliding with concurrent writes; send it again",
                        code="transient",
                    )
                    return RecordResult(
                        record.key, record.index, "refused", issues=[issue], status=409
                    )
            except FhirError as exc:
                located = [
                    Issue(
                        f"record {record.key}: {i.diagnostics}",
                        code=i.code,
                        expression=i.expression,
                    )
                    for i in exc.issues
                ]
                return RecordResult(
                    record.key, record.index, "refused", issues=located, status=exc.status
                )
        return RecordResult(
            record.key, record.index, outcome, response=response, unmapped=conversion.unmapped
        )

    def _store(
        self,
        bundle: dict[str, Any],
        source: SourceInfo,
        authorize: Authorize,
        audit: _Audited | None = None,
    ) -> tuple[dict[str, Any], str]:
        with self.db.unit_of_work() as session:
            # The record's conditional matches see the sender's own records only (own_records.py).
            guard = OwnRecordsOnly(source.source_uri)
            svc = ResourceService(session, self.base_url, labeller=self.labeller, guard=guard)
            svc.repo.prefetch(_put_targets(bundle))
            response = BundleProcessor(svc, authorize=authorize).process(bundle)
            outcome = _outcome(svc)
            if self.link_patients:
                mpi = MpiService(svc, self.thresholds)
                for stored in [s for s in svc.written if s.rtype == "Patient" and s.content]:
                    mpi.on_patient_written(orjson.loads(stored.content or "{}"))
            if audit is not None and self.audit is not None:
                # In the record's own transaction: the data and its audit commit together.
                event = self.audit.events.ingest(
                    audit.ctx,
                    audit.source,
                    resources=[f"{s.rtype}/{s.rid}/_history/{s.version}" for s in svc.written],
                    patients=_patients(bundle),
                    outcome_desc=outcome,
                )
                self.audit.append(session, event)
        return response, outcome

    def _audit_refusal(self, name: str, result: RecordResult, ctx: AuditContext) -> None:
        """A refused record is audited in a unit of work of its own (its data rolled back).
        The description names the reason's kind and place only, never the values at fault."""
        issue = result.issues[0] if result.issues else None
        where = f" at {issue.expression[0]}" if issue and issue.expression else ""
        assert self.audit is not None
        event = self.audit.events.ingest(
            ctx,
            f"{name} record {result.key}",
            outcome=_REFUSED,
            outcome_desc=f"refused ({issue.code if issue else 'invalid'}){where}",
        )
        try:
            self.audit.record(self.db, event)
        except Exception as exc:  # the refusal stands either way; the failure is logged
            log.error("audit of a refused record failed: %s", type(exc).__name__)

    def ingest(
        self, name: str, payload: bytes, media_type: str, source: SourceInfo, authorize: Authorize
    ) -> IngestResult:
        result = IngestResult()
        for record in self.parse(name, payload, media_type):
            result.records.append(self.store_record(name, record, source, authorize))
        return result
