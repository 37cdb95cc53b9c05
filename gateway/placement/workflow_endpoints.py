"""``/placement``: open a request, answer it, move it along, read its progress and the numbers.

Each endpoint is one unit of work (everything it writes, outbox messages included, commits
together). Refused transitions are 409 ``OperationOutcome``; acting on another party's Task is 403.

    POST /placement/requests[?near=lat,lon&count=n]      ServiceRequest → 201 Bundle (SR, parent, children)
    GET  /placement/requests/{id}                        progress (parent Task id or ServiceRequest id)
    POST /placement/requests/{id}/$transport|$en-route|$arrived|$complete|$cancel|$fail
    GET  /placement/tasks/{id}                           a facility Task as its viewer may see it
    POST /placement/tasks/{id}/$received|$accept|$reject
    GET  /placement/metrics?from=&to=&format=json|csv

Every call appends an AuditEvent in its own unit of work (:mod:`gateway.placement.trail`), naming
the Tasks, ServiceRequest and patient it touched; reads go through the sharing guard.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from gateway.auth.deps import get_caller, require, require_role
from gateway.auth.schemas import Caller
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import InvalidRequest, NotFound
from gateway.fhir.schemas import FHIR_JSON
from gateway.placement.metrics import metrics_csv, placement_metrics
from gateway.placement.trail import audited
from gateway.placement.transitions import OfferState, Phase
from gateway.placement.workflow_matcher import prepare_candidates
from gateway.placement.workflow_types import PlacementContext, WorkflowConfig
from gateway.placement.workflow_updates import PlacementWorkflow
from gateway.placement.workflow_views import facility_task_view, progress_view

router = APIRouter(prefix="/placement")
Resource = dict[str, Any]

REQUEST_OPS = {
    "$transport": Phase.TRANSPORT,
    "$en-route": Phase.EN_ROUTE,
    "$arrived": Phase.ARRIVED,
    "$complete": Phase.COMPLETED,
    "$cancel": Phase.CANCELLED,
    "$fail": Phase.FAILED,
}
TASK_OPS = {
    "$received": OfferState.RECEIVED,
    "$accept": OfferState.ACCEPTED,
    "$reject": OfferState.REJECTED,
}
METRICS_ROLES = ("bha_auditor", "gateway_admin")


def placement_context(request: Request) -> PlacementContext:
    """The app's workflow context (a default one, asking nobody, until one is installed)."""
    state = request.app.state
    ctx = getattr(state, "placement", None)
    if ctx is None:
        ctx = PlacementContext(
            fhir_base=state.settings.fhir_base,
            config=WorkflowConfig.from_env(),
            labeller=getattr(state, "labeller", None),
        )
        state.placement = ctx
    return ctx


