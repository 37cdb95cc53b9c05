"""The bha CSV format: one row per item of a case record (RFC 4180, UTF-8, a header row). Every row
names its ``record_id`` and its ``row_type`` (``client``, ``enrolment``, ``sud_episode``,
``diagnosis``, ``cssrs``, ``consent``); the rows of one record are gathered into the same JSON record
the JSON format carries and validated by the same schema. See docs/adapters/bha.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.base import AdapterError, Location
from adapters.recordkit.payload import CsvRow, csv_bool

Json = dict[str, Any]


def _text(v: str) -> Any:
    return v


def _list(v: str) -> Any:
    return [p.strip() for p in v.split(";") if p.strip()]


def _words(v: str) -> Any:
    return v.split()


def _bool(v: str) -> Any:
    b = csv_bool(v)
    if b is None:
        raise ValueError("must be yes or no (true/false, y/n, 1/0)")
    return b


def _recipients(v: str) -> Any:
    return [{"agency": a} for a in _list(v)]


Column = tuple[tuple[str, ...], Callable[[str], Any]]
_STAFF: dict[str, Column] = {
    "case_manager_id": (("case_manager", "staff_id"), _text),
    "case_manager_family": (("case_manager", "name", "family"), _text),
    "case_manager_given": (("case_manager", "name", "given"), _words),
    "case_manager_phone": (("case_manager", "phone"), _text),
}
_EPISODE: dict[str, Column] = {
    "program_name": (("program_name",), _text),
    "status": (("status",), _text),
    "start": (("start",), _text),
    "end": (("end",), _text),
    **_STAFF,
}
# row type → (the record's list it adds to, or "" for the client; its columns)
ROW_TYPES: dict[str, tuple[str, dict[str, Column]]] = {
    "client": (
        "",
        {
            "client_id": (("client_id",), _text),
            "medicaid_id": (("medicaid_id",), _text),
            "medicaid_state": (("medicaid_state",), _text),
            "family": (("name", "family"), _text),
            "given": (("name", "given"), _words),
            "birth_date": (("birth_date",), _text),
            "sex": (("sex",), _text),
            "address_line": (("address", "line"), lambda v: [v]),
            "city": (("address", "city"), _text),
            "state": (("address", "state"), _text),
            "postal_code": (("address", "postal_code"), _text),
            "country": (("address", "country"), _text),
            "phone": (("phone",), _text),
        },
    ),
    "enrolment": (
        "enrolments",
        {
            "enrolment_id": (("enrolment_id",), _text),
            "program_code": (("program_code",), _text),
            **_EPISODE,
        },
    ),
    "sud_episode": (
        "substance_use_episodes",
        {
            "episode_id": (("episode_id",), _text),
            "part2_program": (("part2_program",), _bool),
            "level_of_care": (("level_of_care",), _text),
            **_EPISODE,
        },
    ),
    "diagnosis": (
        "diagnoses",
        {
            "diagnosis_id": (("diagnosis_id",), _text),
            "icd10cm": (("code",), _text),
            "display": (("display",), _text),
            "clinical_status": (("clinical_status",), _text),
            "onset": (("onset",), _text),
            "abatement": (("abatement",), _text),
            "recorded_on": (("recorded_on",), _text),
            "episode_id": (("episode_id",), _text),
        },
    ),
    "cssrs": (
        "cssrs_screenings",
        {
            "screening_id": (("screening_id",), _text),
            "assessed_at": (("assessed_at",), _text),
            "assessor_id": (("assessor", "staff_id"), _text),
            "assessor_family": (("assessor", "name", "family"), _text),
            "assessor_given": (("assessor", "name", "given"), _words),
            "episode_id": (("episode_id",), _text),
            "q1_wish_to_be_dead": (("answers", "wish_to_be_dead"), _bool),
            "q2_suicidal_thoughts": (("answers", "suicidal_thoughts"), _bool),
            "q3_thoughts_of_method": (("answers", "thoughts_of_method"), _bool),
            "q4_intent_to_act": (("answers", "intent_to_act"), _bool),
            "q5_plan_with_intent": (("answers", "plan_with_intent"), _bool),
            "q6_suicidal_behavior_ever": (("answers", "suicidal_behavior_ever"), _bool),
            "q6a_suicidal_behavior_past_3_months": (
                ("answers", "suicidal_behavior_past_3_months"),
                _bool,
            ),
        },
    ),
    "consent": (
        "consents",
        {
            "consent_id": (("consent_id",), _text),
            "status": (("status",), _text),
            "decision": (("decision",), _text),
            "signed_on": (("signed_on",), _text),
            "form": (("form",), _text),
            "scope": (("scope",), _list),
            "purposes": (("purposes",), _list),
            "recipients": (("recipients",), _recipients),
            "start": (("period", "start"), _text),
            "end": (("period", "end"), _text),
            "episode_id": (("episode_id",), _text),
        },
    ),
}
COMMON = ("record_id", "updated_at", "row_type")
KNOWN = frozenset(COMMON).union(*(cols for _, cols in ROW_TYPES.values()))
REQUIRED = ("record_id", "row_type")


@dataclass(frozen=True, slots=True)
class CsvRecord:
    """The rows of one case record, in payload order."""

    rows: tuple[CsvRow, ...]


@dataclass(slots=True)
class Origin:
    """Where each part of the JSON record came from: JSON path → (line, column or None)."""

    paths: dict[str, tuple[int, str | None]]

    def locate(self, exc: AdapterError, record: str) -> AdapterError:
        """Re-locate an error found in the JSON form onto the CSV line and column it came from."""
        field = exc.where.field or ""
        best = max(
            (p for p in self.paths if field == p or field.startswith((p + ".", p + "["))),
            key=len,
            default=None,
        )
        if best is None:
            return type(exc)(exc.message, Location(record=record, field=field or None))
        line, column = self.paths[best]
        return type(exc)(
            exc.message, Location(record=record, segment=f"line {line}", field=column or field)
        )


def _put(target: Json, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def gather(rows: tuple[CsvRow, ...], record: str) -> tuple[Json, Origin]:
    """Build the JSON record from its rows (one ``client`` row; any number of the others)."""
    rec: Json = {"record_id": rows[0].cells.get("record_id", "")}
    origin = Origin({})
    for row in rows:
        at = Location(record=record, segment=f"line {row.line}")
        kind = row.cells.get("row_type")
        if kind not in ROW_TYPES:
            raise AdapterError(
                f"row_type must be one of: {', '.join(ROW_TYPES)}",
                Location(record=record, segment=at.segment, field="row_type"),
            )
        group, columns = ROW_TYPES[kind]
        if "updated_at" in row.cells:
            if rec.setdefault("updated_at", row.cells["updated_at"]) != row.cells["updated_at"]:
                raise AdapterError(
                    "differs from another row of the same record",
                    Location(record=record, segment=at.segment, field="updated_at"),
                )
            origin.paths.setdefault("updated_at", (row.line, "updated_at"))
        item: Json = {}
        for column, text in row.cells.items():
            if column in COMMON:
                continue
            if column not in columns:
                raise AdapterError(
                    f"column does not apply to a {kind} row",
                    Location(record=record, segment=at.segment, field=column),
                )
            path, convert = columns[column]
            try:
                _put(item, path, convert(text))
            except ValueError as exc:
                where = Location(record=record, segment=at.segment, field=column)
                raise AdapterError(str(exc), where) from None
        if group:
            prefix = f"{group}[{len(rec.setdefault(group, []))}]"
            rec[group].append(item)
        else:
            if "client" in rec:
                raise AdapterError("a record has exactly one client row", at)
            prefix = "client"
            rec["client"] = item
        origin.paths[prefix] = (row.line, None)
        for column in row.cells:
            if column not in COMMON:
                json_key = ".".join(columns[column][0])
                origin.paths[f"{prefix}.{json_key}"] = (row.line, column)
    return rec, origin
