"""The ``police-rms`` adapter: crisis calls from a police records management system (JSON, or CSV for
batch exports) to FHIR R4 transaction Bundles. Format: docs/adapters/police-rms.md and
docs/adapters/police-rms.schema.json."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from adapters.base import AdapterError, Conversion, Location, SourceInfo, SourceRecord, stable_id
from adapters.police_rms import csv_format, findings, incident, people
from adapters.police_rms.checks import check
from adapters.recordkit.fhirbits import agency_system, bundle, period, provenance
from adapters.recordkit.payload import CsvRow, load_json, media_type_of, read_csv
from adapters.recordkit.schema import load_validator, validate_record

Json = dict[str, Any]
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_RECORDS = 10_000


def _key(data: Any, index: int) -> str:
    number = data.get("incident_number") if isinstance(data, dict) else None
    return number if isinstance(number, str) and _KEY.match(number) else f"#{index}"


class PoliceRmsAdapter:
    """Police RMS crisis call records → Patient, Encounter, Observation, Flag, ServiceRequest,
    Location, Practitioner, RelatedPerson, DocumentReference and one Provenance per call."""

    name: ClassVar[str] = "police-rms"
    version: ClassVar[str] = "0.1.0"
    media_types: ClassVar[tuple[str, ...]] = ("application/json", "text/csv")

    def parse(self, payload: bytes, media_type: str) -> list[SourceRecord]:
        """Split a payload into calls: a JSON record or ``{"records": [...]}`` (RFC 8259), or a CSV
        with one call per row (RFC 4180)."""
        kind = media_type_of(media_type)
        if kind == "text/csv":
            rows = read_csv(payload, known=csv_format.KNOWN, required=csv_format.REQUIRED)
            return self._many([(r.cells.get("incident_number"), r) for r in rows])
        if kind != "application/json":
            raise AdapterError(f"media type {kind!r} is not taken by {self.name}")
        data = load_json(payload)
        if isinstance(data, dict) and "records" in data and "incident_number" not in data:
            if set(data) != {"records"}:
                raise AdapterError("a batch holds only 'records'", Location(field="$"))
            records = data["records"]
            if not isinstance(records, list) or not records:
                raise AdapterError("must be a non-empty list of records", Location(field="records"))
            return self._many([(_key(r, i), r) for i, r in enumerate(records)])
        if not isinstance(data, dict):
            raise AdapterError('must be a record object or {"records": [...]}', Location(field="$"))
        return [SourceRecord(_key(data, 0), 0, data)]

    def _many(self, items: list[tuple[Any, Any]]) -> list[SourceRecord]:
        if len(items) > MAX_RECORDS:
            raise AdapterError(f"a batch holds at most {MAX_RECORDS} records")
        out = []
        for i, (key, data) in enumerate(items):
            good = isinstance(key, str) and _KEY.match(key)
            out.append(SourceRecord(key if good else f"#{i}", i, data))
        return out

    def to_fhir(self, record: SourceRecord, source: SourceInfo) -> Conversion:
        """Convert one call (all or nothing) after schema and consistency checks."""
        data = record.data
        if isinstance(data, CsvRow):
            data, origin = csv_format.row_to_record(data, record.key)
            try:
                self._validate(data, record.key)
            except AdapterError as exc:
                raise csv_format.locate(exc, origin, record.key, record.data.line) from None
        else:
            self._validate(data, record.key)
        return self._convert(data, record.key, source)

    @staticmethod
    def _validate(data: Any, key: str) -> None:
        validate_record(load_validator("adapters.police_rms"), data, key)
        check(data, key)

    def _convert(self, rec: Json, key: str, source: SourceInfo) -> Conversion:
        number = rec["incident_number"]
        unmapped: list[str] = []
        officers = [people.officer(source, o) for o in rec["officers"]]
        primary_at = next((i for i, o in enumerate(rec["officers"]) if o.get("primary")), 0)
        clinician = people.clinician(source, rec["clinician"]) if "clinician" in rec else None
        if clinician and rec["clinician"].get("organization"):
            unmapped.append("clinician.organization (no PractitionerRole is made)")
        scene = people.scene(source, number, rec["location"])
        dest = (
            people.destination(source, rec["transport"]["destination"])
            if "transport" in rec
            else None
        )
        index = next(i for i, p in enumerate(rec["persons"]) if p["role"] == "subject")
        subject = people.patient(source, number, index, rec["persons"][index])
        related = []
        for i, person in enumerate(rec["persons"]):
            if i == index:
                continue
            if person.get("relationship_to_subject"):
                related.append(people.related_person(source, number, i, person, subject))
            else:
                unmapped.append(f"persons[{i}] ({person['role']}, not related to the subject)")
        call = incident.Call(source, rec, subject, officers[primary_at])
        resources: list[Json] = [*officers, *([clinician] if clinician else [])]
        resources += [scene, *([dest] if dest else []), subject, *related]
        resources.append(incident.encounter(call, officers, clinician, scene, dest))
        resources += incident.observations(call)
        for extra in (
            findings.officer_safety_flag(call),
            findings.crisis_team_referral(call),
            findings.narrative(call),
        ):
            if extra is not None:
                resources.append(extra)
        prov = provenance(
            source,
            adapter=self.name,
            version=self.version,
            record_key=number,
            record_system=agency_system(source, "incident"),
            recorded=rec.get("updated_at") or rec.get("cleared_at") or rec["reported_at"],
            targets=resources,
            rid=stable_id(source.agency, "provenance", self.name, number),
            occurred=period(rec["reported_at"], rec.get("cleared_at")),
        )
        return Conversion(record_key=key, bundle=bundle(resources, prov), unmapped=unmapped)
