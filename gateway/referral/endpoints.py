"""``/referrals``: make a referral, work a queue, move a referral along, read it, count them.

Each endpoint is one unit of work with its AuditEvent appended before it commits (fail closed);
refused steps are audited too. Illegal transitions are 409, acting on a referral one is not party
to is 403, bad input is 400: always an ``OperationOutcome``.

    POST /referrals                                   ServiceRequest → 201 Bundle (ServiceRequest, Task)
    GET  /referrals/queue[?status=&urgency=&team=&overdue=true]  the organisation's work queue
    GET  /referrals/sent[?status=]                    the referrals the caller's agency made
    GET  /referrals/metrics?from=&to=&format=json|csv
    GET  /referrals/{id}                              status (Task or ServiceRequest id)
    POST /referrals/{id}/$receive|$accept|$reject|$book|$complete|$cancel|$forward
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from gateway.audit.fhir_trail import record_access, record_refusal
from gateway.auth.deps import get_caller, require, require_role
from gateway.auth.schemas import Caller
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import FhirError, Forbidden, InvalidRequest, NotFound
from gateway.fhir.schemas import FHIR_JSON
from gateway.placement.workflow_endpoints import _params as read_params
from gateway.referral import codes
from gateway.referral.forwarding import ReferralForwarding
from gateway.referral.lifecycle import ReferralLifecycle, Step
from gateway.referral.metrics import metrics_csv, referral_metrics
from gateway.referral.queue import queue_view, referral_view
from gateway.referral.service import ReferralService
from gateway.referral.transitions import OPEN, State
from gateway.referral.types import ReferralConfig, ReferralContext

router = APIRouter(prefix="/referrals")
Resource = dict[str, Any]
OPERATIONS = {
    "$receive": State.RECEIVED,
    "$accept": State.ACCEPTED,
    "$reject": State.REJECTED,
    "$book": State.IN_PROGRESS,
    "$complete": State.COMPLETED,
    "$cancel": State.CANCELLED,
}
METRICS_ROLES = ("bha_auditor", "gateway_admin")


def referral_context(request: Request) -> ReferralContext:
    """The app's referral context (a default one until :func:`setup.install` puts one there)."""
    state = request.app.state
    ctx = getattr(state, "referral", None)
    if ctx is None:
        ctx = ReferralContext(
            fhir_base=state.settings.fhir_base,
            config=ReferralConfig.from_env(),
            labeller=getattr(state, "labeller", None),
        )
        state.referral = ctx
    return ctx


