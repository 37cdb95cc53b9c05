"""Crisis-response pages: find or register the person, preview matching facilities on a list and a
map, send the placement request, and follow it live (polled every few seconds)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.placement.trail import audited
from gateway.placement.transitions import DECLINE_REASONS, Phase
from gateway.placement.workflow_endpoints import placement_context
from gateway.placement.workflow_matcher import prepare_candidates
from gateway.placement.workflow_updates import PlacementWorkflow
from gateway.placement.workflow_views import progress_view
from gateway.web import crisis_service as cs
from gateway.web.deps import CRISIS_ROLES, BadForm, ConsoleRoute, console_user, form_of
from gateway.web.referrals import refer_choices
from gateway.web.render import SECURITY_HEADERS, render, render_fragment
from gateway.web.repository import ConsoleRepository
from gateway.web.trail import audited_unit, guarded_service

router = APIRouter(prefix="/console", route_class=ConsoleRoute)
_ID = r"^[A-Za-z0-9\-.]{1,64}$"
PHASES = ("open", "reserved", "transport", "en-route", "arrived", "completed")
REQUESTER_MOVES = {
    "reserved": [("transport", "Transport arranged")],
    "transport": [("en-route", "Patient en route")],
    "en-route": [("arrived", "Arrived at the facility")],
}
MOVE_PHASE = {
    "transport": Phase.TRANSPORT,
    "en-route": Phase.EN_ROUTE,
    "arrived": Phase.ARRIVED,
    "cancel": Phase.CANCELLED,
}


def _check_id(value: str) -> str:
    import re

    if not re.match(_ID, value):
        raise BadForm("That link is not valid.")
    return value


@router.get("/crisis")
async def crisis_home(request: Request, name: str = "", birth_date: str = "") -> Response:
    user = console_user(request, *CRISIS_ROLES)
    people: list[cs.PersonRow] | None = None

    def run() -> tuple[list[cs.PersonRow] | None, list[Any]]:
        found = None
        if name or birth_date:
            cs.check_person_query(name, birth_date)
            with audited_unit(request, user.caller, "search-type", resource_type="Patient") as s:
                found = cs.find_people(guarded_service(request, s, user.caller), name, birth_date)
        with request.app.state.db.unit_of_work() as s:
            mine = list(ConsoleRepository(s).requests_of(user.agency))
            for row in mine:
                s.expunge(row)
        return found, mine

    people, requests = await run_in_threadpool(run)
    return render(
        request,
        "crisis.html",
        {
            "title": "Crisis response",
            "people": people,
            "name": name,
            "birth_date": birth_date,
            "requests": requests,
            "care_labels": cs.CARE_CHOICES,
        },
    )


@router.post("/crisis/patients")
async def register(request: Request) -> Response:
    user = console_user(request, *CRISIS_ROLES)
    form = await form_of(request, user)

    def run() -> str:
        with audited_unit(request, user.caller, "create", resource_type="Patient") as s:
            return cs.register_person(guarded_service(request, s, user.caller), form)

    pid = await run_in_threadpool(run)
    return RedirectResponse(f"/console/crisis/patients/{pid}", status_code=303)


def _person_page(request: Request, pid: str, user: Any) -> tuple[cs.PersonRow, list[cs.Shared]]:
    with audited_unit(
        request, user.caller, "read", resource_type="Patient", patients=[f"Patient/{pid}"]
    ) as s:
        svc = guarded_service(request, s, user.caller)
        person = cs.read_person(svc, pid)
        shared = cs.shared_records(svc, pid)
    return person, shared


@router.get("/crisis/patients/{pid}")
async def person(request: Request, pid: str) -> Response:
    user = console_user(request, *CRISIS_ROLES)
    _check_id(pid)
    found, shared = await run_in_threadpool(_person_page, request, pid, user)
    refer = await run_in_threadpool(refer_choices, request, user)
    return render(
        request,
        "person.html",
        {
            "title": "Placement request",
            "person": found,
            "shared": shared,
            "refer": refer,
            "choices": cs.CARE_CHOICES,
            "crit": cs.Criteria(care="AdultPsychiatric"),
        },
    )


@router.post("/crisis/patients/{pid}/preview")
async def preview(request: Request, pid: str) -> Response:
    user = console_user(request, *CRISIS_ROLES)
    _check_id(pid)
    form = await form_of(request, user)
    crit = cs.read_criteria(form)

    def run() -> tuple[cs.PersonRow, list[cs.Shared], list[cs.Ranked]]:
        found, shared = _person_page(request, pid, user)
        return found, shared, cs.preview(request.app, found, crit)

    found, shared, ranked = await run_in_threadpool(run)
    refer = await run_in_threadpool(refer_choices, request, user)
    ctx = placement_context(request)
    return render(
        request,
        "person.html",
        {
            "title": "Matching facilities",
            "person": found,
            "shared": shared,
            "refer": refer,
            "choices": cs.CARE_CHOICES,
            "crit": crit,
            "ranked": ranked,
            "first": cs.asked_first(ranked, ctx.config.top_n, ctx.config.radii_km),
            "scale": cs.map_scale(ranked, crit.max_km),
        },
    )


@router.post("/crisis/patients/{pid}/request")
async def send(request: Request, pid: str) -> Response:
    user = console_user(request, *CRISIS_ROLES)
    _check_id(pid)
    form = await form_of(request, user)
    crit = cs.read_criteria(form)
    ctx = placement_context(request)

    def run() -> str:
        prepare_candidates(ctx)
        # as POST /placement/requests: one unit of work, the AuditEvent naming what was written
        with audited(request, user.caller, "create", "Task") as trail:
            wf = PlacementWorkflow(trail.session, ctx)
            trail.shown(wf.read("Patient", pid))  # 403 when the rules withhold the person
            opened = cs.open_placement(trail.session, ctx, user.caller, pid, crit)
            trail.touch(opened.service_request, opened.parent, *opened.children)
        return str(opened.parent["id"])

    task = await run_in_threadpool(run)
    return RedirectResponse(f"/console/requests/{task}", status_code=303)


def _progress(request: Request, user: Any, task: str) -> dict[str, Any]:
    ctx = placement_context(request)
    with audited(request, user.caller, "read", "Task") as trail:
        wf = PlacementWorkflow(trail.session, ctx)
        summary = progress_view(wf, trail, user.caller, task)
    names = cs.unit_names(request.app)
    offers = []
    for offer in summary["offers"]:
        facility, unit = names.get(offer["unit"], (offer["organization"], ""))
        offers.append(
            {
                **offer,
                "facility": facility,
                "unit_name": unit,
                "reason_text": DECLINE_REASONS.get(offer.get("reason") or "", offer.get("reason")),
            }
        )
    phase = summary["phase"]
    return {
        "summary": summary,
        "offers": offers,
        "phase": phase,
        "phases": PHASES,
        "done": PHASES.index(phase) if phase in PHASES else -1,
        "moves": REQUESTER_MOVES.get(phase, []),
        "can_cancel": phase in ("open", "reserved", "transport", "en-route", "arrived"),
        "final": phase in ("completed", "cancelled", "failed"),
        "task": task,
    }


@router.get("/requests/{task}")
async def progress(request: Request, task: str) -> Response:
    user = console_user(request, *CRISIS_ROLES)
    _check_id(task)
    ctx = await run_in_threadpool(_progress, request, user, task)
    return render(request, "progress.html", {"title": "Placement progress", **ctx})


@router.get("/api/requests/{task}")
async def progress_live(request: Request, task: str) -> Response:
    user = console_user(request, *CRISIS_ROLES)
    _check_id(task)
    ctx = await run_in_threadpool(_progress, request, user, task)
    html = render_fragment(request, "progress_status.html", ctx)
    return JSONResponse(
        {"html": html, "phase": ctx["phase"], "final": ctx["final"]}, headers=SECURITY_HEADERS
    )


@router.post("/requests/{task}/move")
async def move(request: Request, task: str) -> Response:
    user = console_user(request, *CRISIS_ROLES)
    _check_id(task)
    form = await form_of(request, user)
    wanted = MOVE_PHASE.get(form.get("to", ""))
    if wanted is None:
        raise BadForm("Choose one of the steps the page offers.")
    text = form.get("text", "").strip()[:300] or None
    if wanted == Phase.CANCELLED and not text:
        raise BadForm("Say why the request is cancelled.")
    ctx = placement_context(request)

    def run() -> None:
        with audited(request, user.caller, "operation", "Task") as trail:
            parent, child = PlacementWorkflow(trail.session, ctx).request_action(
                user.caller,
                task,
                wanted,
                reason="request-cancelled" if wanted == Phase.CANCELLED else None,
                text=text,
            )
            trail.touch(parent, child)

    await run_in_threadpool(run)
    return RedirectResponse(f"/console/requests/{task}", status_code=303)
