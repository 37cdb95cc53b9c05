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

from gateway.web import admin, auditor, crisis, dashboard, intake, signin
from gateway.web.deps import ConsoleRoute, console_user

STATIC = Path(__file__).parent / "static"
HOME = {
    "police_officer": "/console/crisis",
    "cit_officer": "/console/crisis",
    "crisis_clinician": "/console/crisis",
    "ed_clinician": "/console/crisis",
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
        from gateway.web.deps import NotAllowed

        raise NotAllowed()
    return RedirectResponse(target, status_code=303)


def install(app: FastAPI) -> None:
    """Mount the console's routes and its static files (served by the gateway itself)."""
    for router in (
        signin.router,
        home_router,
        crisis.router,
        intake.router,
        auditor.router,
        dashboard.router,
        admin.router,
    ):
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
