"""FHIR JSON rules the fhir.resources models let through (FHIR R4 json.html).

The models coerce (``"active": "yes"`` becomes ``True``) but the gateway stores the JSON it was sent,
so the JSON itself must already be right: no ``null`` values, no empty objects or arrays, booleans as
``true``/``false``, integers and decimals as JSON numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from typing import Any, get_args

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel

from gateway.fhir.errors import Issue

_Spec = tuple[type | None, type[BaseModel] | None]  # (JSON primitive kind, complex type)
_ABSTRACT = frozenset({"Resource", "DomainResource"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # datatypes.html#string


def shape_problems(node: Any, path: str) -> Iterator[Issue]:
    """No ``null`` values, no empty objects or arrays; ``null`` inside an array only to line up
    with its ``_element`` twin (json.html#primitive)."""
    if isinstance(node, dict):
        if not node:
            yield _issue("an element may not be an empty object", path)
        for key, value in node.items():
            where = f"{path}.{key}"
            if value is None:
                yield _issue("null is not a value in FHIR JSON; leave the element out", where)
            elif isinstance(value, list):
                twin = node.get(key[1:] if key.startswith("_") else f"_{key}")
                yield from _array(value, where, twin if isinstance(twin, list) else None)
            else:
                yield from shape_problems(value, where)
    elif isinstance(node, str) and _CONTROL.search(node):
        yield _issue(
            "strings may not contain control characters other than tab, CR and LF", path, "value"
        )


def _array(items: list[Any], path: str, twin: list[Any] | None) -> Iterator[Issue]:
    if not items:
        yield _issue("an array may not be empty; leave the element out", path)
    for i, item in enumerate(items):
        if item is None:
            if twin is None or i >= len(twin) or twin[i] is None:
                yield _issue("null is not a value in FHIR JSON", f"{path}[{i}]")
        else:
            yield from shape_problems(item, f"{path}[{i}]")


def type_problems(cls: type[BaseModel], node: dict[str, Any], path: str) -> Iterator[Issue]:
    """Booleans, integers and decimals must be JSON booleans and numbers, not strings."""
    fields = _fields(cls)
    for key, value in node.items():
        kind, klass = fields.get(key, (None, None))
        if kind is None and klass is None:
            continue
        many = isinstance(value, list)
        for i, item in enumerate(value if many else [value]):
            where = f"{path}.{key}[{i}]" if many else f"{path}.{key}"
            if item is None:
                continue
            if kind is bool and not isinstance(item, bool):
                yield _issue("must be a JSON boolean (true or false)", where, "value")
            elif kind is int and (isinstance(item, bool) or not isinstance(item, int)):
                yield _issue("must be a JSON integer (a number without quotes)", where, "value")
            elif kind is Decimal and (isinstance(item, bool) or not isinstance(item, int | float)):
                yield _issue("must be a JSON number (without quotes)", where, "value")
            elif klass is not None and isinstance(item, dict):
                yield from type_problems(_concrete(klass, item), item, where)


def _concrete(klass: type[BaseModel], item: dict[str, Any]) -> type[BaseModel]:
    """A contained resource is checked against its own type, not the abstract Resource."""
    rtype = item.get("resourceType")
    if klass.__name__ in _ABSTRACT and isinstance(rtype, str):
        try:
            found: type[BaseModel] = get_fhir_model_class(rtype)
            return found
        except (KeyError, ValueError):
            return klass
    return klass


@cache
def _fields(cls: type[BaseModel]) -> dict[str, _Spec]:
    return {(f.alias or name): _spec(f.annotation) for name, f in cls.model_fields.items()}


def _spec(annotation: Any) -> _Spec:
    pending = [annotation]
    while pending:
        current = pending.pop()
        get_klass = getattr(current, "get_model_klass", None)
        if callable(get_klass):
            return None, get_klass()
        if current in (bool, int, Decimal):
            return current, None
        pending.extend(get_args(current))
    return None, None


def _issue(text: str, where: str, code: str = "structure") -> Issue:
    return Issue(text, code=code, expression=(where,))
