"""Facility intake pages: incoming asks (live), accept with the unit or decline with a reason, move
an accepted placement to arrival and admission, and the units' bed census in two clicks."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.placement.census_endpoints import service as census_service
from gateway.placement.trail import audited
from gateway.placement.transitions import DECLINE_REASONS, Phase
from gateway.placement.workflow_endpoints import placement_context
from gateway.placement.workflow_updates import PlacementWorkflow
from gateway.web import intake_service as svc_
from gateway.web.deps import INTAKE_ROLES, BadForm, ConsoleRoute, console_user, form_of
from gateway.web.render import SECURITY_HEADERS, render, render_fragment
from gateway.web.trail import audited_unit, guarded_service

router = APIRouter(prefix="/console", route_class=ConsoleRoute)
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
FACILITY_MOVES = {"arrived": Phase.ARRIVED, "completed": Phase.COMPLETED}


def _id(value: str) -> str:
    if not _ID.match(value):
        raise BadForm("That link is not valid.")
    return value


def _context(request: Request, user: Any) -> dict[str, Any]:
    ctx = placement_context(request)
    with audited(request, user.caller, "read", "Task") as trail:
        asks = svc_.asks(trail, ctx, user.caller)
    with audited_unit(request, user.caller, "search-type", resource_type="HealthcareService") as s:
        units = svc_.units(guarded_service(request, s, user.caller), user.agency)
    names = {u.id: u.name for u in units}
    return {
        "asks": asks,
        "units": units,
        "names": names,
        "reasons": DECLINE_REASONS,
        "open_count": sum(1 for a in asks if a.open),
    }


@router.get("/intake")
async def intake(request: Request) -> Response:
    user = console_user(request, *INTAKE_ROLES)
    ctx = await run_in_threadpool(_context, request, user)
    return render(request, "intake.html", {"title": "Facility intake", **ctx})


@router.get("/api/intake")
async def intake_live(request: Request) -> Response:
    user = console_user(request, *INTAKE_ROLES)
    ctx = await run_in_threadpool(_context, request, user)
    html = render_fragment(request, "intake_asks.html", ctx)
    return JSONResponse({"html": html, "final": False}, headers=SECURITY_HEADERS)


@router.post("/intake/tasks/{task}")
async def answer(request: Request, task: str) -> Response:
    user = console_user(request, *INTAKE_ROLES)
    _id(task)
    form = await form_of(request, user)
    ctx = placement_context(request)

    def run() -> None:
        with audited(request, user.caller, "operation", "Task") as trail:
            trail.touch(svc_.answer(trail.session, ctx, user.caller, task, form))

    await run_in_threadpool(run)
    return RedirectResponse("/console/intake", status_code=303)


@router.post("/intake/tasks/{task}/move")
async def move(request: Request, task: str) -> Response:
    user = console_user(request, *INTAKE_ROLES)
    _id(task)
    form = await form_of(request, user)
    wanted = FACILITY_MOVES.get(form.get("to", ""))
    if wanted is None:
        raise BadForm("Choose one of the steps the page offers.")
    ctx = placement_context(request)

    def run() -> None:
        with audited(request, user.caller, "operation", "Task") as trail:
            parent, child = PlacementWorkflow(trail.session, ctx).request_action(
                user.caller, task, wanted
            )
            trail.touch(parent, child)

    await run_in_threadpool(run)
    return RedirectResponse("/console/intake", status_code=303)


@router.post("/intake/units/{unit_id}/census")
async def census(request: Request, unit_id: str) -> Response:
    user = console_user(request, *INTAKE_ROLES)
    _id(unit_id)
    form = await form_of(request, user)

    def run() -> None:
        # as PUT /placement/units/{id}/census: the unit's own facility only, checked on the unit
        with audited(request, user.caller, "update", "HealthcareService") as trail:
            trail.touch(
                svc_.set_census(census_service(request, trail.session), user.caller, unit_id, form)
            )

    await run_in_threadpool(run)
    return RedirectResponse("/console/intake#census", status_code=303)
