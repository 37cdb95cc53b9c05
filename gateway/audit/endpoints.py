"""``/audit``: what lets anyone check the log without trusting the gateway, and the auditors' tools.

Any authenticated caller: ``GET /audit/checkpoint`` (the latest signed note),
``GET /audit/checkpoint/key`` (the verifier key), ``GET /audit/proof/inclusion`` and
``GET /audit/proof/consistency`` (RFC 9162 proofs). Role ``bha_auditor``: ``GET /audit/entries`` (the
leaves themselves: they name patients), ``GET /audit/events``, ``GET /audit/accounting``, the
break-the-glass queue and accounting suspensions; every auditor read is itself audited, in the same
transaction, before the response is built. Formats: docs/audit.md.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from gateway.audit import reports
from gateway.audit.checkpoint import consistency_proof, inclusion_proof
from gateway.audit.context import audit_context
from gateway.audit.log import get_audit_log
from gateway.audit.repository import AuditRepository, LeafFilter
from gateway.auth.deps import get_caller, require_role
from gateway.auth.schemas import Caller
from gateway.fhir.errors import Conflict, InvalidRequest, NotFound

router = APIRouter(prefix="/audit", tags=["audit"])
AUDITOR = "bha_auditor"
MAX_ENTRIES = 1000
NOTE_TYPE = "text/plain; charset=utf-8"


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt.lower() in ("csv", "text/csv")
    return "text/csv" in request.headers.get("accept", "")


def _csv(text: str, name: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


# ---- verifiable log (any authenticated caller) ---------------------------------------------------
@router.get("/checkpoint")
def latest_checkpoint(request: Request, _caller: Caller = Depends(get_caller)) -> Response:
    with request.app.state.db.unit_of_work() as session:
        row = AuditRepository(session).latest_checkpoint()
    if row is None:
        raise NotFound("no checkpoint has been signed yet; run `gateway audit checkpoint`")
    return Response(row.note, media_type=NOTE_TYPE)


@router.get("/checkpoint/key")
def checkpoint_key(request: Request, _caller: Caller = Depends(get_caller)) -> Response:
    signer = get_audit_log(request.app.state).signer
    if signer is None:
        raise NotFound("this gateway has no checkpoint key")
    return Response(signer.verifier.vkey + "\n", media_type=NOTE_TYPE)


@router.get("/proof/inclusion")
def proof_inclusion(
    request: Request,
    index: int = Query(..., ge=0),
    size: int = Query(..., ge=1),
    _caller: Caller = Depends(get_caller),
) -> Response:
    with request.app.state.db.unit_of_work() as session:
        proof = inclusion_proof(session, index, size)
    return _json({"index": index, "size": size, "hashes": [_b64(h) for h in proof]})


@router.get("/proof/consistency")
def proof_consistency(
    request: Request,
    first: int = Query(..., alias="from", ge=1),
    second: int = Query(..., alias="to", ge=1),
    _caller: Caller = Depends(get_caller),
) -> Response:
    with request.app.state.db.unit_of_work() as session:
        proof = consistency_proof(session, first, second)
    return _json({"from": first, "to": second, "hashes": [_b64(h) for h in proof]})


# ---- auditors ------------------------------------------------------------------------------------
def _auditor(request: Request, caller: Caller = Depends(get_caller)) -> Caller:
    require_role(caller, AUDITOR)
    return caller


@router.get("/entries")
def entries(
    request: Request,
    start: int = Query(..., ge=0),
    end: int = Query(..., ge=1),
    caller: Caller = Depends(_auditor),
) -> Response:
    """The leaves ``[start, end)``, one per line (canonical bytes never contain a newline)."""
    if end <= start or end - start > MAX_ENTRIES:
        raise InvalidRequest(f"ask for 1 to {MAX_ENTRIES} entries with start < end")
    audit = get_audit_log(request.app.state)
    with request.app.state.db.unit_of_work() as session:
        repo = AuditRepository(session)
        size = repo.size()
        if end > size:
            raise InvalidRequest(f"the log has {size} sequenced entries", expression="end")
        leaves = repo.leaves(start, end)
        ctx = audit_context(request, caller)
        audit.append(session, audit.events.export(ctx, f"audit log entries {start} to {end - 1}"))
    body = b"".join(leaf + b"\n" for _, leaf in leaves)
    return Response(body, media_type="application/x-ndjson")


@router.get("/events")
def events(
    request: Request,
    patient: str | None = None,
    agent: str | None = None,
    agency: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    purpose: str | None = None,
    since: str | None = Query(None, alias="from"),
    until: str | None = Query(None, alias="to"),
    count: int = Query(100, alias="_count", ge=1, le=1000),
    offset: int = Query(0, alias="_offset", ge=0),
    fmt: str | None = Query(None, alias="_format"),
    caller: Caller = Depends(_auditor),
) -> Response:
    flt = LeafFilter(
        patient=patient,
        agent=agent,
        agency=agency,
        action=action,
        outcome=outcome,
        purpose=purpose,
        since=reports.parse_bound(since, "from", upper=False),
        until=reports.parse_bound(until, "to", upper=True),
    )
    audit = get_audit_log(request.app.state)
    with request.app.state.db.unit_of_work() as session:
        rows = reports.search_events(AuditRepository(session), flt, count=count, offset=offset)
        what = f"audit event search ({len(rows)} events)"
        ctx = audit_context(request, caller)
        audit.append(session, audit.events.export(ctx, what, patients=[patient] if patient else ()))
    if _wants_csv(request, fmt):
        return _csv(reports.to_csv(rows, (*reports.EVENT_COLUMNS, "patients")), "audit-events")
    return _json({"events": rows, "count": len(rows), "offset": offset})


@router.get("/accounting")
def accounting(
    request: Request,
    patient: str = Query(..., pattern=r"^Patient/[A-Za-z0-9\-.]{1,64}$"),
    since: str | None = Query(None, alias="from"),
    until: str | None = Query(None, alias="to"),
    fmt: str | None = Query(None, alias="_format"),
    caller: Caller = Depends(_auditor),
) -> Response:
    """45 CFR 164.528 accounting of disclosures for one person."""
    start = reports.parse_bound(since, "from", upper=False)
    end = reports.parse_bound(until, "to", upper=True)
    audit = get_audit_log(request.app.state)
    with request.app.state.db.unit_of_work() as session:
        result = reports.accounting(AuditRepository(session), patient, start, end)
        ctx = audit_context(request, caller)
        what = f"accounting of disclosures ({len(result.disclosures)} disclosures)"
        audit.append(session, audit.events.export(ctx, what, patients=[patient]))
    if _wants_csv(request, fmt):
        columns = ("date", "recipient", "recipient_agent", "what", "purpose", "index", "event_id")
        return _csv(reports.to_csv(result.disclosures, columns), "accounting-of-disclosures")
    return _json(result.as_json())


@router.get("/btg")
def btg_queue(
    request: Request,
    status: str = Query("pending", pattern="^(pending|reviewed|all)$"),
    count: int = Query(100, alias="_count", ge=1, le=1000),
    offset: int = Query(0, alias="_offset", ge=0),
    fmt: str | None = Query(None, alias="_format"),
    caller: Caller = Depends(_auditor),
) -> Response:
    """Break-the-glass events awaiting (or past) an auditor's review."""
    audit = get_audit_log(request.app.state)
    with request.app.state.db.unit_of_work() as session:
        rows = reports.btg_queue(AuditRepository(session), status, count=count, offset=offset)
        ctx = audit_context(request, caller)
        audit.append(session, audit.events.export(ctx, f"break-the-glass queue ({status})"))
    if _wants_csv(request, fmt):
        columns = (*reports.EVENT_COLUMNS, "patients", "reason", "reviewed", "reviewer")
        return _csv(reports.to_csv(rows, (*columns, "review_note", "reviewed_at")), "btg-queue")
    return _json({"events": rows, "count": len(rows), "offset": offset})


