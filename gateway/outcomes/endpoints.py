"""``GET /outcomes/dashboard?from=&to=[&program=][&_format=json|csv]``: the program dashboard.

Roles: ``bha_auditor``, ``gateway_admin`` and ``program_reader`` (police command, city council:
aggregates only); anyone else gets 403, and no token 401. Aggregates only, small cells suppressed
(:mod:`gateway.outcomes.suppression`). Every answer is audited as an Export in the same unit of
work before the response is built; a refusal is audited in a unit of work of its own.
CSV with ``Accept: text/csv`` or ``_format=csv``: one row per figure, measure and month.
Server-rendered pages use :func:`dashboard_for`, the same checks and audit without HTTP.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from gateway.audit.context import audit_context
from gateway.audit.log import get_audit_log
from gateway.auth.deps import get_caller
from gateway.auth.schemas import Caller
from gateway.fhir.errors import FhirError, Forbidden, InvalidRequest
from gateway.outcomes.export import to_csv
from gateway.outcomes.followup import installed
from gateway.outcomes.period import parse_period
from gateway.outcomes.programs import Programs, ProgramsError, load_programs
from gateway.outcomes.service import OutcomesService
from gateway.outcomes.suppression import suppress

router = APIRouter(prefix="/outcomes", tags=["outcomes"])
log = logging.getLogger("gateway.outcomes")
DASHBOARD_ROLES = ("bha_auditor", "gateway_admin", "program_reader")
PARAMETERS = frozenset({"from", "to", "program", "_format"})
JSON_TYPES = frozenset({"application/json", "application/fhir+json", "application/*", "*/*"})
FORMATS = {"json": "json", "application/json": "json", "csv": "csv", "text/csv": "csv"}


class ProgramsUnavailable(FhirError):
    """The operator's programs file is wrong: the service cannot answer until it is fixed."""

    status, code = 503, "exception"


def _programs(request: Request) -> Programs:
    try:
        return load_programs(request.app.state.settings)
    except ProgramsError as exc:
        log.error("program configuration: %s", exc)
        raise ProgramsUnavailable(
            f"the program configuration (GATEWAY_PROGRAMS_FILE) is invalid: {exc}"
        ) from None


def _format(request: Request) -> str:
    asked = request.query_params.get("_format")
    if asked is not None:
        fmt = FORMATS.get(asked.strip().lower())
        if fmt is None:
            raise InvalidRequest("_format is json or csv", expression="_format")
        return fmt
    return _negotiate(request.headers.get("accept", ""))


def _negotiate(accept: str) -> str:
    """CSV when ``text/csv`` is the most preferred of what the header accepts (RFC 9110 §12.5.1
    quality values; the first listed wins a tie), JSON otherwise."""
    best, best_q = "json", -1.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        kind = "csv" if media.lower() == "text/csv" else "json"
        if kind == "json" and media.lower() not in JSON_TYPES:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q and q > 0:
            best, best_q = kind, q
    return best


def _refuse(request: Request, caller: Caller) -> None:
    """Audit the refusal (its own unit of work) and raise 403."""
    reason = f"the program dashboard needs the role {', '.join(DASHBOARD_ROLES)}"
    audit = get_audit_log(request.app.state)
    event = audit.events.rest(
        audit_context(request, caller),
        "operation",
        outcome="8",
        query=request.url.query or None,
        resource_type="outcomes/dashboard",
        outcome_desc=reason,
    )
    try:
        audit.record(request.app.state.db, event)
    except Exception as exc:  # the refusal stands either way; the failure is logged
        log.error("audit of a refusal failed: %s", type(exc).__name__)
    raise Forbidden(reason, code="forbidden")


def _check_parameters(request: Request) -> None:
    unknown = sorted(set(request.query_params.keys()) - PARAMETERS)
    if unknown:
        names = ", ".join(n[:40] for n in unknown[:5])
        raise InvalidRequest(
            f"unknown parameter(s): {names}; this report takes from, to, program and _format",
            expression=unknown[0][:40],
            code="not-supported",
        )
    for name in PARAMETERS:
        if len(request.query_params.getlist(name)) > 1:
            raise InvalidRequest(f"{name} is given more than once", expression=name)


def dashboard_for(
    request: Request,
    caller: Caller,
    *,
    since: str | None,
    until: str | None,
    program_key: str | None,
    channel: str = "json",
) -> dict[str, Any]:
    """The suppressed dashboard for ``caller``, refused (403, audited) for any other role and
    audited as an Export when given. For the API and for server-rendered pages alike (a page
    passes its own request and caller, so it is held to exactly what the API allows). Blocking:
    call it from a worker thread."""
    if caller.role not in DASHBOARD_ROLES:
        _refuse(request, caller)
    programs = _programs(request)
    program = programs.get(program_key)
    if program is None:
        known = ", ".join(sorted(programs.by_key))
        raise InvalidRequest(
            f"no program {(program_key or '')[:40]!r}; known programs: {known}",
            expression="program",
        )
    period = parse_period(since, until, program.zone)
    state = request.app.state
    audit = get_audit_log(state)
    with state.db.unit_of_work() as session:
        service = OutcomesService(session, follow_ups=installed(state))
        body = suppress(service.dashboard(program, period))
        what = (
            f"program dashboard {program.key} {body['period']['from']} to "
            f"{body['period']['to']} ({channel}, aggregates only)"
        )
        audit.append(session, audit.events.export(audit_context(request, caller), what))
    return body


@router.get("/dashboard")
async def dashboard(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    if caller.role not in DASHBOARD_ROLES:
        await run_in_threadpool(_refuse, request, caller)
    _check_parameters(request)
    fmt = _format(request)
    params = request.query_params
    body = await run_in_threadpool(
        lambda: dashboard_for(
            request,
            caller,
            since=params.get("from"),
            until=params.get("to"),
            program_key=params.get("program"),
            channel=fmt,
        )
    )
    if fmt == "csv":
        name = f"outcomes-{body['program']['id']}-{body['months'][0]}-{body['months'][-1]}.csv"
        return Response(
            to_csv(body),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(orjson.dumps(body), media_type="application/json")
