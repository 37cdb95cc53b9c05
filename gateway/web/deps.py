"""Who is using the console, what they may open, and the checks every console request passes.

:class:`ConsoleRoute` is the route class of every console endpoint: a missing or expired sign-in
becomes a redirect through the gateway's login (``SignInRequired``), a refusal or bad input from the
service layer an HTML page with the same status and message the API would give (403s audited as the
API audits them), and a form without its CSRF token a 403.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from gateway.audit.fhir_trail import record_refusal
from gateway.auth.schemas import Caller
from gateway.auth.tokens import InvalidToken
from gateway.fhir.errors import FhirError
from gateway.web.render import error_page
from gateway.web.session import ConsoleSession, read_session

RENEW_SHARE = 0.2  # a page load renews a token in the last fifth of its life (60 s of 300 s)

CRISIS_ROLES = ("police_officer", "cit_officer", "crisis_clinician", "ed_clinician")
INTAKE_ROLES = ("facility_intake",)
AUDITOR_ROLES = ("bha_auditor",)
ADMIN_ROLES = ("gateway_admin",)
DASHBOARD_ROLES = ("bha_auditor", "gateway_admin")


class SignInRequired(Exception):
    """No console session, or its token has expired: sign in (again) and come back."""

    def __init__(self, back: str) -> None:
        self.back = back


class NotAllowed(Exception):
    """The signed-in person's role may not use this page."""


class BadForm(Exception):
    """A form field is missing or malformed (message safe to show)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfRefused(Exception):
    """A POST without the session's CSRF token (expired page, or another site's form)."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """The person behind a console request, as the API sees them (the token's caller)."""

    caller: Caller
    session: ConsoleSession
    expires: float

    @property
    def role(self) -> str:
        return self.caller.role or ""

    @property
    def name(self) -> str:
        return self.caller.user or self.caller.client_id

    @property
    def agency(self) -> str:
        return self.caller.agency or ""

    @property
    def csrf(self) -> str:
        return self.session.csrf


def _expiry(token: str) -> float:
    try:
        body = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return 0.0


def _back(request: Request) -> str:
    """Where to return after signing in: this page for a GET, the page a form came from else."""
    if request.method == "GET" and not request.url.path.startswith("/console/api/"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        referer = request.headers.get("referer", "")
        base = str(request.base_url).rstrip("/")
        target = referer[len(base) :] if referer.startswith(base + "/console") else "/console"
    return target


def console_user(request: Request, *roles: str) -> ConsoleUser:
    """The signed-in user (renewing a token about to expire on a page load), allowed ``roles``."""
    session = read_session(request)
    if session is None:
        raise SignInRequired(_back(request))
    try:
        caller: Caller = request.app.state.tokens.verify(session.token)
    except InvalidToken:
        raise SignInRequired(_back(request)) from None
    expires = _expiry(session.token)
    lifetime = float(getattr(request.app.state.tokens, "lifetime", 300))
    if request.method == "GET" and expires - time.time() < RENEW_SHARE * lifetime:
        raise SignInRequired(_back(request))
    user = ConsoleUser(caller=caller, session=session, expires=expires)
    request.state.console = user
    request.state.caller = caller  # for the audit of refusals, as the API's get_caller does
    if roles and user.role not in roles:
        raise NotAllowed()
    return user


async def form_of(request: Request, user: ConsoleUser) -> dict[str, str]:
    """The posted form, after checking its CSRF token against the session's."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise BadForm("send the form as the page does (a form post)")
    form = await request.form()
    sent = str(form.get("csrf_token", "")) or request.headers.get("x-csrf-token", "")
    if not sent or not secrets.compare_digest(sent, user.csrf):
        raise CsrfRefused()
    return {k: str(v) for k, v in form.items() if k != "csrf_token"}


def check_csrf_header(request: Request, user: ConsoleUser) -> None:
    """For script calls that change something: the token in ``X-CSRF-Token``."""
    sent = request.headers.get("x-csrf-token", "")
    if not sent or not secrets.compare_digest(sent, user.csrf):
        raise CsrfRefused()


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/console/api/")


class ConsoleRoute(APIRoute):
    """Route class that turns console failures into pages (or JSON for the live-update calls)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                target = "/console/login?next=" + quote(exc.back, safe="/")
                if _wants_json(request):
                    return JSONResponse(
                        {"error": "sign-in required", "signIn": target}, status_code=401
                    )
                return RedirectResponse(target, status_code=303)
            except NotAllowed:
                return _fail(
                    request, 403, "Not for your role", "This page is not open to your role."
                )
            except CsrfRefused:
                return _fail(
                    request,
                    403,
                    "Form refused",
                    "The form expired or came from another site. Open the page again and retry.",
                )
            except BadForm as exc:
                return _fail(request, 400, "Check the form", exc.message)
            except IntegrityError:
                return _fail(
                    request,
                    409,
                    "Changed at the same time",
                    "Someone else changed this at the same moment. Open the page again and retry.",
                )
            except FhirError as exc:
                if exc.status == 403:
                    await run_in_threadpool(
                        record_refusal, request, exc.status, "operation", exc.diagnostics
                    )
                title = {403: "Not allowed", 404: "Not found", 409: "Cannot do that now"}.get(
                    exc.status, "Cannot do that"
                )
                return _fail(request, exc.status, title, exc.diagnostics)

        return run


def _fail(request: Request, status: int, title: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": title, "message": message}, status_code=status)
    return error_page(request, status, title, message)
