"""JSON Schema (draft 2020-12) validation of source records with located, value-free errors.

jsonschema's own messages quote the offending value (``'1990-13-01' does not match …``), which could be
patient data, so each error is re-worded here from the failing keyword and the schema alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from adapters.base import AdapterError, Location
from adapters.recordkit.payload import safe_name


@cache
def load_validator(package: str, resource: str = "schema.json") -> Draft202012Validator:
    """The validator for the schema shipped as package data (checked against the meta-schema once)."""
    schema = json.loads(files(package).joinpath(resource).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def json_path(parts: Iterable[str | int]) -> str:
    """``["persons", 0, "birth_date"]`` → ``persons[0].birth_date`` (keys that are not plain tokens
    are shown as ``[?]`` so a sender's odd key never lands in a message)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif safe_name(part):
            out += f".{part}" if out else part
        else:
            out += "[?]"
    return out


def _types(expected: Any) -> str:
    names = {
        "object": "an object",
        "array": "a list",
        "string": "a string",
        "integer": "an integer",
    }
    names |= {"number": "a number", "boolean": "true or false", "null": "null"}
    items = expected if isinstance(expected, list) else [expected]
    return " or ".join(names.get(str(t), str(t)) for t in items)


def _describe(error: ValidationError) -> tuple[str, list[str | int]]:
    """A value-free message for one error, and the path it is about."""
    path: list[str | int] = list(error.absolute_path)
    kind, rule = error.validator, error.validator_value
    hint = error.schema.get("description") if isinstance(error.schema, dict) else None
    if kind == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        missing = [p for p in rule if p not in instance]
        return f"required field {missing[0] if missing else '?'} is missing", path
    if kind == "additionalProperties":
        instance = error.instance if isinstance(error.instance, dict) else {}
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in instance if k not in allowed]
        shown = safe_name(extra[0]) if extra else None
        return (f"unknown field {shown!r}" if shown else "unknown field"), path
    if kind == "dependentRequired":
        instance = error.instance if isinstance(error.instance, dict) else {}
        for prop, needs in rule.items():
            missing = [n for n in needs if prop in instance and n not in instance]
            if missing:
                return f"{prop} needs {missing[0]} as well", path
    if kind == "type":
        return f"must be {_types(rule)}", path
    if kind == "enum":
        listed = ", ".join(str(v) for v in rule[:12]) + (", …" if len(rule) > 12 else "")
        return f"must be one of: {listed}", path
    if kind == "const":
        return f"must be {rule!r}", path
    if kind == "pattern":
        return f"is not in the expected form{f' ({hint})' if hint else ''}", path
    limits = {
        "maxLength": f"is longer than {rule} characters",
        "minLength": f"is shorter than {rule} character(s)",
        "maxItems": f"has more than {rule} items",
        "minItems": f"needs at least {rule} item(s)",
        "maximum": f"is greater than {rule}",
        "minimum": f"is less than {rule}",
        "exclusiveMinimum": f"must be greater than {rule}",
        "uniqueItems": "lists the same value twice",
        "minProperties": "may not be empty",
    }
    if kind in limits:
        return limits[kind], path
    return (hint or f"fails the schema rule {kind!r}"), path


def validate_record(validator: Draft202012Validator, data: Any, record: str) -> None:
    """Raise a located :class:`AdapterError` for the most relevant schema violation, if any."""
    error = best_match(validator.iter_errors(data))
    if error is None:
        return
    # An "anyOf"/"oneOf" whose branches all failed carries its own description as the best message.
    message, path = _describe(error)
    raise AdapterError(message, Location(record=record, field=json_path(path) or None))