async def _params(request: Request) -> dict[str, Any]:
    """A small JSON object or FHIR Parameters body as a dict (empty body → {})."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "the body is not valid JSON", expression="$", code="structure"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", expression="$")
    if body.get("resourceType") != "Parameters":
        return body
    out: dict[str, Any] = {}
    for param in body.get("parameter") or []:
        if not isinstance(param, dict) or "name" not in param:
            continue
        value = next((v for k, v in param.items() if k.startswith("value")), None)
        out[str(param["name"])] = value
    return out


def _fhir(doc: Resource, status: int = 200) -> Response:
    version = (doc.get("meta") or {}).get("versionId")
    headers = {"ETag": f'W/"{version}"'} if version else {}
    return Response(orjson.dumps(doc), status_code=status, headers=headers, media_type=FHIR_JSON)


def _near(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        lat, lon = (float(p) for p in text.split(","))
    except ValueError:
        raise InvalidRequest("near is 'latitude,longitude'", expression="near") from None
    return lat, lon


@router.post("/requests")
async def open_request(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "c", "ServiceRequest")
    require(caller, "c", "Task")
    body = await _params(request)
    near = _near(request.query_params.get("near"))
    count = request.query_params.get("count")
    if count is not None and (not count.isdigit() or not 0 < int(count) <= 50):
        raise InvalidRequest("count is a whole number from 1 to 50", expression="count")
    ctx = placement_context(request)

    def run() -> Resource:
        prepare_candidates(ctx)
        with audited(request, caller, "create", "Task") as trail:
            wf = PlacementWorkflow(trail.session, ctx)
            opened = wf.open_request(
                caller, body, near=near, n=int(count) if count is not None else None
            )
            trail.touch(opened.service_request, opened.parent, *opened.children)
        base = ctx.fhir_base
        docs = [opened.service_request, opened.parent, *opened.children]
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "collection",
            "entry": [
                {"fullUrl": f"{base}/{d['resourceType']}/{d['id']}", "resource": d} for d in docs
            ],
        }

    bundle = await run_in_threadpool(run)
    parent = bundle["entry"][1]["resource"]
    response = _fhir(bundle, 201)
    response.headers["Location"] = f"{ctx.fhir_base}/Task/{parent['id']}"
    return response


@router.get("/requests/{some_id}")
def request_progress(
    some_id: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    require(caller, "r", "Task")
    ctx = placement_context(request)
    with audited(request, caller, "read", "Task") as trail:
        body = progress_view(PlacementWorkflow(trail.session, ctx), trail, caller, some_id)
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/tasks/{task_id}")
def facility_task(task_id: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    """A facility Task with the request as the caller may see it (see ``workflow_views``)."""
    require(caller, "r", "Task")
    ctx = placement_context(request)
    with audited(request, caller, "read", "Task") as trail:
        body = facility_task_view(PlacementWorkflow(trail.session, ctx), trail, caller, task_id)
    return _fhir(body)


@router.post("/requests/{some_id}/{operation}")
async def request_operation(
    some_id: str, operation: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    wanted = REQUEST_OPS.get(operation)
    if wanted is None:
        raise NotFound(f"no operation {operation[:40]} on placement requests")
    require(caller, "u", "Task")
    params = await _params(request)
    ctx = placement_context(request)

    def run() -> Resource:
        with audited(request, caller, "operation", "Task") as trail:
            parent, child = PlacementWorkflow(trail.session, ctx).request_action(
                caller,
                some_id,
                wanted,
                reason=_text(params.get("reason")),
                text=_text(params.get("text")),
            )
            trail.touch(parent, child)
            return parent

    return _fhir(await run_in_threadpool(run))


@router.post("/tasks/{task_id}/{operation}")
async def task_operation(
    task_id: str, operation: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    wanted = TASK_OPS.get(operation)
    if wanted is None:
        raise NotFound(f"no operation {operation[:40]} on placement Tasks")
    require(caller, "u", "Task")
    params = await _params(request)
    bed = params.get("bed")
    if wanted == OfferState.ACCEPTED and not bed:
        raise InvalidRequest(
            "$accept names the reserved bed: 'bed' (a Location reference or a label)",
            expression="bed",
            code="required",
        )
    ctx = placement_context(request)

    def run() -> Resource:
        with audited(request, caller, "operation", "Task") as trail:
            child = PlacementWorkflow(trail.session, ctx).offer_action(
                caller,
                task_id,
                wanted,
                bed=bed,
                reason=_text(params.get("reason")),
                text=_text(params.get("text")),
            )
            trail.touch(child)
            return child

    return _fhir(await run_in_threadpool(run))


@router.get("/metrics")
def metrics(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require_role(caller, *METRICS_ROLES)
    params = request.query_params
    try:
        start = date_range(params["from"])[0] if params.get("from") else 0.0
        end = date_range(params["to"])[1] if params.get("to") else time.time()
    except BadDate:
        raise InvalidRequest(
            "from/to are FHIR dates or date-times, e.g. 2025-03-01", expression="from"
        ) from None
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidRequest("format is json or csv", expression="format")
    with audited(request, caller, "operation") as trail:
        numbers = placement_metrics(trail.session, start, end)
    if fmt == "csv":
        return Response(metrics_csv(numbers), media_type="text/csv; charset=utf-8")
    return Response(orjson.dumps(numbers), media_type="application/json")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):  # valueCoding / valueCodeableConcept
        return value.get("code") or value.get("text")
    return str(value)
