"""The police-rms CSV batch format: one row per call, the first subject's details flattened into
``subject_*`` columns and up to two officers into ``officer1_*`` / ``officer2_*`` (RFC 4180, UTF-8, a
header row). Each row becomes the same JSON record the JSON format carries, and is then validated by
the same schema, so the two formats cannot drift apart. See docs/adapters/police-rms.md."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from adapters.base import AdapterError, Location
from adapters.recordkit.payload import CsvRow, csv_bool, csv_number

Json = dict[str, Any]
Path = tuple[str | int, ...]


def _text(v: str) -> Any:
    return v


def _list(v: str) -> Any:
    return [p.strip() for p in v.split(";") if p.strip()]


def _words(v: str) -> Any:
    return v.split()


def _line(v: str) -> Any:
    return [v]


def _objects(key: str) -> Callable[[str], Any]:
    return lambda v: [{key: p} for p in _list(v)]


def _number(v: str) -> Any:
    n = csv_number(v)
    if n is None:
        raise ValueError("must be a decimal number")
    return n


def _bool(v: str) -> Any:
    b = csv_bool(v)
    if b is None:
        raise ValueError("must be yes or no (true/false, y/n, 1/0)")
    return b


S: Path = ("persons", 0)
COLUMNS: dict[str, tuple[Path, Callable[[str], Any]]] = {
    "incident_number": (("incident_number",), _text),
    "updated_at": (("updated_at",), _text),
    "reported_at": (("reported_at",), _text),
    "dispatched_at": (("dispatched_at",), _text),
    "on_scene_at": (("on_scene_at",), _text),
    "cleared_at": (("cleared_at",), _text),
    "call_type": (("call_type",), _text),
    "nature": (("nature",), _text),
    "location_address_line": (("location", "address", "line"), _line),
    "location_city": (("location", "address", "city"), _text),
    "location_state": (("location", "address", "state"), _text),
    "location_postal_code": (("location", "address", "postal_code"), _text),
    "location_country": (("location", "address", "country"), _text),
    "location_latitude": (("location", "latitude"), _number),
    "location_longitude": (("location", "longitude"), _number),
    "location_description": (("location", "description"), _text),
    "disposition": (("disposition",), _list),
    "subject_person_id": ((*S, "person_id"), _text),
    "subject_family": ((*S, "name", "family"), _text),
    "subject_given": ((*S, "name", "given"), _words),
    "subject_birth_date": ((*S, "birth_date"), _text),
    "subject_sex": ((*S, "sex"), _text),
    "subject_address_line": ((*S, "address", "line"), _line),
    "subject_city": ((*S, "address", "city"), _text),
    "subject_state": ((*S, "address", "state"), _text),
    "subject_postal_code": ((*S, "address", "postal_code"), _text),
    "subject_country": ((*S, "address", "country"), _text),
    "subject_phone": ((*S, "phone"), _text),
    "subject_driver_licence": (("_dl", "value"), _text),
    "subject_driver_licence_issuer": (("_dl", "issuer"), _text),
    "subject_state_id": (("_sid", "value"), _text),
    "subject_state_id_issuer": (("_sid", "issuer"), _text),
    "clinician_id": (("clinician", "id"), _text),
    "clinician_family": (("clinician", "name", "family"), _text),
    "clinician_given": (("clinician", "name", "given"), _words),
    "clinician_discipline": (("clinician", "discipline"), _text),
    "weapons": (("weapons",), _objects("type")),
    "use_of_force": (("use_of_force",), _objects("type")),
    "subject_injury": (("_injury", "subject"), _text),
    "officer_injury": (("_injury", "officer"), _text),
    "officer_safety_caution": (("officer_safety_caution",), _bool),
    "narrative": (("narrative",), _text),
    "transport_destination_name": (("transport", "destination", "name"), _text),
    "transport_destination_type": (("transport", "destination", "type"), _text),
    "transport_by": (("transport", "by"), _text),
    "transport_departed_at": (("transport", "departed_at"), _text),
    "transport_arrived_at": (("transport", "arrived_at"), _text),
    "transport_distance_km": (("transport", "distance_km"), _number),
    "follow_up_requested": (("follow_up", "requested"), _bool),
    "follow_up_team": (("follow_up", "team"), _text),
    "follow_up_reason": (("follow_up", "reason"), _text),
    "follow_up_priority": (("follow_up", "priority"), _text),
}
for _n in (1, 2):
    COLUMNS |= {
        f"officer{_n}_badge": (("officers", _n - 1, "badge"), _text),
        f"officer{_n}_family": (("officers", _n - 1, "name", "family"), _text),
        f"officer{_n}_given": (("officers", _n - 1, "name", "given"), _words),
        f"officer{_n}_cit_trained": (("officers", _n - 1, "cit_trained"), _bool),
    }

KNOWN = frozenset(COLUMNS)
REQUIRED = ("incident_number",)


def _put(target: Json, path: Path, value: Any) -> None:
    node: Any = target
    for key, nxt in itertools.pairwise(path):
        if isinstance(key, int):
            while len(node) <= key:
                node.append({})
            node = node[key]
        else:
            node = node.setdefault(key, [] if isinstance(nxt, int) else {})
    last = path[-1]
    node[last] = value


def _path_text(path: Path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def row_to_record(row: CsvRow, record: str) -> tuple[Json, dict[str, str]]:
    """The JSON record for one CSV row, and a map from JSON paths to the columns they came from."""
    data: Json = {"persons": [{"role": "subject"}]}
    origin: dict[str, str] = {}
    for column, text in row.cells.items():
        path, convert = COLUMNS[column]
        try:
            value = convert(text)
        except ValueError as exc:
            where = Location(record=record, segment=f"line {row.line}", field=column)
            raise AdapterError(str(exc), where) from None
        _put(data, path, value)
        origin[_path_text(path)] = column
    subject = data["persons"][0]
    idents = []
    for key, kind, column in (
        ("_dl", "driver_licence", "subject_driver_licence"),
        ("_sid", "state_id", "subject_state_id"),
    ):
        if key in data:
            idents.append({"type": kind, **data.pop(key)})
            origin[f"persons[0].identifiers[{len(idents) - 1}]"] = column
    if idents:
        subject["identifiers"] = idents
    injuries = data.pop("_injury", {})
    if injuries:
        data["injuries"] = [{"to": to, "severity": sev} for to, sev in injuries.items()]
        for i, to in enumerate(injuries):
            origin[f"injuries[{i}]"] = f"{to}_injury"
    return data, origin


def locate(exc: AdapterError, origin: dict[str, str], record: str, line: int) -> AdapterError:
    """Re-locate a schema error found in the JSON form of a row onto the CSV column it came from."""
    field = exc.where.field or ""
    best = max(
        (p for p in origin if field == p or field.startswith((p + ".", p + "["))),
        key=len,
        default=None,
    )
    where = origin[best] if best else (f"{field} (no column)" if field else None)
    return type(exc)(exc.message, Location(record=record, segment=f"line {line}", field=where))
