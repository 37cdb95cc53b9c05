"""The ingest pipeline: adapter → labelling → one transaction per source record → result.

One record is all-or-nothing (its transaction Bundle commits whole or not at all); in a batch every
good record is kept and every bad one is reported with where it went wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError

from adapters.base import Adapter, AdapterError, SourceInfo, SourceRecord
from gateway.db.session import Database
from gateway.fhir.bundles import BundleProcessor
from gateway.fhir.errors import FhirError, InvalidRequest, Issue, NotFound, UnsupportedMediaType
from gateway.fhir.service import ResourceService
from gateway.mpi.matching import Thresholds
from gateway.mpi.service import MpiService

Authorize = Callable[[str, str], None]
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
    ) -> None:
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
        self, name: str, record: SourceRecord, source: SourceInfo, authorize: Authorize
    ) -> RecordResult:
        """Convert and store one record in its own transaction."""
        adapter = self.adapter(name)
        try:
            conversion = adapter.to_fhir(record, source)
        except AdapterError as exc:
            return RecordResult(
                record.key, record.index, "refused", issues=[adapter_issue(exc)], status=400
            )
        for attempt in range(WRITE_ATTEMPTS):
            try:
                response, outcome = self._store(conversion.bundle, authorize)
                break
            except IntegrityError:
                # Another record created one of the same shared resources (an officer, a location)
                # at the same moment; the retry finds it and updates instead of inserting.
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

    def _store(self, bundle: dict[str, Any], authorize: Authorize) -> tuple[dict[str, Any], str]:
        with self.db.unit_of_work() as session:
            svc = ResourceService(session, self.base_url, labeller=self.labeller)
            response = BundleProcessor(svc, authorize=authorize).process(bundle)
            outcome = _outcome(svc)
            if self.link_patients:
                mpi = MpiService(svc, self.thresholds)
                for stored in [s for s in svc.written if s.rtype == "Patient" and s.content]:
                    mpi.on_patient_written(orjson.loads(stored.content or "{}"))
        return response, outcome

    def ingest(
        self, name: str, payload: bytes, media_type: str, source: SourceInfo, authorize: Authorize
    ) -> IngestResult:
        result = IngestResult()
        for record in self.parse(name, payload, media_type):
            result.records.append(self.store_record(name, record, source, authorize))
        return result
