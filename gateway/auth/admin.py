"""Admin API for the registry (role ``gateway_admin``): agencies, clients, users."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway.auth.deps import get_caller, require_role
from gateway.auth.registry import Registry
from gateway.auth.schemas import Caller
from gateway.db.tables_auth import AgencyRow, ClientRow, UserRow

router = APIRouter(prefix="/admin")


def admin(caller: Caller = Depends(get_caller)) -> Caller:
    require_role(caller, "gateway_admin")
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


@router.get("/agencies")
async def list_agencies(request: Request, _: Caller = Depends(admin)) -> JSONResponse:
    return JSONResponse(await _run(request, lambda r: [agency_json(a) for a in r.repo.agencies()]))


@router.post("/agencies", status_code=201)
async def add_agency(body: AgencyIn, request: Request, _: Caller = Depends(admin)) -> JSONResponse:
    out = await _run(request, lambda r: agency_json(r.add_agency(body.id, body.kind, body.name)))
    return JSONResponse(out, status_code=201)


@router.get("/clients")
async def list_clients(request: Request, _: Caller = Depends(admin)) -> JSONResponse:
    return JSONResponse(await _run(request, lambda r: [client_json(c) for c in r.repo.clients()]))


@router.post("/clients", status_code=201)
async def add_client(body: ClientIn, request: Request, _: Caller = Depends(admin)) -> JSONResponse:
    out = await _run(
        request,
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
    )
    return JSONResponse(out, status_code=201)


@router.patch("/clients/{client_id}")
async def patch_client(
    client_id: str, body: ClientPatch, request: Request, _: Caller = Depends(admin)
) -> JSONResponse:
    def change(r: Registry) -> dict[str, Any]:
        row = r.client(client_id)
        if body.jwks is not None or body.jwks_url is not None:
            row = r.set_client_keys(client_id, jwks=body.jwks, jwks_url=body.jwks_url)
        if body.enabled is not None:
            row = r.set_client_enabled(client_id, body.enabled)
        return client_json(row)

    return JSONResponse(await _run(request, change))


@router.get("/users")
async def list_users(request: Request, _: Caller = Depends(admin)) -> JSONResponse:
    return JSONResponse(await _run(request, lambda r: [user_json(u) for u in r.repo.users()]))


@router.post("/users", status_code=201)
async def add_user(body: UserIn, request: Request, _: Caller = Depends(admin)) -> JSONResponse:
    out = await _run(
        request,
        lambda r: user_json(r.add_user(body.username, body.agency, body.role, body.password)),
    )
    return JSONResponse(out, status_code=201)


@router.patch("/users/{username}")
async def patch_user(
    username: str, body: UserPatch, request: Request, _: Caller = Depends(admin)
) -> JSONResponse:
    def change(r: Registry) -> dict[str, Any]:
        row = r.user(username)
        if body.password is not None:
            row = r.set_password(username, body.password)
        if body.enabled is not None:
            row = r.set_user_enabled(username, body.enabled)
        return user_json(row)

    return JSONResponse(await _run(request, change))
