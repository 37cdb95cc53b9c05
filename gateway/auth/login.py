"""Sign-in for people: the authorization endpoint with the gateway's own login page.

``GET /auth/authorize`` checks the request (client, redirect URI, scope, PKCE S256) and shows the login
form, or issues a code straight away to a person whose login session is still fresh. ``POST`` takes the
form: CSRF double-submit cookie, lockout after repeated failures, Argon2id password check.
"""

from __future__ import annotations

import html
import secrets
import time
from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.audit.auth_trail import LOGIN_UNAVAILABLE, login_context, record_login, record_logout
from gateway.audit.errors import AuditUnavailable
from gateway.audit.log import get_audit_log
from gateway.auth.passwords import verify_password
from gateway.auth.repository import AuthRepository
from gateway.auth.server import CURRENT_SESSION, GatewayRequest
from gateway.db.tables_auth import LoginSessionRow, UserRow

router = APIRouter()
SESSION_COOKIE = "gw_session"
LOCKED = "too many failed sign-ins: this account is locked for a while; try later or ask an administrator"
CSRF_COOKIE = "gw_csrf"
_AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "aud",
)
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Crisis Exchange Gateway</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f4f6f8;color:#111;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}}
main{{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0003;width:min(22rem,90vw)}}
label{{display:block;margin-top:1rem;font-weight:600}} input{{width:100%;padding:.6rem;font-size:1rem;box-sizing:border-box;border:1px solid #555;border-radius:4px}}
button{{margin-top:1.5rem;width:100%;padding:.7rem;font-size:1rem;background:#0b4f8a;color:#fff;border:0;border-radius:4px;cursor:pointer}}
button:focus,input:focus{{outline:3px solid #f5a623}} .error{{color:#a10000;font-weight:600}}
</style></head><body><main>
<h1>Sign in</h1><p>Crisis Exchange Gateway</p>
{message}
<form method="post" action="/auth/authorize">
{hidden}
<input type="hidden" name="csrf_token" value="{csrf}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required autofocus value="{username}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></main></body></html>"""


def _page(
    params: dict[str, str], csrf: str, *, message: str = "", username: str = "", status: int = 200
) -> HTMLResponse:
    hidden = "\n".join(
        f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in params.items()
    )
    msg = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = _PAGE.format(message=msg, hidden=hidden, csrf=csrf, username=html.escape(username))
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _error_page(text: str, status: int = 400) -> HTMLResponse:
    body = f"<!doctype html><html lang='en'><title>Sign-in error</title><main><h1>Cannot sign in</h1><p>{html.escape(text)}</p></main></html>"
    return HTMLResponse(body, status_code=status)


def _secure(request: Request) -> bool:
    return str(request.app.state.settings.base_url).startswith("https://")


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/auth",
    )


def _live_user(
    repo: AuthRepository, session_id: str | None, idle: float, now: float
) -> UserRow | None:
    if not session_id:
        return None
    row = repo.session_row(session_id)
    if row is None or now - row.last_seen > idle or now - row.created_at > 12 * 3600:
        if row is not None:
            repo.drop_session(session_id)
        return None
    user = repo.user(row.username)
    if user is None or not user.enabled:
        return None
    repo.touch_session(session_id, now)
    return user


def _to_response(status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
    location = dict(headers).get("Location")
    if status == 302 and location:
        return RedirectResponse(location, status_code=302)
    if isinstance(body, dict):
        return _error_page(
            str(body.get("error_description") or body.get("error") or "invalid request")
        )
    return _error_page("invalid request")


@router.get("/auth/authorize")
async def authorize(request: Request) -> Response:
    params = {k: v for k, v in request.query_params.items() if k in _AUTHORIZE_PARAMS}
    app = request.app
    oauth_request = GatewayRequest("GET", str(request.url), dict(request.headers), {}, params)
    session_id = request.cookies.get(SESSION_COOKIE)
    idle = app.state.settings.session_minutes * 60

    def run() -> Response:
        with app.state.db.unit_of_work() as session:
            token = CURRENT_SESSION.set(session)
            try:
                grant = app.state.auth_server.get_consent_grant(request=oauth_request)
            except OAuth2Error as error:
                return _to_response(
                    *app.state.auth_server.handle_error_response(oauth_request, error)
                )
            finally:
                CURRENT_SESSION.reset(token)
            user = _live_user(AuthRepository(session), session_id, idle, time.time())
            if user is None:
                return Response(status_code=401)
            token = CURRENT_SESSION.set(session)
            try:
                return _to_response(
                    *app.state.auth_server.create_authorization_response(
                        oauth_request, grant_user=user, grant=grant
                    )
                )
            finally:
                CURRENT_SESSION.reset(token)

    response = await run_in_threadpool(run)
    if response.status_code != 401:
        return response
    csrf = secrets.token_urlsafe(24)
    page = _page(params, csrf)
    _set_cookie(page, request, CSRF_COOKIE, csrf, 900)
    return page


@router.post("/auth/authorize")
async def login(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    params = {k: v for k, v in form.items() if k in _AUTHORIZE_PARAMS}
    csrf_cookie = request.cookies.get(CSRF_COOKIE)
    if not csrf_cookie or not secrets.compare_digest(csrf_cookie, form.get("csrf_token", "")):
        return _error_page(
            "the sign-in form expired or came from another site; open the sign-in page again", 403
        )
    username, password = form.get("username", "")[:128], form.get("password", "")
    app = request.app
    settings = app.state.settings
    oauth_request = GatewayRequest("POST", str(request.url), dict(request.headers), params, {})

    def run() -> tuple[Response | None, str | None]:
        try:
            return attempt()
        except AuditUnavailable:
            # Nothing happened: no session, no code, no counted failure (and no hint whether the
            # password was right). The page says why.
            return None, LOGIN_UNAVAILABLE

    def attempt() -> tuple[Response | None, str | None]:
        now = time.time()
        audit = get_audit_log(app.state)
        client_id = params.get("client_id")
        with app.state.db.unit_of_work() as session:
            repo = AuthRepository(session)
            token = CURRENT_SESSION.set(session)
            try:
                grant = app.state.auth_server.get_consent_grant(request=oauth_request)
            except OAuth2Error as error:
                return _to_response(
                    *app.state.auth_server.handle_error_response(oauth_request, error)
                ), None
            finally:
                CURRENT_SESSION.reset(token)
            user = repo.user(username)
            ctx = login_context(
                request,
                client_id=client_id,
                username=user.username if user is not None else None,
                agency=user.agency_id if user is not None else None,
                role=user.role if user is not None else None,
            )
            if user is not None and user.locked_until > now:
                verify_password(None, password)  # same cost as a real check
                record_login(audit, session, ctx, success=False, reason="the account is locked")
                return None, LOCKED
            if (
                user is None
                or not user.enabled
                or not verify_password(user.password_hash, password)
            ):
                locked = None
                if user is not None:
                    user.failed_logins += 1
                    if user.failed_logins >= settings.login_max_failures:
                        user.locked_until = now + settings.login_lockout_minutes * 60
                        user.failed_logins = 0
                        locked = (
                            f"locked for {settings.login_lockout_minutes} minutes after "
                            f"{settings.login_max_failures} failed sign-ins"
                        )
                    repo.add(user)
                reason = (
                    "unknown username"
                    if user is None
                    else ("the account is disabled" if not user.enabled else "wrong password")
                )
                record_login(audit, session, ctx, success=False, reason=reason, locked=locked)
                return None, "wrong username or password"
            user.failed_logins, user.locked_until = 0, 0.0
            repo.add(user)
            session_id = secrets.token_urlsafe(32)
            repo.add(
                LoginSessionRow(
                    id=session_id, username=user.username, created_at=now, last_seen=now
                )
            )
            record_login(audit, session, ctx, success=True)
            token = CURRENT_SESSION.set(session)
            try:
                response = _to_response(
                    *app.state.auth_server.create_authorization_response(
                        oauth_request, grant_user=user, grant=grant
                    )
                )
            finally:
                CURRENT_SESSION.reset(token)
            return response, session_id

    response, detail = await run_in_threadpool(run)
    if response is None:
        csrf = secrets.token_urlsafe(24)
        status = 503 if detail == LOGIN_UNAVAILABLE else 401
        page = _page(params, csrf, message=detail or "", username=username, status=status)
        _set_cookie(page, request, CSRF_COOKIE, csrf, 900)
        return page
    if detail:
        _set_cookie(response, request, SESSION_COOKIE, detail, settings.session_minutes * 60)
    return response


@router.post("/auth/logout")
async def logout(request: Request) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:

        def run() -> None:
            db = request.app.state.db
            try:
                with db.unit_of_work() as session:
                    repo = AuthRepository(session)
                    row = repo.session_row(session_id)
                    user = repo.user(row.username) if row is not None else None
                    repo.drop_session(session_id)
                    if user is not None:
                        ctx = login_context(
                            request,
                            client_id=None,
                            username=user.username,
                            agency=user.agency_id,
                            role=user.role,
                        )
                        record_logout(get_audit_log(request.app.state), session, ctx)
            except AuditUnavailable:
                # Signing out must always work: end the session even though it goes unrecorded.
                with db.unit_of_work() as session:
                    AuthRepository(session).drop_session(session_id)

        await run_in_threadpool(run)
    response = HTMLResponse("<!doctype html><title>Signed out</title><p>You are signed out.</p>")
    response.delete_cookie(SESSION_COOKIE, path="/auth")
    return response
