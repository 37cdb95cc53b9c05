"""The web console: server-rendered pages for the people in the workflow.

Signed in through the gateway's own login (authorization code + PKCE, :mod:`gateway.web.signin`);
every page action runs the API's services with the caller's sharing guard and audit
(:mod:`gateway.web.trail`). ``install(app)`` adds the routes and the static assets.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from gateway.web import admin, auditor, crisis, dashboard, intake, referrals, signin
from gateway.web.deps import ConsoleRoute, NotAllowed, console_user
from gateway.web.render import error_page

STATIC = Path(__file__).parent / "static"
HOME = {
    "police_officer": "/console/crisis",
    "cit_officer": "/console/crisis",
    "crisis_clinician": "/console/crisis",
    "ed_clinician": "/console/crisis",
    "bh_case_manager": "/console/referrals",
    "facility_intake": "/console/intake",
    "bha_auditor": "/console/audit",
    "gateway_admin": "/console/admin",
}

home_router = APIRouter(prefix="/console", route_class=ConsoleRoute)


@home_router.get("")
@home_router.get("/")
def home(request: Request) -> Response:
    """Each role's first page; a role with no page here gets a plain refusal."""
    user = console_user(request)
    target = HOME.get(user.role)
    if target is None:
        raise NotAllowed()
    return RedirectResponse(target, status_code=303)


@home_router.get("/{rest:path}", include_in_schema=False)
def unknown(request: Request, rest: str) -> Response:
    """Any other console address: signed in, a page that says so (not the API's JSON)."""
    console_user(request)
    return error_page(request, 404, "Not found", "There is no such page in the console.")


def install(app: FastAPI) -> None:
    """Mount the console's routes and its static files (served by the gateway itself)."""
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    for router in (
        signin.router,
        crisis.router,
        referrals.router,
        intake.router,
        auditor.router,
        dashboard.router,
        admin.router,
        home_router,  # last: its catch-all answers addresses no other console route takes
    ):
        app.include_router(router)
