"""History interactions (FHIR R4 http.html#history): instance, type and system history Bundles,
each version passed through the caller's sharing rules."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request, Response

from gateway.auth.schemas import Caller
from gateway.fhir import schemas
from gateway.fhir.dates import BadDate, date_range, http_date
from gateway.fhir.errors import InvalidRequest, NotFound
from gateway.fhir.schemas import FHIR_JSON
from gateway.fhir.search_parse import MAX_OFFSET


def history(
    request: Request, rtype: str | None, rid: str | None, caller: Caller, audited: Any, service: Any
) -> Response:
    """A history Bundle; ``audited``/``service`` are the endpoint module's unit of work and service."""
    settings = request.app.state.settings
    params = dict(request.query_params)
    since = before = None
    try:
        if "_since" in params:
            since = date_range(params["_since"])[0]
        if "_at" in params:
            before = date_range(params["_at"])[1]
    except BadDate:
        raise InvalidRequest(
            "_since/_at must be FHIR instants, e.g. 2024-05-01T00:00:00Z", expression="_since"
        ) from None
    try:
        count = min(int(params.get("_count", settings.default_page_size)), settings.max_page_size)
        offset = int(params.get("_offset", 0))
    except ValueError:
        raise InvalidRequest(
            "_count and _offset must be whole numbers", expression="_count"
        ) from None
    if count < 0 or not 0 <= offset <= MAX_OFFSET:
        raise InvalidRequest(
            f"_count and _offset must be whole numbers from 0 to {MAX_OFFSET}",
            expression="_offset" if count >= 0 else "_count",
        )
    base = settings.fhir_base
    with audited(request, caller) as session:
        svc = service(request, session, caller)
        total, rows = svc.repo.history(
            rtype, rid, since=since, before=before, offset=offset, count=count
        )
        if rid is not None and total == 0:
            raise NotFound(f"{rtype}/{rid} is not known")
        shown: dict[int, str | None] = {}
        for row in rows:
            if row.content is not None:
                shown[row.version if rid else id(row)] = svc.guard.shown(
                    row.rtype, row.res_id, row.content, "read"
                )
        if rid is not None and rows and all(v is None for v in shown.values()) and shown:
            newest = next(r for r in rows if r.content is not None)
            svc.guard.check_read(newest.rtype, newest.res_id, newest.content or "{}", "read")
    entries = []
    for row in rows:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{row.rtype}/{row.res_id}"}
        if row.content is not None:
            visible = shown.get(row.version if rid else id(row))
            if visible is None:
                continue  # withheld by the sharing rules
            entry["resource"] = orjson.Fragment(visible)
        method = "POST" if row.method == "POST" else row.method
        url = row.rtype if method == "POST" else f"{row.rtype}/{row.res_id}"
        entry["request"] = {"method": "PUT" if method == "PATCH" else method, "url": url}
        status = (
            "201 Created" if row.version == 1 else ("204 No Content" if row.deleted else "200 OK")
        )
        entry["response"] = {
            "status": status,
            "etag": f'W/"{row.version}"',
            "lastModified": http_date(row.last_updated),
        }
        entries.append(entry)
    path = "/".join(p for p in (rtype, rid, "_history") if p)
    query = {k: v for k, v in params.items() if k != "_offset"}
    links = []
    if offset + count < total:
        links.append(
            {
                "relation": "next",
                "url": f"{base}/{path}?{urlencode({**query, '_count': count, '_offset': offset + count})}",
            }
        )
    if offset > 0:
        links.append(
            {
                "relation": "previous",
                "url": f"{base}/{path}?{urlencode({**query, '_count': count, '_offset': max(offset - count, 0)})}",
            }
        )
    self_url = f"{base}/{path}" + (f"?{urlencode(params)}" if params else "")
    return Response(
        schemas.history_bundle(base, self_url, total, entries, links), media_type=FHIR_JSON
    )
