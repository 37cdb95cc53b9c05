"""The kick-off request (Bulk Data Access IG 2.0.0, "Bulk Data Kick-off Request"): its headers, its
parameters (query string, or a ``Parameters`` body on POST) and the resource types it exports.

Supported: ``_type``, ``_since`` and ``_outputFormat``. The IG's other parameters (``_elements``,
``patient``, ``includeAssociatedData``, ``_typeFilter``) and anything else are refused with 400,
unless the client sent ``Prefer: handling=lenient``: then they are ignored and named in the kick-off
response's OperationOutcome, as the IG allows.

Token scopes are a ceiling (SMART v2): exporting a type needs both read and search on it
(``system/Condition.rs``, ``user/*.rs``…). A type named in ``_type`` the scopes do not cover is a
403; without ``_type`` the export covers every type (of the level) the scopes do cover.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from gateway.auth.schemas import Caller
from gateway.export.schemas import OUTPUT_FORMATS
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import Forbidden, InvalidRequest, Issue
from gateway.fhir.model import SUPPORTED_TYPES, is_supported
from gateway.fhir.search_params import params_for

SUPPORTED = frozenset({"_type", "_since", "_outputFormat"})
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_FHIR_JSON = ("application/fhir+json", "application/json")


@dataclass(frozen=True, slots=True)
class KickOff:
    """A checked kick-off: what to export, for whom is the caller's business."""

    level: str  # system | patient | group
    types: tuple[str, ...]
    since: str | None
    group_id: str | None = None
    warnings: tuple[Issue, ...] = ()


@cache
def compartment_types() -> tuple[str, ...]:
    """Patient and the types in the Patient compartment: those with a ``patient`` reference
    search parameter that points at a Patient (FHIR R4 compartmentdefinition-patient)."""
    return tuple(
        t
        for t in SUPPORTED_TYPES
        if t == "Patient"
        or (
            (p := params_for(t).get("patient")) and p.type == "reference" and "Patient" in p.targets
        )
    )


def _media_types(value: str) -> set[str]:
    return {part.split(";")[0].strip().lower() for part in value.split(",") if part.strip()}


def _preferences(value: str) -> set[str]:
    return {part.strip().lower().replace(" ", "") for part in value.split(",") if part.strip()}


def check_headers(headers: Mapping[str, str]) -> bool:
    """Refuse a kick-off without ``Accept: application/fhir+json`` or ``Prefer: respond-async``
    (the IG requires both); return whether the client asked for lenient handling."""
    if "application/fhir+json" not in _media_types(headers.get("accept", "")):
        raise InvalidRequest(
            "a bulk data kick-off needs the header Accept: application/fhir+json",
            expression="Accept",
            code="required",
        )
    prefer = _preferences(headers.get("prefer", ""))
    if "respond-async" not in prefer:
        raise InvalidRequest(
            "a bulk data kick-off runs asynchronously: send the header Prefer: respond-async",
            expression="Prefer",
            code="required",
        )
    return "handling=lenient" in prefer


def body_parameters(content_type: str, raw: bytes) -> list[tuple[str, str]]:
    """The parameters of a POST kick-off: a FHIR ``Parameters`` resource, each value as text."""
    ctype = content_type.split(";")[0].strip().lower()
    if not raw.strip():
        return []
    if ctype not in _FHIR_JSON:
        raise InvalidRequest(
            "send the kick-off parameters as a Parameters resource (application/fhir+json)",
            expression="Content-Type",
            code="not-supported",
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "the body is not valid JSON", expression="$", code="structure"
        ) from None
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InvalidRequest("the body must be a Parameters resource", expression="$")
    items: list[tuple[str, str]] = []
    for i, param in enumerate(body.get("parameter") or []):
        name = param.get("name") if isinstance(param, dict) else None
        if not isinstance(name, str):
            raise InvalidRequest("every parameter needs a name", expression=f"parameter[{i}]")
        values = [v for k, v in param.items() if k.startswith("value")]
        value = values[0] if values else ""
        items.append((name, value if isinstance(value, str) else orjson.dumps(value).decode()))
    return items


def _since(values: list[str]) -> str | None:
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest("_since may be given once", expression="_since")
    # A '+' left unencoded in a query string arrives as a space.
    value = values[0].strip().replace(" ", "+")
    try:
        if not _INSTANT.match(value):
            raise BadDate(value)
        date_range(value)
    except BadDate:
        raise InvalidRequest(
            "_since must be a FHIR instant with a time zone, e.g. 2026-01-01T00:00:00Z",
            expression="_since",
        ) from None
    return value


def _output_format(values: list[str]) -> None:
    if len(values) > 1:
        raise InvalidRequest("_outputFormat may be given once", expression="_outputFormat")
    if values and values[0].strip().lower() not in OUTPUT_FORMATS:
        raise InvalidRequest(
            "_outputFormat must be application/fhir+ndjson (or application/ndjson, ndjson)",
            expression="_outputFormat",
            code="not-supported",
        )


def _types(values: list[str], level: str, caller: Caller) -> tuple[str, ...]:
    allowed = compartment_types() if level != "system" else SUPPORTED_TYPES
    named = list(dict.fromkeys(t.strip() for v in values for t in v.split(",") if t.strip()))
    for rtype in named:
        if not is_supported(rtype):
            raise InvalidRequest(
                f"_type: {rtype[:64]!r} is not a resource type this server exports",
                expression="_type",
                code="not-supported",
            )
        if rtype not in allowed:
            raise InvalidRequest(
                f"_type: {rtype} is not in the Patient compartment; export it with /fhir/$export",
                expression="_type",
            )
        if not (caller.may("r", rtype) and caller.may("s", rtype)):
            raise Forbidden(f"the token's scopes do not allow read and search on {rtype}")
    if named:
        return tuple(named)
    covered = tuple(t for t in allowed if caller.may("r", t) and caller.may("s", t))
    if not covered:
        raise Forbidden("the token's scopes allow read and search on no resource type")
    return covered


def parse(
    level: str,
    items: list[tuple[str, str]],
    caller: Caller,
    *,
    lenient: bool,
    group_id: str | None = None,
) -> KickOff:
    """Check the kick-off parameters and the caller's scopes; return what to export."""
    by_name: dict[str, list[str]] = {}
    warnings: list[Issue] = []
    for name, value in items:
        if name in SUPPORTED:
            if value.strip():  # empty parameters are ignored, as in a search
                by_name.setdefault(name, []).append(value)
            continue
        text = f"the kick-off parameter {name[:64]!r} is not supported"
        if not lenient:
            raise InvalidRequest(
                f"{text}; leave it out, or send Prefer: handling=lenient to have it ignored",
                expression=name[:64],
                code="not-supported",
            )
        warnings.append(Issue(f"{text}; it was ignored", code="not-supported", severity="warning"))
    _output_format(by_name.get("_outputFormat", []))
    return KickOff(
        level=level,
        types=_types(by_name.get("_type", []), level, caller),
        since=_since(by_name.get("_since", [])),
        group_id=group_id,
        warnings=tuple(warnings),
    )


def group_members(group: dict[str, Any]) -> list[str]:
    """The Patient ids a Group lists as active members (``member.inactive`` ones left out)."""
    found: list[str] = []
    for member in group.get("member") or []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        ref = (member.get("entity") or {}).get("reference")
        if isinstance(ref, str) and ref.startswith("Patient/"):
            rid = ref.split("/")[1]
            if rid and rid not in found:
                found.append(rid)
    return found
