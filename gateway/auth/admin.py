"""Admin API for the registry (role ``gateway_admin``): agencies, clients, users.

Every change is recorded in the audit log in its own unit of work (DCM 110137), and so is every
refused change, whether the caller was not an administrator or the change was invalid.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway.audit.auth_trail import Action, record_change, record_refused_change
from gateway.audit.context import audit_context
from gateway.audit.errors import AuditUnavailable
from gateway.audit.log import get_audit_log
from gateway.audit.security import ConfigChange
from gateway.auth.deps import get_caller, require_role
from gateway.auth.registry import Registry
from gateway.auth.schemas import Caller
from gateway.db.tables_auth import AgencyRow, ClientRow, UserRow
from gateway.fhir.errors import FhirError

router = APIRouter(prefix="/admin")
_KINDS: dict[str, ConfigChange] = {"agencies": "agency", "clients": "client", "users": "user"}
_ACTIONS: dict[str, Action] = {"POST": "C", "PATCH": "U", "DELETE": "D"}


def admin(request: Request, caller: Caller = Depends(get_caller)) -> Caller:
    try:
        require_role(caller, "gateway_admin")
    except FhirError as exc:
        action = _ACTIONS.get(request.method)
        parts = request.url.path.split("/")
        kind = _KINDS.get(parts[2] if len(parts) > 2 else "")
        if action is not None and kind is not None:  # an attempted change, refused
            target = parts[3] if len(parts) > 3 else "(new)"
            record_refused_change(
                get_audit_log(request.app.state),
                request.app.state.db,
                audit_context(request, caller),
                kind,
                target[:128],
                action,
                status=exc.status,
                reason=exc.diagnostics,
            )
        raise
    return caller


class AgencyIn(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9\-]*$")
    kind: str
    name: str = Field(min_length=1, max_length=200)


class ClientIn(BaseModel):
    client_id: str = Field(min_length=1, max_length=128)
    agency: str
    role: str
    scope: str
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None
    purposes: list[str] = []
    public: bool = False
    redirect_uris: list[str] = []


class ClientPatch(BaseModel):
    enabled: bool | None = None
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    agency: str
    role: str
    password: str


class UserPatch(BaseModel):
    enabled: bool | None = None
    password: str | None = None


def agency_json(row: AgencyRow) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "name": row.name}


def client_json(row: ClientRow) -> dict[str, Any]:
    return {
        "client_id": row.client_id,
        "agency": row.agency_id,
        "role": row.role,
        "scope": row.scope,
        "jwks_url": row.jwks_url,
        "has_jwks": row.jwks is not None,
        "purposes": [p for p in row.purposes.split(",") if p],
        "public": row.public,
        "redirect_uris": row.redirect_uris.split(),
        "enabled": row.enabled,
    }


def user_json(row: UserRow) -> dict[str, Any]:
    return {
        "username": row.username,
        "agency": row.agency_id,
        "role": row.role,
        "enabled": row.enabled,
    }


async def _run(request: Request, fn: Any) -> Any:
    def work() -> Any:
        with request.app.state.db.unit_of_work() as session:
            return fn(Registry(session))

    return await run_in_threadpool(work)


async def _change(
    request: Request,
    caller: Caller,
    change: tuple[ConfigChange, str, Action],
    fn: Any,
    detail: str | None = None,
) -> Any:
    """Run a registry change and append its audit event in the same unit of work (fail closed:
    no event, no change); a refused change is recorded on its own."""
    audit = get_audit_log(request.app.state)
    ctx = audit_context(request, caller)
    kind, target, action = change
    db = request.app.state.db

    def work() -> Any:
        try:
            with db.unit_of_work() as session:
                out = fn(Registry(session))
                record_change(audit, session, ctx, kind, target, action, detail=detail)
                return out
        except FhirError as exc:
            if not isinstance(exc, AuditUnavailable):
                record_refused_change(
                    audit, db, ctx, kind, target, action, status=exc.status, reason=exc.diagnostics
                )
            raise

    return await run_in_threadpool(work)


@router.get("/agencies")
async def list_agencies(request: Request, _: Caller = Depends(admin)) -> JSONResponse:
    return JSONResponse(await _run(request, lambda r: [agency_json(a) for a in r.repo.agencies()]))


@router.post("/agencies", status_code=201)
async def add_agency(
    body: AgencyIn, request: Request, caller: Caller = Depends(admin)
) -> JSONResponse:
    out = await _change(
        request,
        caller,
        ("agency", body.id, "C"),
        lambda r: agency_json(r.add_agency(body.id, body.kind, body.name)),
        detail=f"kind {body.kind}",
    )
    return JSONResponse(out, status_code=201)


@router.get("/clients")
async def list_clients(request: Request, _: Caller = Depends(admin)) -> JSONResponse:
    return JSONResponse(await _run(request, lambda r: [client_json(c) for c in r.repo.clients()]))


@router.post("/clients", status_code=201)
async def add_client(
    body: ClientIn, request: Request, caller: Caller = Depends(admin)
) -> JSONResponse:
    out = await _change(
        request,
        caller,
        ("client", body.client_id, "C"),
        lambda r: client_json(
            r.add_client(
                body.client_id,
                body.agency,
                body.role,
                body.scope,
                jwks=body.jwks,
                jwks_url=body.jwks_url,
                purposes=body.purposes,
                public=body.public,
                redirect_uris=body.redirect_uris,
            )
        ),
        detail=f"agency {body.agency}, role {body.role}, scope {body.scope}"[:300],
    )
    return JSONResponse(out, status_code=201)


@router.patch("/clients/{client_id}")
async def patch_client(
    client_id: str, body: ClientPatch, request: Request, caller: Caller = Depends(admin)
) -> JSONResponse:
    def change(r: Registry) -> dict[str, Any]:
        row = r.client(client_id)
        if body.jwks is not None or body.jwks_url is not None:
            row = r.set_client_keys(client_id, jwks=body.jwks, jwks_url=body.jwks_url)
        if body.enabled is not None:
            row = r.set_client_enabled(client_id, body.enabled)
        return client_json(row)

    done = []
    if body.jwks is not None or body.jwks_url is not None:
        done.append("keys replaced")
    if body.enabled is not None:
        done.append("enabled" if body.enabled else "disabled")
    detail = ", ".join(done) or "no change"
    return JSONResponse(
        await _change(request, caller, ("client", client_id, "U"), change, detail=detail)
    )


@router.get("/users")
async def list_users(request: Request, _: Caller = Depends(admin)) -> JSONResponse:
    return JSONResponse(await _run(request, lambda r: [user_json(u) for u in r.repo.users()]))


@router.post("/users", status_code=201)
async def add_user(body: UserIn, request: Request, caller: Caller = Depends(admin)) -> JSONResponse:
    out = await _change(
        request,
        caller,
        ("user", body.username, "C"),
        lambda r: user_json(r.add_user(body.username, body.agency, body.role, body.password)),
        detail=f"agency {body.agency}, role {body.role}",
    )
    return JSONResponse(out, status_code=201)


@router.patch("/users/{username}")
async def patch_user(
    username: str, body: UserPatch, request: Request, caller: Caller = Depends(admin)
) -> JSONResponse:
    def change(r: Registry) -> dict[str, Any]:
        row = r.user(username)
        if body.password is not None:
            row = r.set_password(username, body.password)
        if body.enabled is not None:
            row = r.set_user_enabled(username, body.enabled)
        return user_json(row)

    done = []
    if body.password is not None:
        done.append("password changed")  # never the password itself
    if body.enabled is not None:
        done.append("enabled" if body.enabled else "disabled")
    detail = ", ".join(done) or "no change"
    return JSONResponse(
        await _change(request, caller, ("user", username, "U"), change, detail=detail)
    )