class ReviewIn(BaseModel):
    note: str = Field(min_length=1, max_length=4000)


@router.post("/btg/{event_id}/review")
def btg_review(
    event_id: str, review: ReviewIn, request: Request, caller: Caller = Depends(_auditor)
) -> Response:
    audit = get_audit_log(request.app.state)
    reviewer = caller.user or caller.client_id
    with request.app.state.db.unit_of_work() as session:
        repo = AuditRepository(session)
        row = repo.event(event_id)
        if row is None or row.kind != "110113/110127":
            raise NotFound(f"{event_id} is not a break-the-glass event")
        if repo.review_of(int(row.seq)) is not None:
            raise Conflict(f"break-the-glass event {event_id} has already been reviewed")
        now = time.time()
        repo.insert_review(int(row.seq), reviewer, review.note, now)
        ctx = audit_context(request, caller)
        audit.append(session, audit.events.configuration(ctx, "review", event_id, action="C"))
    return _json(
        {"event_id": event_id, "reviewer": reviewer, "note": review.note, "reviewed": True}, 201
    )


class SuspensionIn(BaseModel):
    patient: str = Field(pattern=r"^Patient/[A-Za-z0-9\-.]{1,64}$")
    recipient: str = Field(min_length=1, max_length=64, description="the agency id")
    until: str = Field(description="FHIR date or instant")
    requested_by: str = Field(min_length=1, max_length=500)
    written: bool = True
    statement: str = Field(default="", max_length=4000)


@router.post("/suspensions")
def add_suspension(
    body: SuspensionIn, request: Request, caller: Caller = Depends(_auditor)
) -> Response:
    """Record a 45 CFR 164.528(a)(2) suspension of a person's accounting."""
    until = reports.parse_bound(body.until, "until", upper=True)
    if until is None:
        raise InvalidRequest("until is required", expression="until")
    audit = get_audit_log(request.app.state)
    with request.app.state.db.unit_of_work() as session:
        row = reports.add_suspension(
            AuditRepository(session),
            patient=body.patient,
            recipient=body.recipient,
            until=until,
            requested_by=body.requested_by,
            written=body.written,
            statement=body.statement,
            created_by=caller.user or caller.client_id,
        )
        ctx = audit_context(request, caller)
        audit.append(
            session, audit.events.configuration(ctx, "suspension", str(row["id"]), action="C")
        )
    return _json(row, 201)


@router.get("/suspensions")
def list_suspensions(
    request: Request, patient: str | None = None, caller: Caller = Depends(_auditor)
) -> Response:
    audit = get_audit_log(request.app.state)
    with request.app.state.db.unit_of_work() as session:
        rows = [reports.suspension_row(r) for r in AuditRepository(session).suspensions(patient)]
        ctx = audit_context(request, caller)
        audit.append(session, audit.events.export(ctx, "accounting suspensions"))
    return _json({"suspensions": rows})
