"""References between Bundle entries, and where in a Bundle an error is (FHIR R4 http.html#trules).

Inside a transaction, ``urn:uuid:`` / ``urn:oid:`` references name other entries by their ``fullUrl``
and conditional references (``Patient?identifier=...``) name stored resources by search; both are
rewritten to ``Type/id`` before anything is stored. An error raised for one entry is re-anchored so
its ``issue.expression`` points into the Bundle (``Bundle.entry[2].resource.subject``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.fhir.errors import FhirError, Issue

PLACEHOLDER_PREFIXES = ("urn:uuid:", "urn:oid:")

_HEADERS = {
    "If-Match": "request.ifMatch",
    "If-None-Exist": "request.ifNoneExist",
    "If-None-Match": "request.ifNoneMatch",
    "If-Modified-Since": "request.ifModifiedSince",
}


def rewrite(node: Any, mapping: dict[str, str]) -> Any:
    """A copy of ``node`` with every ``reference`` found in ``mapping`` replaced."""
    if isinstance(node, dict):
        return {
            k: (
                mapping.get(v, v)
                if k == "reference" and isinstance(v, str)
                else rewrite(v, mapping)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [rewrite(v, mapping) for v in node]
    return node


def references(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``reference`` string in ``node`` (contained resources too), with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if key == "reference" and isinstance(value, str):
                yield value, path
            else:
                yield from references(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from references(item, f"{path}[{i}]")


def inside(where: str, expression: str) -> str:
    """Re-anchor an expression raised for one entry (``where`` = ``Bundle.entry[i]``)."""
    if expression.startswith("Bundle."):
        return expression
    if expression in _HEADERS:
        return f"{where}.{_HEADERS[expression]}"
    if expression == "$" or expression.startswith("$["):
        return f"{where}.resource"
    if expression == "resourceType":
        return f"{where}.resource.resourceType"
    head, dot, rest = expression.partition(".")
    if head[:1].isupper() and head.isalpha():
        return f"{where}.resource.{rest}" if dot else f"{where}.resource"
    # search parameters of a conditional URL, or the id / version in it
    return f"{where}.request.url"


def located(exc: FhirError, index: int, where: str, label: str) -> FhirError:
    """The same error, its messages prefixed with the entry and its expressions inside the Bundle."""
    issues = [
        Issue(
            f"entry {index} ({label}): {i.diagnostics}",
            code=i.code,
            severity=i.severity,
            expression=tuple(inside(where, e) for e in i.expression) or (where,),
        )
        for i in exc.issues
    ]
    out = type(exc)(issues[0].diagnostics, issues=issues, headers=exc.headers)
    out.status = exc.status
    return out
