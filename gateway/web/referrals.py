"""Referral pages: "Refer for follow-up" from a crisis-response person page, the receiving
organisation's work queue with its steps (receive, accept, reject, book, complete), and the status
of the referrals the user's agency made.

Each action runs the referral services exactly as ``/referrals`` does: the same scope checks, the
person read through the caller's sharing guard first (403 when withheld), one unit of work with its
AuditEvent appended before it commits, and refused steps (403, 409) audited.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.audit.fhir_trail import record_refusal
from gateway.auth.deps import require
from gateway.auth.repository import AuthRepository
from gateway.fhir.errors import FhirError
from gateway.placement.trail import Trail, audited
from gateway.referral import codes
from gateway.referral.endpoints import referral_context
from gateway.referral.lifecycle import ReferralLifecycle, Step
from gateway.referral.queue import queue_view
from gateway.referral.service import ReferralService
from gateway.referral.transitions import OPEN, State
from gateway.web.deps import CRISIS_ROLES, BadForm, ConsoleRoute, ConsoleUser, console_user, form_of
from gateway.web.render import render

router = APIRouter(prefix="/console", route_class=ConsoleRoute)
RECEIVER_ROLES = ("bh_case_manager",)
REFERRAL_ROLES = (*CRISIS_ROLES, *RECEIVER_ROLES)
RECEIVING_KINDS = ("bha", "crisis-team", "hospital")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
STEPS = {
    "receive": State.RECEIVED,
    "accept": State.ACCEPTED,
    "reject": State.REJECTED,
    "book": State.IN_PROGRESS,
    "complete": State.COMPLETED,
}
# The step each state offers the receiver on the page (the lifecycle decides what is legal).
NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "requested": ("receive", "accept", "reject"),
    "received": ("accept", "reject"),
    "accepted": ("book",),
    "in-progress": ("complete",),
}
STATE_LABELS = {
    "requested": "Sent, not yet seen",
    "received": "Received",
    "accepted": "Accepted",
    "rejected": "Rejected",
    "in-progress": "Appointment booked",
    "completed": "Completed",
    "cancelled": "Cancelled",
}


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise BadForm("That link is not valid.")
    return value


def _refusals_audited(request: Request, work: Callable[[], Any]) -> Any:
    """Run ``work``; a refused step (409, as the API) is audited apart (403s by the console)."""
    try:
        return work()
    except FhirError as exc:
        if exc.status == 409:
            record_refusal(request, exc.status, "operation", exc.diagnostics)
        raise


def receiving_organisations(request: Request, own: str) -> list[tuple[str, str]]:
    """(id, name) of the agencies a referral may be addressed to (not the user's own)."""
    with request.app.state.db.unit_of_work() as session:
        rows = AuthRepository(session).agencies()
        return [(a.id, a.name) for a in rows if a.kind in RECEIVING_KINDS and a.id != own]


def refer_choices(request: Request, user: ConsoleUser) -> dict[str, Any]:
    """What the "Refer for follow-up" form offers."""
    return {
        "service_types": codes.SERVICE_TYPES,
        "urgencies": codes.URGENCIES,
        "organisations": receiving_organisations(request, user.agency),
    }


def service_request(pid: str, form: dict[str, str], organisations: list[str]) -> dict[str, Any]:
    """The ServiceRequest the form describes (a clear message for anything missing or unknown)."""
    kind = form.get("service_type", "")
    if kind not in codes.SERVICE_TYPES:
        raise BadForm("Choose a service type from the list.")
    urgency = form.get("urgency", "")
    if urgency not in codes.URGENCIES:
        raise BadForm("Choose how urgent the follow-up is.")
    reason = form.get("reason", "").strip()
    if not reason:
        raise BadForm("Say briefly why the person is referred.")
    if len(reason) > 500:
        raise BadForm("Keep the reason under 500 characters.")
    sr: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": urgency,
        "code": codes.coded(codes.SERVICE_TYPE_SYSTEM, codes.SERVICE_TYPES, kind),
        "subject": {"reference": f"Patient/{pid}"},
        "reasonCode": [{"text": reason}],
    }
    org = form.get("organisation", "")
    if org:
        if org not in organisations:
            raise BadForm("Choose a receiving organisation from the list, or leave it empty.")
        sr["performer"] = [{"reference": f"Organization/{org}"}]
    return sr


@router.post("/crisis/patients/{pid}/refer")
async def refer(request: Request, pid: str) -> Response:
    """Open a referral for the person (as ``POST /referrals``), then show its status."""
    user = console_user(request, *CRISIS_ROLES)
    _check_id(pid)
    form = await form_of(request, user)
    require(user.caller, "c", "ServiceRequest")
    require(user.caller, "c", "Task")
    ctx = referral_context(request)

    def run() -> None:
        orgs = [o for o, _ in receiving_organisations(request, user.agency)]
        body = service_request(pid, form, orgs)
        with audited(request, user.caller, "create", "Task") as trail:
            svc = ReferralService(trail.session, ctx)
            trail.shown(svc.read("Patient", pid))  # 403 when the rules withhold the person
            opened = svc.open(user.caller.agency, body, source="console")
            trail.touch(opened.service_request, opened.task)

    await run_in_threadpool(_refusals_audited, request, run)
    return RedirectResponse("/console/referrals?sent=1", status_code=303)


