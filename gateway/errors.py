"""One place that turns every error into a FHIR ``OperationOutcome`` response.

Client mistakes keep their 4xx status and message; anything unexpected becomes a 500 that names a
request id and nothing else (the details go to the log, never patient data in either).
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gateway.audit.fhir_trail import interaction_of, record_refusal
from gateway.fhir.errors import FhirError, Issue, operation_outcome
from gateway.fhir.schemas import FHIR_JSON, dumps

log = logging.getLogger("gateway.errors")

_HTTP_CODES = {401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported"}


def outcome_response(
    status: int, issues: list[Issue], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        dumps(operation_outcome(issues)), status_code=status, headers=headers, media_type=FHIR_JSON
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(FhirError)
    async def _fhir(request: Request, exc: FhirError) -> Response:
        if exc.status == 403 and request.url.path.startswith(("/fhir", "/placement", "/notify")):
            # Refusals are audited too (the refused unit of work rolled back with its data).
            await run_in_threadpool(
                record_refusal, request, exc.status, interaction_of(request), exc.diagnostics
            )
        return outcome_response(exc.status, exc.issues, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        issues = [
            Issue(
                str(e.get("msg", "invalid")),
                expression=(".".join(str(p) for p in e.get("loc", ())),),
            )
            for e in exc.errors()
        ]
        return outcome_response(400, issues)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "processing")
        text = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        return outcome_response(exc.status_code, [Issue(text, code=code)], dict(exc.headers or {}))

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> Response:
        log.warning("write conflict: %s", type(exc.orig).__name__)
        return outcome_response(
            409,
            [
                Issue(
                    "another request changed this resource at the same time; retry", code="conflict"
                )
            ],
        )

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> Response:
        # The database refused a value the checks before it let through (e.g. a number out of
        # range); the value is the client's, so this is a 400, and the message names no value.
        log.warning("database refused a value: %s", type(exc.orig).__name__)
        return outcome_response(
            400, [Issue("a value in the request cannot be stored or searched for", code="value")]
        )

    @app.exception_handler(OperationalError)
    async def _operational(_request: Request, exc: OperationalError) -> Response:
        ref = uuid.uuid4().hex[:12]
        log.error("database unavailable (ref %s): %s", ref, type(exc.orig).__name__)
        return outcome_response(
            503, [Issue(f"the database is unavailable; retry later (ref {ref})", code="transient")]
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        ref = uuid.uuid4().hex[:12]
        log.error("unexpected error (ref %s): %s", ref, type(exc).__name__, exc_info=exc)
        return outcome_response(500, [Issue(f"internal error (ref {ref})", code="exception")])