def _json(body: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


def _audited(request: Request, caller: Caller, interaction: str, work: Callable[[Any], Any]) -> Any:
    """Run ``work(session)`` in one unit of work with its AuditEvent; refusals audited apart."""
    try:
        with request.app.state.db.unit_of_work() as session:
            result, resources, patients = work(session)
            record_access(
                request,
                session,
                caller,
                interaction,
                resources=resources,
                resource_type="Task",
                patients=patients,
            )
            return result
    except FhirError as exc:
        if exc.status in (403, 409):
            record_refusal(request, exc.status, interaction, exc.diagnostics)
        raise


def _patients(*ids: str | None) -> list[str]:
    return [f"Patient/{p}" for p in ids if p]


@router.post("")
async def make_referral(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "c", "ServiceRequest")
    require(caller, "c", "Task")
    body = await read_params(request)
    ctx = referral_context(request)

    def work(session: Any) -> tuple[Resource, list[str], list[str]]:
        opened = ReferralService(session, ctx).open(caller.agency, body, source="api")
        docs = [opened.service_request, opened.task]
        bundle = {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "collection",
            "entry": [
                {"fullUrl": f"{ctx.fhir_base}/{d['resourceType']}/{d['id']}", "resource": d}
                for d in docs
            ],
        }
        touched = [f"{d['resourceType']}/{d['id']}" for d in docs]
        return bundle, touched, _patients(opened.row.patient_id)

    bundle = await run_in_threadpool(_audited, request, caller, "create", work)
    task = bundle["entry"][1]["resource"]
    response = _json(bundle, 201, FHIR_JSON)
    response.headers["Location"] = f"{ctx.fhir_base}/Task/{task['id']}"
    return response


def _states(text: str | None, default: frozenset[State]) -> list[str]:
    if not text:
        return sorted(s.value for s in default)
    out = []
    for part in text.split(","):
        try:
            out.append(State(part.strip()).value)
        except ValueError:
            known = ", ".join(s.value for s in State)
            raise InvalidRequest(f"status is one or more of {known}", expression="status") from None
    return out


@router.get("/queue")
def work_queue(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "r", "Task")
    if not caller.agency:
        raise Forbidden("a work queue belongs to an organisation; this token names none")
    params = request.query_params
    states = _states(params.get("status"), OPEN)
    overdue = params.get("overdue")
    if overdue not in (None, "true", "false"):
        raise InvalidRequest("overdue is true or false", expression="overdue")
    urgencies = [u.strip() for u in (params.get("urgency") or "").split(",") if u.strip()]
    if any(u not in codes.URGENCIES for u in urgencies):
        raise InvalidRequest(
            f"urgency is one or more of {', '.join(codes.URGENCIES)}", expression="urgency"
        )
    ctx = referral_context(request)

    def work(session: Any) -> tuple[Resource, list[str], list[str]]:
        view = queue_view(
            session, ctx, caller.agency or "", states, params.get("team"), overdue, "receiver"
        )
        if urgencies:
            view["items"] = [i for i in view["items"] if i["urgency"] in urgencies]
            view["total"] = len(view["items"])
        return view, [f"Task/{i['task']['id']}" for i in view["items"]][:100], []

    return _json(_audited(request, caller, "search-type", work))


@router.get("/sent")
def sent(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "r", "Task")
    if not caller.agency:
        raise Forbidden("this token names no agency")
    states = _states(request.query_params.get("status"), frozenset(State))
    ctx = referral_context(request)

    def work(session: Any) -> tuple[Resource, list[str], list[str]]:
        view = queue_view(session, ctx, caller.agency or "", states, None, None, "referrer")
        return view, [f"Task/{i['task']['id']}" for i in view["items"]][:100], []

    return _json(_audited(request, caller, "search-type", work))


@router.get("/metrics")
def metrics(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require_role(caller, *METRICS_ROLES)
    params = request.query_params
    ctx = referral_context(request)
    now = ctx.clock.now()
    try:
        start = date_range(params["from"])[0] if params.get("from") else 0.0
        end = date_range(params["to"])[1] if params.get("to") else now + 1
    except BadDate:
        raise InvalidRequest(
            "from/to are FHIR dates or date-times, e.g. 2026-03-01", expression="from"
        ) from None
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidRequest("format is json or csv", expression="format")

    def work(session: Any) -> tuple[Resource, list[str], list[str]]:
        return referral_metrics(session, start, end, now), [], []

    numbers = _audited(request, caller, "search-type", work)
    if fmt == "csv":
        return Response(metrics_csv(numbers), media_type="text/csv; charset=utf-8")
    return _json(numbers)


@router.get("/{some_id}")
def referral_status(
    some_id: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    require(caller, "r", "Task")
    ctx = referral_context(request)

    def work(session: Any) -> tuple[Resource, list[str], list[str]]:
        guard = request.app.state.guard_factory(session, caller, request)
        request.state.guard = guard
        view = referral_view(session, ctx, caller, some_id, guard)
        return view, [f"Task/{view['task']['id']}"], _patients(view.get("patient_id"))

    return _json(_audited(request, caller, "read", work))


@router.post("/{some_id}/{operation}")
async def referral_step(
    some_id: str, operation: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    if operation == "$forward":
        return await forward(some_id, request, caller)
    wanted = OPERATIONS.get(operation)
    if wanted is None:
        known = ", ".join([*OPERATIONS, "$forward"])
        raise NotFound(f"no operation {operation[:40]} on referrals (known: {known})")
    require(caller, "u", "Task")
    params = await read_params(request)
    step = Step(
        wanted,
        reason=_text(params.get("reason")),
        text=_text(params.get("text")),
        outcome=_text(params.get("outcome")),
        appointment=params.get("appointment"),
    )
    ctx = referral_context(request)

    def work(session: Any) -> tuple[Resource, list[str], list[str]]:
        wf = ReferralLifecycle(session, ctx)
        task = wf.act(caller.agency, caller.role, some_id, step)
        patient = (task.get("for") or {}).get("reference")
        return task, [f"Task/{task['id']}"], [patient] if patient else []

    task = await run_in_threadpool(_audited, request, caller, "operation", work)
    version = (task.get("meta") or {}).get("versionId")
    response = _json(task, 200, FHIR_JSON)
    if version:
        response.headers["ETag"] = f'W/"{version}"'
    return response


async def forward(some_id: str, request: Request, caller: Caller) -> Response:
    """``$forward``: the receiver passes an unanswered referral on (``to``, optional ``text``)."""
    require(caller, "u", "Task")
    params = await read_params(request)
    to = params.get("to")
    if not isinstance(to, str | dict):
        raise InvalidRequest(
            "$forward names where to: 'to' = Organization/<id> or HealthcareService/<id>",
            expression="to",
            code="required",
        )
    ctx = referral_context(request)

    def work(session: Any) -> tuple[Resource, list[str], list[str]]:
        task = ReferralForwarding(session, ctx).forward(
            caller.agency, caller.role, some_id, to, _text(params.get("text"))
        )
        patient = (task.get("for") or {}).get("reference")
        return task, [f"Task/{task['id']}"], [patient] if patient else []

    task = await run_in_threadpool(_audited, request, caller, "operation", work)
    return _json(task, 200, FHIR_JSON)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):  # valueCoding / valueCodeableConcept
        return value.get("code") or value.get("text")
    return str(value)
