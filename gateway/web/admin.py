"""Administration pages (role ``gateway_admin``): agencies, people and their roles, agency systems,
and the data-sharing agreements in force. Changes run through the registry and the audit of the
admin API (``gateway.auth.admin``): one DCM 110137 event per change, in its unit of work."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.auth.admin import _change, client_json
from gateway.auth.repository import AuthRepository
from gateway.auth.roles import AGENCY_KINDS, PERSON_ROLES
from gateway.web.deps import ADMIN_ROLES, BadForm, ConsoleRoute, console_user, form_of
from gateway.web.render import render
from policies.agreements import AgreementSet

router = APIRouter(prefix="/console", route_class=ConsoleRoute)
_NAME = re.compile(r"^[A-Za-z0-9_\-.@]{1,128}$")


def _agreements(request: Request) -> list[dict[str, str]]:
    path = request.app.state.settings.agreements_file
    loaded = AgreementSet.load(path) if path else AgreementSet.load()
    return [
        {
            "id": a.id,
            "version": str(a.version),
            "parties": f"{', '.join(sorted(a.parties_from))} → {', '.join(sorted(a.parties_to))}"
            + (" (both ways)" if a.mutual else ""),
            "period": f"{a.valid_from} to {a.valid_to or 'open'}",
            "covers": f"{', '.join(sorted(a.data_classes))} for {', '.join(sorted(a.purposes))}",
        }
        for a in loaded.agreements
    ]


@router.get("/admin")
async def admin_home(request: Request) -> Response:
    console_user(request, *ADMIN_ROLES)

    def run() -> dict[str, Any]:
        with request.app.state.db.unit_of_work() as session:
            repo = AuthRepository(session)
            agencies = [{"id": a.id, "kind": a.kind, "name": a.name} for a in repo.agencies()]
            users = [
                {
                    "username": u.username,
                    "agency_id": u.agency_id,
                    "role": u.role,
                    "enabled": u.enabled,
                }
                for u in repo.users()
            ]
            clients = [client_json(c) for c in repo.clients()]
        return {"agencies": agencies, "users": users, "clients": clients}

    data = await run_in_threadpool(run)
    return render(
        request,
        "admin.html",
        {
            "title": "Administration",
            "kinds": sorted(AGENCY_KINDS),
            "roles": sorted(PERSON_ROLES),
            "agreements": _agreements(request),
            **data,
        },
    )


@router.post("/admin/agencies")
async def add_agency(request: Request) -> Response:
    user = console_user(request, *ADMIN_ROLES)
    form = await form_of(request, user)
    agency, kind, name = form.get("id", ""), form.get("kind", ""), form.get("name", "").strip()
    if not re.match(r"^[a-z0-9][a-z0-9\-]{0,63}$", agency):
        raise BadForm("An agency id is lower-case letters, digits and dashes.")
    if not name or len(name) > 200:
        raise BadForm("Give the agency's name.")
    await _change(
        request,
        user.caller,
        ("agency", agency, "C"),
        lambda r: r.add_agency(agency, kind, name),
        detail=f"kind {kind}",
    )
    return RedirectResponse("/console/admin", status_code=303)


@router.post("/admin/users")
async def add_user(request: Request) -> Response:
    user = console_user(request, *ADMIN_ROLES)
    form = await form_of(request, user)
    username = form.get("username", "").strip()
    if not _NAME.match(username):
        raise BadForm("A username is letters, digits and . _ - @ (up to 128).")
    agency, role, password = form.get("agency", ""), form.get("role", ""), form.get("password", "")
    await _change(
        request,
        user.caller,
        ("user", username, "C"),
        lambda r: r.add_user(username, agency, role, password),
        detail=f"role {role}",
    )
    return RedirectResponse("/console/admin", status_code=303)


def _enabled(form: dict[str, str]) -> bool:
    value = form.get("enabled", "")
    if value not in ("true", "false"):
        raise BadForm("Enable or disable.")
    return value == "true"


@router.post("/admin/users/{username}/enabled")
async def user_enabled(request: Request, username: str) -> Response:
    user = console_user(request, *ADMIN_ROLES)
    form = await form_of(request, user)
    enabled = _enabled(form)
    if not _NAME.match(username):
        raise BadForm("That link is not valid.")
    if username == user.name and not enabled:
        raise BadForm("You cannot disable your own account.")
    await _change(
        request,
        user.caller,
        ("user", username, "U"),
        lambda r: r.set_user_enabled(username, enabled),
        detail="enabled" if enabled else "disabled",
    )
    return RedirectResponse("/console/admin", status_code=303)


@router.post("/admin/clients/{client_id}/enabled")
async def client_enabled(request: Request, client_id: str) -> Response:
    user = console_user(request, *ADMIN_ROLES)
    form = await form_of(request, user)
    enabled = _enabled(form)
    if not _NAME.match(client_id):
        raise BadForm("That link is not valid.")
    await _change(
        request,
        user.caller,
        ("client", client_id, "U"),
        lambda r: r.set_client_enabled(client_id, enabled),
        detail="enabled" if enabled else "disabled",
    )
    return RedirectResponse("/console/admin", status_code=303)