def _rows(view: dict[str, Any]) -> list[dict[str, Any]]:
    """A queue view's items with what the page shows: labels and the steps it offers."""
    out = []
    for item in view["items"]:
        out.append(
            {
                **item,
                "id": item["task"]["id"],
                "service": codes.SERVICE_TYPES.get(item["service_type"], item["service_type"]),
                "state_label": STATE_LABELS.get(item["state"], item["state"]),
                "steps": NEXT_STEPS.get(item["state"], ()),
            }
        )
    return out


def _queues(request: Request, user: ConsoleUser, states: list[str]) -> dict[str, Any]:
    """The agency's work queue and the referrals it made, read in one audited unit of work."""
    ctx = referral_context(request)
    with audited(request, user.caller, "search-type", "Task") as trail:
        mine = queue_view(trail.session, ctx, user.agency, states, None, None, "receiver")
        sent = queue_view(
            trail.session, ctx, user.agency, sorted(s.value for s in State), None, None, "referrer"
        )
        for item in [*mine["items"], *sent["items"]][:100]:
            trail.touch_ref(f"Task/{item['task']['id']}")
    return {"queue": mine, "queue_rows": _rows(mine), "sent_rows": _rows(sent)}


@router.get("/referrals")
async def referrals_home(request: Request, status: str = "open") -> Response:
    """The agency's work queue (open referrals, or all) and the referrals it made."""
    user = console_user(request, *REFERRAL_ROLES)
    require(user.caller, "r", "Task")
    if not user.agency:
        raise BadForm("Your sign-in names no organisation, so there is no work queue.")
    if status not in ("open", "all"):
        raise BadForm("Show open referrals or all of them.")
    states = sorted(s.value for s in (OPEN if status == "open" else frozenset(State)))
    data = await run_in_threadpool(_queues, request, user, states)
    return render(
        request,
        "referrals.html",
        {
            "title": "Referrals",
            "status": status,
            "just_sent": request.query_params.get("sent") == "1",
            "reject_reasons": codes.REJECT_REASONS,
            "outcomes": codes.OUTCOMES,
            **data,
        },
    )


def appointment_start(text: str, zone: str) -> str:
    """A ``datetime-local`` value in the referral zone as an ISO instant (BadForm otherwise)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadForm("Give the appointment date and time.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone))
    return when.isoformat(timespec="seconds")


def step_of(form: dict[str, str], zone: str) -> Step:
    """The lifecycle step a queue form asks for, with what it needs."""
    wanted = STEPS.get(form.get("step", ""))
    if wanted is None:
        raise BadForm("Choose one of the steps the page offers.")
    text = form.get("text", "").strip()[:300] or None
    if wanted == State.REJECTED:
        reason = form.get("reason", "")
        if reason not in codes.REJECT_REASONS:
            raise BadForm("Choose why the referral is rejected.")
        return Step(wanted, reason=reason, text=text)
    if wanted == State.IN_PROGRESS:
        return Step(wanted, appointment={"start": appointment_start(form.get("at", ""), zone)})
    if wanted == State.COMPLETED:
        outcome = form.get("outcome", "")
        if outcome not in codes.OUTCOMES:
            raise BadForm("Choose the outcome of the follow-up.")
        return Step(wanted, outcome=outcome, text=text)
    return Step(wanted, text=text)


@router.post("/referrals/{task}/step")
async def referral_step(request: Request, task: str) -> Response:
    """Move a referral one step (as ``POST /referrals/{id}/$…``)."""
    user = console_user(request, *REFERRAL_ROLES)
    _check_id(task)
    form = await form_of(request, user)
    require(user.caller, "u", "Task")
    ctx = referral_context(request)
    step = step_of(form, ctx.config.timezone)

    def run() -> None:
        with audited(request, user.caller, "operation", "Task") as trail:
            moved = ReferralLifecycle(trail.session, ctx).act(
                user.caller.agency, user.caller.role, task, step
            )
            _touch(trail, moved)

    await run_in_threadpool(_refusals_audited, request, run)
    return RedirectResponse("/console/referrals", status_code=303)


def _touch(trail: Trail, task: dict[str, Any]) -> None:
    """Name the moved Task and its patient in the step's AuditEvent."""
    trail.touch(task)
    patient = (task.get("for") or {}).get("reference")
    if patient and patient not in trail.patients:
        trail.patients.append(patient)
