"""Re-homing a sender's resources at agency-scoped ids, and the references that point at them
(R4 references.html; bundle.html#references for ``fullUrl`` resolution inside a Bundle).

A sender's ``Patient/123`` becomes ``Patient/<stable_id(agency, "Patient", "123")>``, so two senders'
``Patient/123`` never overwrite each other and a resend lands on the same resource. Every relative
literal reference ``Type/id`` anywhere in a resource (contained resources included) is rewritten the
same way, so references to resources sent earlier still resolve; references to other entries' full
URLs follow those entries. Absolute references outside the Bundle, ``#contained`` and conditional
references are left alone. The walk is iterative, so deep JSON cannot exhaust the stack.
"""

from __future__ import annotations

from typing import Any

from adapters.base import stable_id
from adapters.fhir.types import FHIR_ID, R4_RESOURCE_TYPES

Json = dict[str, Any]


def new_id(agency: str, resource_type: str, sender_id: str) -> str:
    """The gateway id of the sender's ``resource_type/sender_id``."""
    return stable_id(agency, resource_type, sender_id)


def rehome(agency: str, reference: str, by_url: dict[str, str]) -> str:
    """The rewritten form of one literal reference."""
    if reference in by_url:
        return by_url[reference]
    parts = reference.split("/")
    # A version of the sender's resource is not a version here: point at the resource.
    if (
        len(parts) in (2, 4)
        and parts[0] in R4_RESOURCE_TYPES
        and FHIR_ID.match(parts[1])
        and (len(parts) == 2 or parts[2] == "_history")
    ):
        return f"{parts[0]}/{new_id(agency, parts[0], parts[1])}"
    return reference


def rewrite(node: Any, agency: str, by_url: dict[str, str]) -> Any:
    """A copy of ``node`` with every ``reference`` string re-homed."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(node, root, 0)]
    while stack:
        value, parent, key = stack.pop()
        if isinstance(value, dict):
            copy: Any = dict.fromkeys(value)  # keys in the sender's order, values filled below
            for k, v in value.items():
                if k == "reference" and isinstance(v, str):
                    copy[k] = rehome(agency, v, by_url)
                else:
                    stack.append((v, copy, k))
        elif isinstance(value, list):
            copy = [None] * len(value)
            stack.extend((v, copy, i) for i, v in enumerate(value))
        else:
            copy = value
        parent[key] = copy
    return root[0]


def dangling(node: Any, known: set[str]) -> str | None:
    """The first ``urn:uuid:``/``urn:oid:`` reference that names no entry of the Bundle."""
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            ref = value.get("reference")
            if (
                isinstance(ref, str)
                and ref.startswith(("urn:uuid:", "urn:oid:"))
                and ref not in known
            ):
                return ref
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None
