"""The access profile of a stored resource: who wrote it, its data classes and its security labels.

It is indexed at write time (token parameter ``_access``, never searchable by clients) so that a search
can be filtered in SQL by evaluating the policy engine once per distinct profile instead of once per row.
"""

from __future__ import annotations

from typing import Any

from policies.data_classes import data_classes
from policies.labelling import security_codes

AGENCY_PREFIX = "urn:gateway:agency:"
PARAM = "_access"
# Profiles this process has written, so its own searches see a new profile at once (other replicas
# pick it up from the index within the guard's cache lifetime).
WRITTEN: dict[str, set[str]] = {}


def agency_uri(agency: str) -> str:
    return f"{AGENCY_PREFIX}{agency}"


def owner_of(resource: dict[str, Any]) -> str | None:
    """The agency that wrote a resource, from ``meta.source`` (``urn:gateway:agency:<id>``)."""
    source = (resource.get("meta") or {}).get("source")
    if isinstance(source, str) and source.startswith(AGENCY_PREFIX):
        return source[len(AGENCY_PREFIX) :].split("#", 1)[0] or None
    return None


def profile_code(resource: dict[str, Any]) -> str:
    """The ``_access`` token of a resource about to be stored (and remembered in :data:`WRITTEN`)."""
    labels = security_codes(resource)
    classes = data_classes(resource, labels)
    code = f"{owner_of(resource) or ''}|{','.join(sorted(classes))}|{','.join(sorted(labels))}"
    WRITTEN.setdefault(str(resource.get("resourceType")), set()).add(code)
    return code


def parse_profile(code: str) -> tuple[str | None, frozenset[str], frozenset[str]]:
    owner, _, rest = code.partition("|")
    classes, _, labels = rest.partition("|")
    return (
        owner or None,
        frozenset(c for c in classes.split(",") if c),
        frozenset(c for c in labels.split(",") if c),
    )
