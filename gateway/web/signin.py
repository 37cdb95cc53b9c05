"""Signing in to the console through the gateway's own login: authorization code + PKCE (S256).

``/console/login`` makes a PKCE verifier and a state, keeps them in a short-lived sealed cookie and
sends the browser to ``/auth/authorize``; ``/console/callback`` checks the state, redeems the code at
the authorization server (in-process, the same grant the token endpoint runs) and keeps the access
token in the sealed session cookie. ``/console/logout`` ends the console session and the login
session behind it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.auth.server import CURRENT_SESSION, GatewayRequest
from gateway.auth.tokens import InvalidToken
from gateway.web.deps import ConsoleRoute, console_user, form_of
from gateway.web.render import error_page
from gateway.web.session import (
    PENDING_COOKIE,
    SESSION_COOKIE,
    ConsoleSession,
    clear_cookie,
    sealer,
    set_cookie,
    write_session,
)

router = APIRouter(prefix="/console", route_class=ConsoleRoute)
CLIENT_ID_ENV = "GATEWAY_CONSOLE_CLIENT_ID"
SCOPE = "user/*.cruds"
PENDING_SECONDS = 600


def client_id() -> str:
    """The console's public client id (registered with redirect URI ``<base>/console/callback``)."""
    return os.environ.get(CLIENT_ID_ENV, "web-console")


def redirect_uri(request: Request) -> str:
    return request.app.state.settings.base_url.rstrip("/") + "/console/callback"


def safe_next(value: str | None) -> str:
    """Only console paths of this gateway: never an open redirect."""
    if not value or not value.startswith("/console") or value.startswith("//") or "\\" in value:
        return "/console"
    if value.startswith(("/console/login", "/console/callback", "/console/api/")):
        return "/console"
    return value


@router.get("/login")
def login(request: Request, next: str | None = None) -> Response:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    state = secrets.token_urlsafe(24)
    pending = {"s": state, "v": verifier, "n": safe_next(next)}
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id(),
            "redirect_uri": redirect_uri(request),
            "scope": SCOPE,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"/auth/authorize?{query}", status_code=303)
    set_cookie(
        response,
        request,
        PENDING_COOKIE,
        sealer(request).seal(pending, PENDING_COOKIE),
        PENDING_SECONDS,
    )
    return response


def _redeem(request: Request, code: str, verifier: str) -> dict[str, Any]:
    app = request.app
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(request),
        "client_id": client_id(),
        "code_verifier": verifier,
    }
    oauth_request = GatewayRequest("POST", app.state.settings.token_url, {}, form, {})
    with app.state.db.unit_of_work() as session:
        reset = CURRENT_SESSION.set(session)
        try:
            status, body, _headers = app.state.auth_server.create_token_response(oauth_request)
        finally:
            CURRENT_SESSION.reset(reset)
    return body if status == 200 and isinstance(body, dict) else {}


@router.get("/callback")
async def callback(request: Request) -> Response:
    params = request.query_params
    pending = sealer(request).open(request.cookies.get(PENDING_COOKIE), PENDING_COOKIE)
    if params.get("error"):
        return error_page(
            request, 400, "Sign-in did not finish", "The sign-in was refused or cancelled."
        )
    state, code = params.get("state", ""), params.get("code", "")
    if (
        pending is None
        or not state
        or not code
        or not secrets.compare_digest(str(pending.get("s", "")), state)
    ):
        return error_page(
            request,
            400,
            "Sign-in expired",
            "This sign-in link is stale or was opened in another browser. Start again from the console.",
        )
    body = await run_in_threadpool(_redeem, request, code, str(pending.get("v", "")))
    token = body.get("access_token")
    try:
        caller = request.app.state.tokens.verify(token) if isinstance(token, str) else None
    except InvalidToken:
        caller = None
    if caller is None or not caller.user:
        return error_page(request, 400, "Sign-in failed", "The sign-in code was not accepted.")
    response = RedirectResponse(safe_next(str(pending.get("n") or "")), status_code=303)
    write_session(response, request, ConsoleSession(token=token, csrf=secrets.token_urlsafe(24)))
    clear_cookie(response, request, PENDING_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the console session, then (307 keeps the POST) the login session at ``/auth/logout``,
    whose cookie only ``/auth`` paths receive."""
    user = console_user(request)
    await form_of(request, user)
    response = RedirectResponse("/auth/logout", status_code=307)
    clear_cookie(response, request, SESSION_COOKIE)
    return response
