"""``POST /ingest/{adapter}``: an agency system pushes its own records in its own format.

One record answers its ``transaction-response`` Bundle (or a 4xx OperationOutcome pointing at the
record, segment and field at fault); a batch answers a ``batch-response`` Bundle with one entry per
record, refused records carrying their OperationOutcome.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.base import SourceInfo
from gateway.audit.context import audit_context
from gateway.audit.log import get_audit_log
from gateway.auth.deps import get_caller, require
from gateway.auth.schemas import Caller
from gateway.fhir.errors import FhirError, Forbidden, operation_outcome
from gateway.fhir.schemas import FHIR_JSON, dumps
from gateway.ingest.service import IngestResult, IngestService

router = APIRouter(prefix="/ingest")


def ingest_service(request: Request) -> IngestService:
    state = request.app.state
    return IngestService(
        state.db,
        state.settings.fhir_base,
        state.adapters,
        labeller=state.labeller,
        audit=get_audit_log(state),
    )


def source_for(caller: Caller) -> SourceInfo:
    if not caller.agency:
        raise Forbidden("only an agency's registered system can push records", code="forbidden")
    return SourceInfo(agency=caller.agency, client_id=caller.client_id)


def batch_response(result: IngestResult) -> dict[str, Any]:
    entries = []
    for rec in result.records:
        if rec.outcome == "refused":
            entries.append(
                {"response": {"status": str(rec.status), "outcome": operation_outcome(rec.issues)}}
            )
        else:
            status = "201 Created" if rec.outcome == "stored" else "200 OK"
            entries.append({"resource": rec.response, "response": {"status": status}})
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "batch-response",
        "entry": entries,
    }


@router.post("/{adapter}")
async def ingest(adapter: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    service = ingest_service(request)
    service.adapter(adapter)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    payload = await request.body()
    source = source_for(caller)
    ctx = audit_context(request, caller)

    def authorize(interaction: str, rtype: str) -> None:
        require(caller, interaction, rtype)

    def run() -> IngestResult:
        records = service.parse(adapter, payload, media_type)
        result = IngestResult()
        for record in records:
            result.records.append(service.store_record(adapter, record, source, authorize, ctx))
        return result

    result = await run_in_threadpool(run)
    if len(result.records) == 1:
        only = result.records[0]
        if only.outcome == "refused":
            raise _refusal(only)
        status = 201 if only.outcome == "stored" else 200
        return Response(dumps(only.response), status_code=status, media_type=FHIR_JSON)
    return Response(dumps(batch_response(result)), media_type=FHIR_JSON)


def _refusal(record: Any) -> FhirError:
    error = FhirError(record.issues[0].diagnostics, issues=record.issues)
    error.status = record.status
    return error
