"""Read ``$match`` input (a ``Parameters`` resource, a ``ServiceRequest``, query parameters) into a
:class:`~gateway.placement.matching.MatchRequest`, refusing bad input with a located 400.

Parameter names and types are listed in :data:`PARAMS` and in ``docs/placement-directory.md``.
Explicit parameters win over what the ``serviceRequest`` says.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import InvalidRequest
from gateway.placement import profiles as p

MAX_COUNT = 1000
HOLD_EXPIRES_EXTENSIONS = ("urn:crisis-exchange:extension:involuntary-hold-expires",)
_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_MILES = {"[mi_i]", "mi", "[mi_us]"}

# name → (kind, allowed codes or None, repeats)
PARAMS: dict[str, tuple[str, dict[str, str] | tuple[str, ...] | None, bool]] = {
    "serviceRequest": ("resource", None, False),
    "levelOfCare": ("code", p.LEVELS_OF_CARE, False),
    "bedType": ("code", p.BED_TYPES, False),
    "reason": ("coding", None, True),
    "age": ("integer", None, False),
    "birthDate": ("date", None, False),
    "sex": ("code", p.SEXES, False),
    "payer": ("code", p.PAYERS, False),
    "involuntary": ("boolean", None, False),
    "holdExpires": ("dateTime", None, False),
    "medicalClearance": ("boolean", None, False),
    "recentAggression": ("boolean", None, False),
    "language": ("language", None, False),
    "specialty": ("code", p.SPECIALTIES, True),
    "deriveSpecialties": ("boolean", None, False),
    "securityLevel": ("code", p.SECURITY_LEVELS, False),
    "acuity": ("code", p.ACUITY_LEVELS, False),
    "latitude": ("decimal", None, False),
    "longitude": ("decimal", None, False),
    "maxDistance": ("distance", None, False),
    "count": ("integer", None, False),
    "explain": ("boolean", None, False),
    "includeUnreported": ("boolean", None, False),
}


def _bad(message: str, where: str) -> InvalidRequest:
    return InvalidRequest(message, expression=where)


def _from_value(kind: str, part: dict[str, Any], name: str, where: str) -> Any:
    """The typed value of one ``Parameters.parameter``."""
    keys = [k for k in part if k.startswith("value")]
    if kind == "resource":
        if not isinstance(part.get("resource"), dict):
            raise _bad(f"{name} takes a resource", where)
        return part["resource"]
    if len(keys) != 1:
        raise _bad(f"{name} needs exactly one value[x]", where)
    key, value = keys[0], part[keys[0]]
    where = f"{where}.{key}"
    if kind in ("code", "language"):
        if key == "valueCoding" and isinstance(value, dict):
            value = value.get("code")
        elif key == "valueCodeableConcept" and isinstance(value, dict):
            value = next(iter((c or {}).get("code") for c in value.get("coding") or ()), None)
        elif key not in ("valueCode", "valueString"):
            raise _bad(f"{name} takes a code", where)
        return _text(kind, name, value, where)
    if kind == "coding":
        if key == "valueCoding" and isinstance(value, dict):
            return [value.get("code")]
        if key == "valueCodeableConcept" and isinstance(value, dict):
            return [(c or {}).get("code") for c in value.get("coding") or ()]
        if key in ("valueCode", "valueString"):
            return [value]
        raise _bad(f"{name} takes a Coding", where)
    if kind == "distance" and key == "valueQuantity" and isinstance(value, dict):
        amount, unit = value.get("value"), value.get("code") or value.get("unit")
        if not isinstance(amount, int | float) or isinstance(amount, bool):
            raise _bad(f"{name} needs a numeric value", where)
        if unit in _MILES:
            return float(amount) * 1.609344
        if unit not in ("km", None):
            raise _bad(f"{name} takes km or [mi_i]", where)
        return float(amount)
    expected = {
        "integer": ("valueInteger", "valueUnsignedInt", "valuePositiveInt"),
        "boolean": ("valueBoolean",),
        "decimal": ("valueDecimal", "valueInteger"),
        "distance": ("valueDecimal", "valueInteger"),
        "date": ("valueDate",),
        "dateTime": ("valueDateTime", "valueInstant"),
    }[kind]
    if key not in expected:
        raise _bad(f"{name} takes {' or '.join(expected)}", where)
    return _check_type(kind, name, value, where)


def _check_type(kind: str, name: str, value: Any, where: str) -> Any:
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        raise _bad(f"{name} must be a whole number", where)
    if kind == "boolean" and not isinstance(value, bool):
        raise _bad(f"{name} must be true or false", where)
    if kind in ("decimal", "distance"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _bad(f"{name} must be a number", where)
        return float(value)
    if kind in ("date", "dateTime"):
        if not isinstance(value, str):
            raise _bad(f"{name} must be a FHIR {kind}", where)
        try:
            date_range(value)
        except BadDate:
            raise _bad(f"{name} must be a FHIR {kind}", where) from None
    return value


def _text(kind: str, name: str, value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{name} takes a code", where)
    if kind == "language" and not _LANG_RE.match(value):
        raise _bad(f"{name} takes a BCP-47 language tag such as es or zh-Hant", where)
    return value.strip()


def _from_query(kind: str, name: str, raw: str) -> Any:
    """The typed value of one query parameter."""
    text = raw.strip()
    if kind in ("code", "language"):
        return _text(kind, name, text.rsplit("|", 1)[-1], name)
    if kind == "coding":
        return [text.rsplit("|", 1)[-1]]
    if kind == "integer":
        if not re.fullmatch(r"-?\d{1,9}", text):
            raise _bad(f"{name} must be a whole number", name)
        return int(text)
    if kind == "boolean":
        if text not in ("true", "false"):
            raise _bad(f"{name} must be true or false", name)
        return text == "true"
    if kind in ("decimal", "distance"):
        try:
            number = float(text)
        except ValueError:
            raise _bad(f"{name} must be a number", name) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise _bad(f"{name} must be a number", name)
        return number
    if kind == "resource":
        raise _bad(f"{name} can only be sent in a Parameters body", name)
    return _check_type(kind, name, text, name)


def collect(
    body: dict[str, Any] | None, query: list[tuple[str, str]]
) -> tuple[dict[str, list[tuple[Any, str]]], dict[str, Any] | None]:
    """name → [(value, where)] from a Parameters (or ServiceRequest) body and the query string."""
    values: dict[str, list[tuple[Any, str]]] = {}
    service_request = None
    if body is not None:
        rtype = body.get("resourceType")
        if rtype == "ServiceRequest":
            service_request = body
        elif rtype == "Parameters":
            for i, part in enumerate(body.get("parameter") or ()):
                where = f"Parameters.parameter[{i}]"
                name = part.get("name") if isinstance(part, dict) else None
                if name not in PARAMS:
                    raise _bad(f"unknown parameter {str(name)[:40]!r} for $match", f"{where}.name")
                kind, _codes, _repeats = PARAMS[name]
                value = _from_value(kind, part, name, where)
                if name == "serviceRequest":
                    if value.get("resourceType") != "ServiceRequest":
                        raise _bad("serviceRequest must be a ServiceRequest", f"{where}.resource")
                    service_request = value
                else:
                    key = next((k for k in part if k.startswith("value")), "value")
                    values.setdefault(name, []).append((value, f"{where}.{key}"))
        else:
            raise _bad("send a Parameters resource or a ServiceRequest", "resourceType")
    for name, raw in query:
        if name in ("_format", "_pretty"):
            continue
        if name not in PARAMS:
            raise _bad(f"unknown parameter {name[:40]!r} for $match", name)
        values.setdefault(name, []).append((_from_query(PARAMS[name][0], name, raw), name))
    for name, found in values.items():
        kind, codes, repeats = PARAMS[name]
        if len(found) > 1 and not repeats:
            raise _bad(f"{name} may be given once", found[1][1])
        if codes is not None:
            for value, where in found:
                if value not in codes:
                    raise _bad(f"{name} takes one of: {', '.join(codes)}", where)
    return values, service_request
