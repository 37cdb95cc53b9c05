"""Parse FHIR search query parameters into a typed request (FHIR R4 search, hl7.org/fhir/R4/search.html).

Parsing is separate from SQL building so errors name the parameter at fault before any query runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.fhir.errors import InvalidRequest, Issue, NotAcceptable
from gateway.fhir.model import SUPPORTED_TYPES, is_supported
from gateway.fhir.search_params import SearchParam, params_for

CONTROL = frozenset(
    {
        "_count",
        "_offset",
        "_sort",
        "_include",
        "_revinclude",
        "_summary",
        "_elements",
        "_total",
        "_format",
        "_pretty",
    }
)
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_MODIFIERS = {
    "token": {"missing", "not", "exact"},
    "uri": {"missing", "not", "exact"},
    "string": {"missing", "exact", "contains"},
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "reference": {"missing"},
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
MDM = "mdm"  # reference modifier: the Patient and every Patient the MPI linked to it
MAX_OFFSET = 2**31 - 1  # beyond any result set; larger numbers overflow database integers
SUMMARY_VALUES = frozenset({"true", "false", "text", "data", "count"})


@dataclass(frozen=True, slots=True)
class Chain:
    """``subject:Patient.name=x``: the referenced resource must match the chained parameter.

    ``targets`` pairs each type the reference may point at with that type's chained parameter;
    without a ``:Type`` the chain covers every supported target type that has the parameter.
    """

    targets: tuple[tuple[str, SearchParam], ...]
    modifier: str | None


@dataclass(frozen=True, slots=True)
class Criterion:
    """One query parameter: its values are ORed; separate criteria are ANDed."""

    param: SearchParam
    modifier: str | None
    values: tuple[str, ...]
    chain: Chain | None = None
    raw_name: str = ""


@dataclass(frozen=True, slots=True)
class Include:
    source_type: str
    param: str
    target_type: str | None


@dataclass(slots=True)
class SearchRequest:
    """Everything a search needs, already checked."""

    rtype: str
    criteria: list[Criterion] = field(default_factory=list)
    sort: list[tuple[SearchParam, bool]] = field(default_factory=list)  # (param, descending)
    count: int = 50
    offset: int = 0
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: tuple[str, ...] = ()
    total: str = "accurate"
    warnings: list[Issue] = field(default_factory=list)
    echo: list[tuple[str, str]] = field(default_factory=list)  # accepted params, for links
    # Keyset paging for walks over a whole type (bulk export): only ids after this one. Never
    # set from a query string; with ``_sort=_id`` the walk resumes where the last page ended.
    after_id: str | None = None


def split_values(raw: str) -> tuple[str, ...]:
    """Split on commas that are not escaped (R4 search §3.1.1.2 escaping)."""
    out, cur, i = [], [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in ",$|\\":
            cur.append(raw[i + 1])
            i += 2
            continue
        if ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return tuple(out)


def _int(name: str, raw: str, low: int, high: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number", expression=name) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidRequest(f"{name} must be {bound}", expression=name)
    return value


def _include(name: str, raw: str, base_type: str, reverse: bool) -> Include:
    parts = raw.split(":")
    if raw == "*":
        return Include(base_type, "*", None)
    if len(parts) not in (2, 3) or not is_supported(parts[0]):
        raise InvalidRequest(
            f"{name} must look like Type:param or Type:param:TargetType", expression=name
        )
    params = params_for(parts[0])
    if parts[1] != "*" and (parts[1] not in params or params[parts[1]].type != "reference"):
        raise InvalidRequest(
            f"{name}: {parts[0]} has no reference search parameter {parts[1]!r}", expression=name
        )
    if not reverse and parts[0] != base_type:
        raise InvalidRequest(
            f"{name} must start with the searched type {base_type}", expression=name
        )
    target = parts[2] if len(parts) == 3 else None
    if target is not None and not is_supported(target):
        raise InvalidRequest(f"{name}: unknown target type {target!r}", expression=name)
    return Include(parts[0], parts[1], target)


def _criterion(rtype: str, key: str, raw: str, known: dict[str, SearchParam]) -> Criterion | None:
    name, _, modifier = key.partition(":")
    if "." in name or "." in modifier:
        return _chained(key, raw, known)
    param = known.get(name)
    if param is None:
        return None
    mod = modifier or None
    if param.type == "reference" and mod == MDM:
        _check_mdm(key, param)
    elif param.type == "reference" and mod and mod != "missing":
        if not is_supported(mod):
            raise InvalidRequest(f"{key}: unknown modifier or type {mod!r}", expression=key)
    else:
        _check_modifier(key, param, mod)
    if mod == "missing":
        if raw not in ("true", "false"):
            raise InvalidRequest(f"{key} must be true or false", expression=key)
        return Criterion(param, mod, (raw,), None, key)
    return Criterion(param, mod, tuple(v for v in split_values(raw) if v), None, key)


def _chained(key: str, raw: str, known: dict[str, SearchParam]) -> Criterion | None:
    """``subject.name=x`` or ``subject:Patient.name:exact=x`` (one level deep, R4 search §3.1.1.4.15)."""
    head, _, rest = key.partition(".")
    name, _, target_type = head.partition(":")
    param = known.get(name)
    if param is None:
        return None
    if param.type != "reference":
        raise InvalidRequest(f"{key}: only reference parameters can be chained", expression=key)
    chained_name, _, chained_mod = rest.partition(":")
    if not chained_name or "." in chained_name or "." in chained_mod:
        raise InvalidRequest(f"{key}: only one level of chaining is supported", expression=key)
    if target_type:
        if not is_supported(target_type) or (param.targets and target_type not in param.targets):
            raise InvalidRequest(f"{key}: {name} cannot point at a {target_type!r}", expression=key)
        candidates: tuple[str, ...] = (target_type,)
    else:
        candidates = tuple(t for t in param.targets or SUPPORTED_TYPES if is_supported(t))
    targets = tuple(
        (t, params_for(t)[chained_name]) for t in candidates if chained_name in params_for(t)
    )
    if not targets:
        where = target_type or " or ".join(candidates) or "any supported type"
        raise InvalidRequest(
            f"{key}: {where} has no search parameter {chained_name!r}", expression=key
        )
    for _, chained in targets:
        if not (chained.type == "reference" and is_supported(chained_mod)):
            _check_modifier(key, chained, chained_mod or None)
    values = tuple(v for v in split_values(raw) if v)
    if chained_mod == "missing":
        if raw not in ("true", "false"):
            raise InvalidRequest(f"{key} must be true or false", expression=key)
        values = (raw,)
    return Criterion(param, None, values, Chain(targets, chained_mod or None), key)


def _check_mdm(key: str, param: SearchParam) -> None:
    """``:mdm`` (the Patients the MPI linked) applies to references that can point at a Patient."""
    if param.targets and "Patient" not in param.targets:
        raise InvalidRequest(
            f"{key}: :mdm follows identity links between Patients; {param.name} cannot point "
            "at a Patient",
            expression=key,
            code="not-supported",
        )


def _check_modifier(key: str, param: SearchParam, modifier: str | None) -> None:
    if modifier is None:
        return
    allowed = _MODIFIERS.get(param.type, {"missing"})
    if param.name == "near" or modifier not in allowed:
        raise InvalidRequest(
            f"{key}: modifier :{modifier} is not supported for {param.type} parameters",
            expression=key,
            code="not-supported",
        )


def parse(
    rtype: str,
    items: list[tuple[str, str]],
    *,
    default_count: int,
    max_count: int,
    strict: bool = False,
) -> SearchRequest:
    """Turn query parameters into a :class:`SearchRequest`, or raise ``InvalidRequest``."""
    known = params_for(rtype)
    req = SearchRequest(rtype=rtype, count=default_count)
    for key, raw in items:
        if _CONTROL.search(key) or _CONTROL.search(raw):
            raise InvalidRequest(
                "search parameters may not contain control characters", expression=key[:64]
            )
        if not any(split_values(raw)):
            continue  # R4 search §3.1.1.3: empty parameters are not an error, just ignored
        if key.startswith(("_include:", "_revinclude:")) and key.endswith(":iterate"):
            key = key.removesuffix(":iterate")
        if key in CONTROL:
            _control(req, key, raw, known, max_count)
            if key not in ("_offset", "_format", "_pretty"):
                req.echo.append((key, raw))
            continue
        crit = _criterion(rtype, key, raw, known)
        if crit is None:
            message = f"unknown search parameter {key!r} for {rtype}; it was ignored"
            if strict:
                raise InvalidRequest(
                    f"unknown search parameter {key!r} for {rtype}",
                    expression=key,
                    code="not-supported",
                )
            req.warnings.append(
                Issue(message, code="not-supported", severity="warning", expression=(key,))
            )
            continue
        req.criteria.append(crit)
        req.echo.append((key, raw))
    return req


def _control(
    req: SearchRequest, key: str, raw: str, known: dict[str, SearchParam], max_count: int
) -> None:
    if key == "_count":
        req.count = min(_int(key, raw, 0), max_count)
    elif key == "_offset":
        req.offset = _int(key, raw, 0, MAX_OFFSET)
    elif key == "_sort":
        for part in raw.split(","):
            desc = part.startswith("-")
            pname = part.lstrip("-")
            param = known.get(pname)
            if param is None or pname == "near":
                raise InvalidRequest(
                    f"_sort: {req.rtype} has no sortable parameter {pname!r}", expression=key
                )
            req.sort.append((param, desc))
    elif key in ("_include", "_revinclude"):
        base = key.removesuffix(":iterate")
        inc = _include(base, raw, req.rtype, reverse=(base == "_revinclude"))
        (req.revincludes if base == "_revinclude" else req.includes).append(inc)
    elif key == "_summary":
        if raw not in SUMMARY_VALUES:
            raise InvalidRequest(
                "_summary must be one of true, false, text, data, count", expression=key
            )
        req.summary = raw
    elif key == "_elements":
        req.elements = tuple(e.strip() for e in raw.split(",") if e.strip())
    elif key == "_total":
        if raw not in ("none", "estimate", "accurate"):
            raise InvalidRequest("_total must be none, estimate or accurate", expression=key)
        req.total = raw
    elif key == "_format" and raw not in ("json", "application/json", "application/fhir+json"):
        raise NotAcceptable("only JSON is served (_format=json)", expression=key)
