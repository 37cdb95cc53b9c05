"""SMART on FHIR v2 scopes as a ceiling (hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).

``(patient|user|system)/(Type|*).[c][r][u][d][s]``; v1 ``.read`` means ``.rs`` and ``.write`` ``.cud``.
``?param=value`` narrowing is parsed and kept but treated as a ceiling on the whole type for now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCOPE_RE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perm>\*|read|write|[cruds]+)"
    r"(?:\?(?P<query>.*))?$"
)
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True, slots=True)
class Scope:
    context: str
    resource_type: str
    interactions: frozenset[str]
    query: str | None = None

    def covers(self, interaction: str, resource_type: str) -> bool:
        return interaction in self.interactions and self.resource_type in ("*", resource_type)


def parse_scope(text: str) -> Scope | None:
    """Parse one clinical scope; other scopes (``openid``, ``launch``…) give ``None``."""
    match = _SCOPE_RE.match(text)
    if not match:
        return None
    perm = match["perm"]
    letters = _V1.get(perm, perm)
    if list(letters) != sorted(letters, key="cruds".index) or len(set(letters)) != len(letters):
        return None  # v2 requires the letters in cruds order, each once
    return Scope(match["context"], match["type"], frozenset(letters), match["query"])


def parse_scopes(text: str) -> tuple[Scope, ...]:
    return tuple(s for s in (parse_scope(p) for p in text.split()) if s is not None)


def covers(scopes: tuple[Scope, ...], interaction: str, resource_type: str) -> bool:
    return any(s.covers(interaction, resource_type) for s in scopes)


def _intersect(a: Scope, b: Scope) -> Scope | None:
    if a.context != b.context:
        return None
    if a.resource_type == "*":
        rtype = b.resource_type
    elif b.resource_type in ("*", a.resource_type):
        rtype = a.resource_type
    else:
        return None
    letters = a.interactions & b.interactions
    if not letters:
        return None
    return Scope(a.context, rtype, frozenset(letters), a.query or b.query)


def format_scope(scope: Scope) -> str:
    letters = "".join(c for c in "cruds" if c in scope.interactions)
    text = f"{scope.context}/{scope.resource_type}.{letters}"
    return f"{text}?{scope.query}" if scope.query else text


def intersect_scopes(requested: str, registered: str) -> str:
    """The scopes granted: each requested scope cut down to what the registration allows."""
    allowed = parse_scopes(registered)
    granted: list[str] = []
    for asked in parse_scopes(requested):
        for ceiling in allowed:
            got = _intersect(asked, ceiling)
            if got is not None and (text := format_scope(got)) not in granted:
                granted.append(text)
    return " ".join(granted)
