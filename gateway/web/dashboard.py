"""The program dashboard page: the figures of ``GET /outcomes/dashboard`` (same service, same small
cell suppression, same audit) as charts, with the period and program chosen in a form and a CSV
download of exactly what is shown."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.audit.context import audit_context
from gateway.audit.log import get_audit_log
from gateway.fhir.errors import InvalidRequest
from gateway.outcomes.export import to_csv
from gateway.outcomes.followup import installed
from gateway.outcomes.period import parse_period
from gateway.outcomes.programs import ProgramsError, load_programs
from gateway.outcomes.service import OutcomesService
from gateway.outcomes.suppression import suppress
from gateway.web.charts import charts
from gateway.web.deps import DASHBOARD_ROLES, BadForm, ConsoleRoute, console_user
from gateway.web.render import SECURITY_HEADERS, render

router = APIRouter(prefix="/console", route_class=ConsoleRoute)


def _dashboard(request: Request, user: Any, fmt: str) -> tuple[dict[str, Any], list[str]]:
    params = request.query_params
    try:
        programs = load_programs(request.app.state.settings)
    except ProgramsError:
        raise BadForm("The program configuration is invalid; ask an administrator.") from None
    program = programs.get(params.get("program") or None)
    if program is None:
        raise BadForm("Choose one of the programs listed.")
    try:
        period = parse_period(params.get("from") or None, params.get("to") or None, program.zone)
    except InvalidRequest as exc:
        raise BadForm(exc.diagnostics) from None
    state = request.app.state
    audit = get_audit_log(state)
    with state.db.unit_of_work() as session:
        body = suppress(
            OutcomesService(session, follow_ups=installed(state)).dashboard(program, period)
        )
        what = (
            f"program dashboard {program.key} {body['period']['from']} to "
            f"{body['period']['to']} ({fmt}, aggregates only)"
        )
        audit.append(session, audit.events.export(audit_context(request, user.caller), what))
    return body, sorted(programs.by_key)


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    user = console_user(request, *DASHBOARD_ROLES)
    body, programs = await run_in_threadpool(_dashboard, request, user, "html")
    query = request.url.query
    return render(
        request,
        "dashboard.html",
        {
            "title": "Program dashboard",
            "body": body,
            "charts": charts(body),
            "programs": programs,
            "csv": "/console/dashboard.csv" + (f"?{query}" if query else ""),
            "since": request.query_params.get("from", ""),
            "until": request.query_params.get("to", ""),
        },
    )


@router.get("/dashboard.csv")
async def dashboard_csv(request: Request) -> Response:
    user = console_user(request, *DASHBOARD_ROLES)
    body, _ = await run_in_threadpool(_dashboard, request, user, "csv")
    name = f"outcomes-{body['program']['id']}-{body['months'][0]}-{body['months'][-1]}.csv"
    return Response(
        to_csv(body),
        media_type="text/csv; charset=utf-8",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )
