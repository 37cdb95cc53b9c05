"""FHIR R4 REST endpoints under ``/fhir`` (hl7.org/fhir/R4/http.html).

Each endpoint is the request boundary: it opens one unit of work, calls the service and commits before
the response leaves. Errors are :class:`~gateway.fhir.errors.FhirError` subclasses, rendered elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from gateway.audit.fhir_trail import interaction_of, record_access
from gateway.auth.deps import get_caller, require
from gateway.auth.schemas import Caller
from gateway.fhir import schemas
from gateway.fhir.bundles import BundleProcessor
from gateway.fhir.capability import capability_statement
from gateway.fhir.dates import http_date
from gateway.fhir.errors import InvalidRequest, NotFound, UnsupportedMediaType
from gateway.fhir.history import history
from gateway.fhir.schemas import FHIR_JSON
from gateway.fhir.search_parse import MAX_OFFSET
from gateway.fhir.service import ResourceService, Stored, check_type
from gateway.fhir.write_hooks import WriteContext, hooks_of
from gateway.sharing.profile import agency_uri

router = APIRouter(prefix="/fhir")
_JSON_TYPES = ("application/fhir+json", "application/json")
_PATCH_TYPES = ("application/json-patch+json",)


@contextmanager
def audited(request: Request, caller: Caller) -> Iterator[Session]:
    """The interaction's unit of work; its AuditEvent is appended before it commits (fail closed)."""
    with request.app.state.db.unit_of_work() as session:
        yield session
        guard = getattr(request.state, "guard", None)
        touched = [f"{d.rtype}/{d.rid}" for d in getattr(guard, "decisions", []) if d.rid]
        path = [p for p in request.url.path.split("/") if p]
        record_access(
            request,
            session,
            caller,
            interaction_of(request),
            resources=list(dict.fromkeys(touched))[:100],
            resource_type=path[1] if len(path) > 1 and path[1][:1].isupper() else None,
        )


def _service(request: Request, session: Any, caller: Caller) -> ResourceService:
    """A service for this caller: sharing rules as its guard, its agency as ``meta.source``."""
    state = request.app.state
    settings = state.settings
    guard = state.guard_factory(session, caller, request)
    request.state.guard = guard
    labeller = state.labeller

    def prepare(body: dict[str, Any]) -> dict[str, Any]:
        if caller.agency:
            # The owning agency decides sharing: a client cannot claim another agency's authorship.
            body = {
                **body,
                "meta": {**(body.get("meta") or {}), "source": agency_uri(caller.agency)},
            }
        return labeller(body) if labeller is not None else body

    return ResourceService(
        session,
        settings.fhir_base,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        labeller=prepare,
        guard=guard,
    )


async def _json_body(request: Request, allowed: tuple[str, ...] = _JSON_TYPES) -> Any:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in allowed:
        raise UnsupportedMediaType(
            f"send the body as {' or '.join(allowed)}" + (f", not {ctype}" if ctype else ""),
            expression="Content-Type",
        )
    raw = await request.body()
    if not raw.strip():
        raise InvalidRequest("the request body is empty", expression="$", code="required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"the body is not valid JSON ({exc.args[0]})", expression="$", code="structure"
        ) from None


def _resource_response(
    request: Request, stored: Stored, *, status: int = 200, prefer: str | None = None
) -> Response:
    writer = getattr(request.state, "write_context", None)
    headers = {
        **(writer.response_headers if writer is not None else {}),
        "ETag": stored.etag,
        "Last-Modified": http_date(stored.last_updated),
    }
    if status == 201 or prefer is not None:
        # R4 http.html#create: Location is [base]/[type]/[id]/_history/[vid]
        headers["Location"] = f"{request.app.state.settings.fhir_base}/{stored.location}"
    if prefer == "return=minimal":
        return Response(status_code=status, headers=headers)
    return Response(stored.content or "", status_code=status, headers=headers, media_type=FHIR_JSON)


def _prefer(request: Request) -> str | None:
    value = request.headers.get("prefer", "")
    for part in value.split(","):
        part = part.strip()
        if part.startswith("return="):
            return part
    return None


def _strict(request: Request) -> bool:
    return "handling=strict" in request.headers.get("prefer", "")


def _writer(request: Request, session: Session, caller: Caller) -> WriteContext:
    """The write hooks' view of this request (the service as every other interaction gets it)."""
    w = WriteContext(session, caller, _service(request, session, caller), request.app.state)
    request.state.write_context = w
    return w


def _prepare(request: Request, method: str, rtype: str) -> None:
    """Let the write hooks of ``rtype`` get ready before the unit of work opens."""
    hooks_of(request.app.state).prepare(request.app.state, method, rtype)


def _search_items(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items()]


def _search_bytes(
    request: Request, svc: ResourceService, rtype: str, items: list[tuple[str, str]]
) -> bytes:
    req = svc.parse_search(rtype, items, strict=_strict(request))
    result = svc.search(req)
    return schemas.searchset(request.app.state.settings.fhir_base, req, result)


@router.get("/metadata")
def metadata(request: Request) -> Response:
    return Response(
        schemas.dumps(capability_statement(request.app.state.settings)), media_type=FHIR_JSON
    )


@router.post("")
@router.post("/")
async def transaction(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    bundle = await _json_body(request)

    def run() -> bytes:
        hooks = hooks_of(request.app.state)
        BundleProcessor.prepare(bundle, lambda m, t: hooks.prepare(request.app.state, m, t))
        with audited(request, caller) as session:
            w = _writer(request, session, caller)
            w.bundle = True
            svc = w.service
            proc = BundleProcessor(
                svc,
                authorize=lambda i, t: require(caller, i, t),
                search=lambda t, q: _search_bytes(request, svc, t, q),
                hooks=hooks,
                writer=w,
            )
            return schemas.dumps(proc.process(bundle))

    from starlette.concurrency import run_in_threadpool

    return Response(await run_in_threadpool(run), media_type=FHIR_JSON)


@router.get("/_history")
def system_history(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "s", "*")
    return history(request, None, None, caller, audited, _service)


@router.get("/{rtype}")
def search(rtype: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    check_type(rtype)
    require(caller, "s", rtype)
    with audited(request, caller) as session:
        body = _search_bytes(
            request, _service(request, session, caller), rtype, _search_items(request)
        )
    return Response(body, media_type=FHIR_JSON)


@router.post("/{rtype}/_search")
async def search_post(
    rtype: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    check_type(rtype)
    require(caller, "s", rtype)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if raw and ctype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType(
            "POST _search takes application/x-www-form-urlencoded parameters",
            expression="Content-Type",
        )
    items = _search_items(request) + parse_qsl(
        raw.decode("utf-8", "replace"), keep_blank_values=True
    )
    from starlette.concurrency import run_in_threadpool

    def run() -> bytes:
        with audited(request, caller) as session:
            return _search_bytes(request, _service(request, session, caller), rtype, items)

    return Response(await run_in_threadpool(run), media_type=FHIR_JSON)


@router.post("/{rtype}")
async def create(rtype: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    check_type(rtype)
    require(caller, "c", rtype)
    body = await _json_body(request)
    if_none_exist = request.headers.get("if-none-exist")

    def run() -> Stored:
        _prepare(request, "POST", rtype)
        with audited(request, caller) as session:
            w = _writer(request, session, caller)
            return hooks_of(w.state).create(w, rtype, body, if_none_exist=if_none_exist)

    from starlette.concurrency import run_in_threadpool

    stored = await run_in_threadpool(run)
    return _resource_response(
        request, stored, status=201 if stored.changed else 200, prefer=_prefer(request)
    )


@router.put("/{rtype}")
async def conditional_update(
    rtype: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    check_type(rtype)
    require(caller, "u", rtype)
    body = await _json_body(request)
    query = _search_items(request)
    if_match = request.headers.get("if-match")

    def run() -> Stored:
        _prepare(request, "PUT", rtype)
        with audited(request, caller) as session:
            w = _writer(request, session, caller)
            return hooks_of(w.state).conditional_update(w, rtype, query, body, if_match=if_match)

    from starlette.concurrency import run_in_threadpool

    stored = await run_in_threadpool(run)
    return _resource_response(
        request, stored, status=201 if stored.created else 200, prefer=_prefer(request)
    )


@router.delete("/{rtype}")
def conditional_delete(
    rtype: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    check_type(rtype)
    require(caller, "d", rtype)
    _prepare(request, "DELETE", rtype)
    with audited(request, caller) as session:
        w = _writer(request, session, caller)
        stored = hooks_of(w.state).conditional_delete(w, rtype, _search_items(request))
    headers = {"ETag": stored.etag} if stored else {}
    return Response(status_code=204, headers=headers)


@router.get("/{rtype}/_history")
def type_history(rtype: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    check_type(rtype)
    require(caller, "s", rtype)
    return history(request, rtype, None, caller, audited, _service)


@router.get("/{rtype}/{rid}")
def read(rtype: str, rid: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    check_type(rtype)
    require(caller, "r", rtype)
    with audited(request, caller) as session:
        stored = _service(request, session, caller).read(rtype, rid)
    etag = request.headers.get("if-none-match")
    if etag is not None and etag.strip() == stored.etag:
        return Response(status_code=304, headers={"ETag": stored.etag})
    return _resource_response(request, stored)


@router.put("/{rtype}/{rid}")
async def update(
    rtype: str, rid: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    check_type(rtype)
    require(caller, "u", rtype)
    body = await _json_body(request)
    if_match = request.headers.get("if-match")

    def run() -> Stored:
        _prepare(request, "PUT", rtype)
        with audited(request, caller) as session:
            w = _writer(request, session, caller)
            return hooks_of(w.state).update(w, rtype, rid, body, if_match=if_match)

    from starlette.concurrency import run_in_threadpool

    stored = await run_in_threadpool(run)
    return _resource_response(
        request, stored, status=201 if stored.created else 200, prefer=_prefer(request)
    )


@router.patch("/{rtype}/{rid}")
async def patch(
    rtype: str, rid: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    check_type(rtype)
    require(caller, "u", rtype)
    ops = await _json_body(request, _PATCH_TYPES)
    if_match = request.headers.get("if-match")

    def run() -> Stored:
        _prepare(request, "PATCH", rtype)
        with audited(request, caller) as session:
            w = _writer(request, session, caller)
            return hooks_of(w.state).patch(w, rtype, rid, ops, if_match=if_match)

    from starlette.concurrency import run_in_threadpool

    stored = await run_in_threadpool(run)
    return _resource_response(request, stored, prefer=_prefer(request))


@router.delete("/{rtype}/{rid}")
def delete(
    rtype: str, rid: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    check_type(rtype)
    require(caller, "d", rtype)
    _prepare(request, "DELETE", rtype)
    with audited(request, caller) as session:
        w = _writer(request, session, caller)
        stored = hooks_of(w.state).delete(w, rtype, rid)
    return Response(status_code=204, headers={"ETag": stored.etag} if stored else {})


@router.get("/{rtype}/{rid}/_history")
def instance_history(
    rtype: str, rid: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    check_type(rtype)
    require(caller, "r", rtype)
    return history(request, rtype, rid, caller, audited, _service)


@router.get("/{rtype}/{rid}/_history/{vid}")
def vread(
    rtype: str, rid: str, vid: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    check_type(rtype)
    require(caller, "r", rtype)
    try:
        version = int(vid)
    except ValueError:
        raise InvalidRequest("a version id is a whole number", expression="vid") from None
    if not 0 < version <= MAX_OFFSET:
        raise NotFound(f"{rtype}/{rid} has no version {vid[:20]}")
    with audited(request, caller) as session:
        stored = _service(request, session, caller).vread(rtype, rid, version)
    return _resource_response(request, stored)
