"""What a stored resource is and the rules every interaction shares: ids, ETags, references.

FHIR R4: resource ids (datatypes.html#id), ``ETag: W/"n"`` (http.html#versioning), ``Reference``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.fhir.errors import InvalidRequest, NotFound
from gateway.fhir.model import is_supported

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
CONDITIONAL_REF_RE = re.compile(r"^[A-Z][A-Za-z]+\?")
_SERVER_META = ("versionId", "lastUpdated")

Labeller = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(slots=True)
class Stored:
    """One stored version, as the API returns it."""

    rtype: str
    rid: str
    version: int
    last_updated: float
    content: str | None
    deleted: bool = False
    created: bool = False
    changed: bool = True

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def location(self) -> str:
        return f"{self.rtype}/{self.rid}/_history/{self.version}"


def check_type(rtype: str) -> None:
    if not is_supported(rtype):
        raise NotFound(
            f"resource type {rtype!r} is not supported by this server", code="not-supported"
        )


def check_id(rid: str, where: str = "id") -> None:
    if not ID_RE.match(rid):
        raise InvalidRequest("a resource id is 1-64 letters, digits, '-' or '.'", expression=where)


def parse_etag(value: str) -> int:
    """``W/"3"`` or ``"3"`` → 3."""
    text = value.strip()
    text = text.removeprefix("W/").strip('"')
    try:
        return int(text)
    except ValueError:
        raise InvalidRequest(
            'If-Match must be an ETag such as W/"3"', expression="If-Match"
        ) from None


def iter_references(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``Reference.reference`` string in a resource, with its FHIRPath-ish location."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value, path
            elif key != "contained":
                yield from iter_references(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from iter_references(item, f"{path}[{i}]")


def _comparable(content: str | None) -> Any:
    if content is None:
        return None
    data = orjson.loads(content)
    meta = data.get("meta")
    if isinstance(meta, dict):
        for key in _SERVER_META:
            meta.pop(key, None)
        if not meta:
            data.pop("meta")
    return data
