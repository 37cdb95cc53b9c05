"""Token service endpoints: SMART discovery, JWKS, token, introspection (RFC 7662)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.audit.auth_trail import TOKEN_UNAVAILABLE, record_token, record_token_refusal
from gateway.audit.errors import AuditUnavailable
from gateway.auth.deps import get_caller
from gateway.auth.schemas import Caller
from gateway.auth.server import CURRENT_SESSION, GatewayRequest
from gateway.fhir.errors import InvalidRequest, UnsupportedMediaType

router = APIRouter()

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def smart_configuration(settings: Any) -> dict[str, Any]:
    base = settings.base_url.rstrip("/")
    return {
        "issuer": settings.issuer,
        "jwks_uri": f"{base}/auth/jwks",
        "token_endpoint": settings.token_url,
        "authorization_endpoint": f"{base}/auth/authorize",
        "introspection_endpoint": f"{base}/auth/introspect",
        "grant_types_supported": ["client_credentials", "authorization_code"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
        "scopes_supported": ["system/*.cruds", "user/*.cruds", "system/*.rs", "user/*.rs"],
        "capabilities": [
            "client-confidential-asymmetric",
            "client-public",
            "permission-v2",
            "permission-user",
            "authorize-post",
        ],
    }


@router.get("/fhir/.well-known/smart-configuration")
def discovery(request: Request) -> JSONResponse:
    return JSONResponse(smart_configuration(request.app.state.settings))


@router.get("/auth/jwks")
def jwks(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.keys.jwks(), headers={"Cache-Control": "max-age=60"})


async def _form(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("send the token request as application/x-www-form-urlencoded")
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


@router.post("/auth/token")
async def token(request: Request) -> JSONResponse:
    try:
        form = await _form(request)
    except UnsupportedMediaType:
        refusal = {
            "error": "invalid_request",
            "error_description": "use application/x-www-form-urlencoded",
        }
        await run_in_threadpool(record_token_refusal, request, 400, refusal)
        return JSONResponse(refusal, status_code=400, headers=_NO_STORE)
    settings = request.app.state.settings
    oauth_request = GatewayRequest(
        "POST", settings.token_url, dict(request.headers), form, dict(request.query_params)
    )
    server = request.app.state.auth_server
    db = request.app.state.db

    def run() -> tuple[int, Any, list[tuple[str, str]]]:
        answer: tuple[int, Any, list[tuple[str, str]]] | None = None
        try:
            with db.unit_of_work() as session:
                reset = CURRENT_SESSION.set(session)
                try:
                    answer = server.create_token_response(oauth_request)
                finally:
                    CURRENT_SESSION.reset(reset)
                # Issued or refused, the request is recorded with it (ITI-71); no event, no token.
                record_token(request, session, form, answer[0], answer[1])
                return answer
        except AuditUnavailable:
            if answer is not None and answer[0] != 200:
                return answer  # a refusal stands; the audit failure is logged
            return 503, dict(TOKEN_UNAVAILABLE), [("Retry-After", "5")]

    status, body, headers = await run_in_threadpool(run)
    return JSONResponse(body, status_code=status, headers={**dict(headers), **_NO_STORE})


@router.post("/auth/introspect")
async def introspect(request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    form = await _form(request)
    token_value = form.get("token")
    if not token_value:
        raise InvalidRequest("the form needs a token", expression="token")
    return JSONResponse(request.app.state.tokens.introspect(token_value), headers=_NO_STORE)
