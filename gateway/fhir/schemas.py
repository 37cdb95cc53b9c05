"""Shapes the FHIR API sends: Bundles built around stored JSON without re-parsing it.

Stored resources are embedded with ``orjson.Fragment`` so a search page costs one copy of each resource,
not a parse and a re-serialisation. ``_elements`` and ``_summary`` are the exception: they need the parse.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import orjson

from gateway.fhir.dates import instant_now
from gateway.fhir.errors import Issue, operation_outcome
from gateway.fhir.model import mandatory_elements, summary_elements
from gateway.fhir.search import SearchResult
from gateway.fhir.search_parse import SearchRequest

FHIR_JSON = "application/fhir+json"
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}
_ALWAYS = ("resourceType", "id", "meta")


def dumps(doc: Any) -> bytes:
    return orjson.dumps(doc)


def subset(content: str, rtype: str, summary: str | None, elements: tuple[str, ...]) -> Any:
    """Apply ``_summary`` / ``_elements`` to one stored resource; return JSON-ready data."""
    if (summary in (None, "false")) and not elements:
        return orjson.Fragment(content)
    data = orjson.loads(content)
    keep: set[str] | frozenset[str]
    if elements:
        # R4 search §3.1.1.5.9: mandatory elements are returned whether asked for or not.
        keep = set(elements) | set(_ALWAYS) | mandatory_elements(rtype)
        data = {k: v for k, v in data.items() if k in keep}
    elif summary == "true":
        keep = summary_elements(rtype) | set(_ALWAYS)
        data = {k: v for k, v in data.items() if k in keep}
    elif summary == "text":
        keep = {*_ALWAYS, "text"} | mandatory_elements(rtype)
        data = {k: v for k, v in data.items() if k in keep}
    elif summary == "data":
        data.pop("text", None)
    meta = data.setdefault("meta", {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    return data


def _link(base: str, rtype: str, req: SearchRequest, offset: int) -> str:
    params = [*req.echo, ("_offset", str(offset))]
    if not any(k == "_count" for k, _ in req.echo):
        params.append(("_count", str(req.count)))
    return f"{base}/{rtype}?{urlencode(params)}"


def searchset(base: str, req: SearchRequest, result: SearchResult) -> bytes:
    """A ``searchset`` Bundle with self/first/previous/next links and an outcome entry for warnings."""
    rtype = req.rtype
    links = [
        {"relation": "self", "url": _link(base, rtype, req, req.offset)},
        {"relation": "first", "url": _link(base, rtype, req, 0)},
    ]
    if req.offset > 0 and req.count > 0:
        links.append(
            {"relation": "previous", "url": _link(base, rtype, req, max(req.offset - req.count, 0))}
        )
    if result.has_more:
        links.append({"relation": "next", "url": _link(base, rtype, req, req.offset + req.count)})
    entries: list[dict[str, Any]] = []
    for hit in result.hits:
        entries.append(
            {
                "fullUrl": f"{base}/{hit.rtype}/{hit.rid}",
                # _elements applies to matches only, not to included resources (§3.1.1.5.9).
                "resource": subset(
                    hit.content,
                    hit.rtype,
                    req.summary,
                    req.elements if hit.mode == "match" else (),
                ),
                "search": {"mode": hit.mode},
            }
        )
    if result.warnings:
        entries.append(
            {"resource": operation_outcome(result.warnings), "search": {"mode": "outcome"}}
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant_now()[0]},
        "type": "searchset",
    }
    if result.total is not None:
        bundle["total"] = result.total
    bundle["link"] = links
    if entries:
        bundle["entry"] = entries
    return dumps(bundle)


def history_bundle(
    base: str, self_url: str, total: int, entries: list[dict[str, Any]], links: list[dict[str, str]]
) -> bytes:
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant_now()[0]},
        "type": "history",
        "total": total,
        "link": [{"relation": "self", "url": self_url}, *links],
        "entry": entries,
    }
    return dumps(bundle)


def outcome_bytes(issues: list[Issue]) -> bytes:
    return dumps(operation_outcome(issues))
