"""``$match`` on ServiceRequest: ``POST /fhir/ServiceRequest/$match`` (and GET with query parameters).

Any authenticated caller whose scopes allow searching HealthcareService (``s``) may match. The
body is a ``Parameters`` resource (parameter names in ``match_params.PARAMS``) or a bare
``ServiceRequest``; simple parameters may also come in the query string. The answer is a
``searchset`` Bundle (``match_bundle``); bad input is a 400 OperationOutcome with an expression.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from gateway.auth.deps import get_caller, require
from gateway.auth.schemas import Caller
from gateway.fhir.errors import InvalidRequest, UnsupportedMediaType
from gateway.placement.match_bundle import match_bundle
from gateway.placement.match_index import UnitIndex
from gateway.placement.match_request import read_request
from gateway.placement.matching import match
from gateway.placement.trail import audited

router = APIRouter()
FHIR_JSON = "application/fhir+json"
_JSON_TYPES = ("application/fhir+json", "application/json")
_INDEX_LOCK = threading.Lock()


def get_index(app: FastAPI) -> UnitIndex:
    """The app's unit index (``app.state.placement_index``), created on first use."""
    index: UnitIndex | None = getattr(app.state, "placement_index", None)
    if index is None:
        with _INDEX_LOCK:
            index = getattr(app.state, "placement_index", None)
            if index is None:
                index = UnitIndex(app.state.db)
                app.state.placement_index = index
    return index


async def json_body(request: Request) -> Any:
    """The request's JSON body (FHIR or plain JSON media type), or a located 400/415."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"send the body as {' or '.join(_JSON_TYPES)}" + (f", not {ctype}" if ctype else ""),
            expression="Content-Type",
        )
    raw = await request.body()
    if not raw.strip():
        raise InvalidRequest("the request body is empty", expression="$", code="required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"the body is not valid JSON ({exc.args[0]})", expression="$", code="structure"
        ) from None


def run_match(app: FastAPI, body: dict[str, Any] | None, query: list[tuple[str, str]]) -> bytes:
    """Parse, match against the current snapshot, and render the Bundle (blocking)."""
    now = time.time()
    req = read_request(body, query, now)
    snap = get_index(app).snapshot()
    return match_bundle(app.state.settings.fhir_base, req, match(snap, req, now))


@router.post("/fhir/ServiceRequest/$match")
async def match_post(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    """Match with a Parameters (or ServiceRequest) body."""
    require(caller, "s", "HealthcareService")
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object (a FHIR resource)", expression="$")
    query = list(request.query_params.multi_items())
    content = await run_in_threadpool(run_match, request.app, body, query)
    await run_in_threadpool(_audit, request, caller, body)
    return Response(content, media_type=FHIR_JSON)


@router.get("/fhir/ServiceRequest/$match")
def match_get(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    """Match with query parameters only (the operation changes nothing, so GET is allowed)."""
    require(caller, "s", "HealthcareService")
    content = run_match(request.app, None, list(request.query_params.multi_items()))
    _audit(request, caller, None)
    return Response(content, media_type=FHIR_JSON)


def _audit(request: Request, caller: Caller, body: dict[str, Any] | None) -> None:
    """Append the ``$match`` AuditEvent (after the match: the unit index reads outside any open
    transaction; the response does not leave unless the event is stored)."""
    with audited(request, caller, "operation", "HealthcareService") as trail:
        if body is not None and body.get("resourceType") == "Parameters":
            for part in body.get("parameter") or []:
                if isinstance(part, dict) and isinstance(part.get("resource"), dict):
                    trail.touch(part["resource"])
        elif body is not None:
            trail.touch(body)
