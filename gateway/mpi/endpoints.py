"""``POST /fhir/Patient/$match`` (FHIR R4 patient-operation-match) and the identity review queue."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.auth.deps import get_caller, require, require_role
from gateway.auth.schemas import Caller
from gateway.fhir.endpoints import audited
from gateway.fhir.errors import InvalidRequest, UnsupportedMediaType
from gateway.fhir.model import validate
from gateway.fhir.schemas import FHIR_JSON, dumps
from gateway.fhir.service import ResourceService
from gateway.mpi.service import MpiService

router = APIRouter()
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def _parameters(body: Any) -> tuple[dict[str, Any], bool, int]:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InvalidRequest("$match takes a Parameters resource", expression="resourceType")
    patient, only_certain, count = None, False, 10
    for i, param in enumerate(body.get("parameter") or []):
        name = param.get("name")
        if name == "resource":
            patient = param.get("resource")
        elif name == "onlyCertainMatches":
            only_certain = bool(param.get("valueBoolean"))
        elif name == "count":
            count = param.get("valueInteger")
            if not isinstance(count, int) or not 1 <= count <= 100:
                raise InvalidRequest(
                    "count must be a whole number from 1 to 100",
                    expression=f"Parameters.parameter[{i}]",
                )
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise InvalidRequest(
            "the resource parameter must hold a Patient", expression="Parameters.parameter"
        )
    validate(patient)
    return patient, only_certain, count


@router.post("/fhir/Patient/$match")
async def match(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    require(caller, "s", "Patient")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/fhir+json", "application/json"):
        raise UnsupportedMediaType(
            "send a Parameters resource as application/fhir+json", expression="Content-Type"
        )
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not valid JSON", expression="$") from None
    patient, only_certain, count = _parameters(body)
    state = request.app.state

    def run() -> bytes:
        # Candidates are disclosures like search hits: each passes the sharing rules (withheld or
        # projected as a search would show it), and the call is audited before it answers.
        with audited(request, caller) as session:
            guard = state.guard_factory(session, caller, request)
            request.state.guard = guard
            mpi = MpiService(ResourceService(session, state.settings.fhir_base))
            found = mpi.candidates(patient, exclude=str(patient.get("id") or ""))
            entries = []
            for cand in found:  # best first; decided only until the page is full
                if cand.grade == "certainly-not" or (only_certain and cand.grade != "certain"):
                    continue
                content = guard.shown("Patient", cand.patient_id, cand.content, "search")
                if content is None:
                    continue
                entries.append(
                    {
                        "fullUrl": f"{state.settings.fhir_base}/Patient/{cand.patient_id}",
                        "resource": orjson.Fragment(content),
                        "search": {
                            "mode": "match",
                            "score": round(cand.score.total, 4),
                            "extension": [{"url": MATCH_GRADE, "valueCode": cand.grade}],
                        },
                    }
                )
                if len(entries) >= count:
                    break
        return dumps(
            {
                "resourceType": "Bundle",
                "id": str(uuid.uuid4()),
                "type": "searchset",
                "total": len(entries),
                "entry": entries,
            }
        )

    return Response(await run_in_threadpool(run), media_type=FHIR_JSON)


@router.get("/mpi/review")
async def review_queue(request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    require_role(caller, "gateway_admin")

    def run() -> list[dict[str, Any]]:
        with audited(request, caller) as session:
            mpi = MpiService(ResourceService(session, request.app.state.settings.fhir_base))
            return [
                {
                    "id": r.pk,
                    "patients": [f"Patient/{r.patient_a}", f"Patient/{r.patient_b}"],
                    "score": round(r.score, 4),
                }
                for r in mpi.repo.queue()
            ]

    return JSONResponse(await run_in_threadpool(run))


@router.post("/mpi/review/{link_id}")
async def decide(
    link_id: int, request: Request, caller: Caller = Depends(get_caller)
) -> JSONResponse:
    require_role(caller, "gateway_admin")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not valid JSON", expression="$") from None
    decision = body.get("decision") if isinstance(body, dict) else None
    if decision not in ("confirm", "reject"):
        raise InvalidRequest('decision must be "confirm" or "reject"', expression="decision")

    def run() -> dict[str, Any]:
        with audited(request, caller) as session:
            mpi = MpiService(ResourceService(session, request.app.state.settings.fhir_base))
            return mpi.decide(link_id, decision == "confirm", caller.user or caller.client_id)

    return JSONResponse(await run_in_threadpool(run))
