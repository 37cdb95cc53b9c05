"""The ``bha`` adapter: case records of a mental health / behavioral health authority (JSON, or CSV
with one row per item) to FHIR R4 transaction Bundles. Records of a 42 CFR Part 2 program carry the
Part 2 security labels. Format: docs/adapters/bha.md and docs/adapters/bha.schema.json."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from adapters.base import AdapterError, Conversion, Location, SourceInfo, SourceRecord, stable_id
from adapters.bha import client, clinical, csv_format
from adapters.bha.checks import check
from adapters.recordkit.fhirbits import PART2_LABELS, Json, agency_system, bundle, provenance
from adapters.recordkit.payload import load_json, media_type_of, read_csv
from adapters.recordkit.schema import load_validator, validate_record

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_RECORDS = 10_000


def _key(value: Any, index: int) -> str:
    return value if isinstance(value, str) and _KEY.match(value) else f"#{index}"


class BhaAdapter:
    """Behavioral health authority case records → Patient, EpisodeOfCare, CareTeam, Practitioner,
    Condition, QuestionnaireResponse, Observation, Consent and one Provenance per record."""

    name: ClassVar[str] = "bha"
    version: ClassVar[str] = "0.1.0"
    media_types: ClassVar[tuple[str, ...]] = ("application/json", "text/csv")

    def parse(self, payload: bytes, media_type: str) -> list[SourceRecord]:
        """Split a payload into case records: a JSON record or ``{"records": [...]}`` (RFC 8259),
        or CSV rows (RFC 4180) gathered by ``record_id`` in order of first appearance."""
        kind = media_type_of(media_type)
        if kind == "text/csv":
            rows = read_csv(payload, known=csv_format.KNOWN, required=csv_format.REQUIRED)
            groups: dict[str, list[Any]] = {}
            for row in rows:
                groups.setdefault(row.cells.get("record_id") or f"line {row.line}", []).append(row)
            return self._many([(k, csv_format.CsvRecord(tuple(rs))) for k, rs in groups.items()])
        if kind != "application/json":
            raise AdapterError(f"media type {kind!r} is not taken by {self.name}")
        data = load_json(payload)
        if isinstance(data, dict) and "records" in data and "record_id" not in data:
            if set(data) != {"records"}:
                raise AdapterError("a batch holds only 'records'", Location(field="$"))
            records = data["records"]
            if not isinstance(records, list) or not records:
                raise AdapterError("must be a non-empty list of records", Location(field="records"))
            return self._many(
                [(r.get("record_id") if isinstance(r, dict) else None, r) for r in records]
            )
        if not isinstance(data, dict):
            raise AdapterError('must be a record object or {"records": [...]}', Location(field="$"))
        return self._many([(data.get("record_id"), data)])

    @staticmethod
    def _many(items: list[tuple[Any, Any]]) -> list[SourceRecord]:
        if len(items) > MAX_RECORDS:
            raise AdapterError(f"a batch holds at most {MAX_RECORDS} records")
        return [SourceRecord(_key(key, i), i, data) for i, (key, data) in enumerate(items)]

    def to_fhir(self, record: SourceRecord, source: SourceInfo) -> Conversion:
        """Convert one case record (all or nothing) after schema and consistency checks."""
        data = record.data
        if isinstance(data, csv_format.CsvRecord):
            data, origin = csv_format.gather(data.rows, record.key)
            try:
                self._validate(data, record.key)
            except AdapterError as exc:
                raise origin.locate(exc, record.key) from None
        else:
            self._validate(data, record.key)
        return self._convert(data, record.key, source)

    @staticmethod
    def _validate(data: Any, key: str) -> None:
        validate_record(load_validator("adapters.bha"), data, key)
        check(data, key)

    def _convert(self, rec: Json, key: str, source: SourceInfo) -> Conversion:
        case = client.Case(source, rec)

        def labels(episode_id: str | None, *, also: bool = False) -> tuple[Json, ...]:
            return PART2_LABELS if also or episode_id in case.part2 else ()

        episodes: list[Json] = []
        for item in rec.get("enrolments", []):
            episodes += client.episode(case, item, sud=False, labels=())
        for item in rec.get("substance_use_episodes", []):
            episodes += client.episode(case, item, sud=True, labels=labels(item["episode_id"]))
        conditions: dict[str, list[Json]] = {}
        clinical_resources: list[Json] = []
        for item in rec.get("diagnoses", []):
            cond = clinical.condition(case, item, labels(item.get("episode_id")))
            conditions.setdefault(item.get("episode_id", ""), []).append(cond)
            clinical_resources.append(cond)
        client.link_diagnoses(episodes, conditions)
        for item in rec.get("cssrs_screenings", []):
            clinical_resources += clinical.cssrs(case, item, labels(item.get("episode_id")))
        for item in rec.get("consents", []):
            part2 = clinical.covers_part2(item, case)
            clinical_resources.append(clinical.consent(case, item, labels(None, also=part2)))
        resources = [case.patient, *case.staff.values(), *episodes, *clinical_resources]
        any_part2 = any(r["meta"].get("security") for r in resources)
        prov = provenance(
            source,
            adapter=self.name,
            version=self.version,
            record_key=rec["record_id"],
            record_system=agency_system(source, "case-record"),
            recorded=rec["updated_at"],
            targets=resources,
            rid=stable_id(source.agency, "provenance", self.name, rec["record_id"]),
            security=PART2_LABELS if any_part2 else (),
        )
        return Conversion(record_key=key, bundle=bundle(resources, prov))
