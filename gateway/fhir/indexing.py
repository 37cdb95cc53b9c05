"""Extract search index values from a resource at write time.

Each :class:`~gateway.fhir.search_params.SearchParam` names element paths; the values found there are
turned into rows for the token, string, date, reference, quantity and position tables according to
their FHIR datatype (R4 search §3.1.1.4: which datatypes each parameter type indexes).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gateway.fhir.dates import MAX_TS, MIN_TS, BadDate, date_range
from gateway.fhir.search_params import SearchParam, params_for
from gateway.sharing.profile import PARAM as PROFILE_PARAM
from gateway.sharing.profile import profile_code


@dataclass(slots=True)
class IndexRows:
    """All index values of one resource, grouped by table."""

    tokens: list[tuple[str, str | None, str]] = field(default_factory=list)
    strings: list[tuple[str, str, str]] = field(default_factory=list)
    dates: list[tuple[str, float, float]] = field(default_factory=list)
    references: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    quantities: list[tuple[str, float, str | None, str | None]] = field(default_factory=list)
    positions: list[tuple[float, float]] = field(default_factory=list)


def normalize(text: str) -> str:
    """Case- and accent-insensitive form used for default string matching."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _split_step(step: str) -> tuple[str, tuple[str, str] | None]:
    if step.endswith("]") and "[" in step and not step.endswith("[x]"):
        name, _, cond = step[:-1].partition("[")
        key, _, value = cond.partition("=")
        return name, (key, value)
    return step, None


def _children(node: Any, name: str) -> Iterator[Any]:
    if not isinstance(node, dict):
        return
    if name.endswith("[x]"):
        stem = name[:-3]
        for key, value in node.items():
            if key.startswith(stem) and len(key) > len(stem) and key[len(stem)].isupper():
                yield value
        return
    value = node.get(name)
    if value is not None:
        yield value


def walk(node: Any, path: str) -> Iterator[Any]:
    """Yield every value at a dotted path, walking lists transparently."""
    current = [node]
    for step in path.split("."):
        name, cond = _split_step(step)
        following: list[Any] = []
        for item in current:
            for child in _children(item, name):
                items = child if isinstance(child, list) else [child]
                for one in items:
                    if cond is None or (isinstance(one, dict) and one.get(cond[0]) == cond[1]):
                        following.append(one)
        current = following
    yield from current


def parse_reference(ref: str, base: str) -> tuple[str | None, str | None, str | None]:
    """Split a reference into (type, id, url); local references have no url."""
    if ref.startswith("#"):
        return None, None, None
    if base and ref.startswith(base.rstrip("/") + "/"):
        ref = ref[len(base.rstrip("/")) + 1 :]
    if "://" in ref or ref.startswith("urn:"):
        return None, None, ref
    parts = ref.split("/")
    if len(parts) >= 2 and parts[0][:1].isupper():
        return parts[0], parts[1], None
    return None, None, ref


def _tokens(value: Any, contact: bool) -> Iterator[tuple[str | None, str]]:
    if isinstance(value, bool):
        yield None, "true" if value else "false"
    elif isinstance(value, str):
        yield None, value
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value.get("coding") or []:
                if coding.get("code") is not None:
                    yield coding.get("system"), str(coding["code"])
        elif contact and "value" in value:
            yield None, str(value["value"])
        elif "code" in value:
            yield value.get("system"), str(value["code"])
        elif "value" in value:
            yield value.get("system"), str(value["value"])


_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        parts = _NAME_PARTS if ("family" in value or "given" in value) else _ADDRESS_PARTS
        for part in parts:
            got = value.get(part)
            for item in got if isinstance(got, list) else [got]:
                if isinstance(item, str):
                    yield item


def _dates(value: Any) -> Iterator[tuple[float, float]]:
    try:
        if isinstance(value, str):
            yield date_range(value)
        elif isinstance(value, dict):
            if "start" in value or "end" in value:
                low = date_range(value["start"])[0] if value.get("start") else MIN_TS
                high = date_range(value["end"])[1] if value.get("end") else MAX_TS
                yield low, high
            for event in value.get("event") or []:
                yield date_range(event)
            bounds = (value.get("repeat") or {}).get("boundsPeriod")
            if bounds:
                yield from _dates(bounds)
    except (BadDate, TypeError):
        return


def extract(resource: dict[str, Any], base: str = "") -> IndexRows:
    """Build the index rows for ``resource`` from its type's search parameters."""
    rows = IndexRows()
    # The access profile the sharing rules filter searches on (not a client-searchable parameter).
    rows.tokens.append((PROFILE_PARAM, None, profile_code(resource)))
    for param in params_for(resource["resourceType"]).values():
        for path in param.paths:
            for value in walk(resource, path):
                _add(rows, param, path, value, base)
    return rows


def _add(rows: IndexRows, param: SearchParam, path: str, value: Any, base: str) -> None:
    name = param.name
    if name == "near":
        if isinstance(value, dict) and "latitude" in value and "longitude" in value:
            rows.positions.append((float(value["latitude"]), float(value["longitude"])))
        return
    if param.type in ("token", "uri"):
        contact = "telecom" in path
        for system, code in _tokens(value, contact):
            rows.tokens.append((name, system, code))
    elif param.type == "string":
        for text in _strings(value):
            rows.strings.append((name, normalize(text), text))
    elif param.type == "date":
        for low, high in _dates(value):
            rows.dates.append((name, low, high))
    elif param.type == "reference":
        ref = value.get("reference") if isinstance(value, dict) else value
        if isinstance(ref, str):
            rtype, rid, url = parse_reference(ref, base)
            if rtype is None and url is None:
                return
            if param.targets and rtype is not None and rtype not in param.targets:
                return
            rows.references.append((name, rtype, rid, url))
    elif param.type in ("quantity", "number"):
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            rows.quantities.append((name, float(value), None, None))
        elif isinstance(value, dict) and isinstance(value.get("value"), int | float):
            unit = value.get("code") or value.get("unit")
            rows.quantities.append((name, float(value["value"]), value.get("system"), unit))
