"""FHIR Bulk Data export (HL7 Bulk Data Access IG 2.0.0) under ``/fhir``::

    GET|POST /fhir/$export                       every type the caller may search
    GET|POST /fhir/Patient/$export               the Patient compartments of the patients the
                                                 caller may read
    GET|POST /fhir/Group/{id}/$export            the same, for the Group's active members (the
                                                 Group must be readable by the caller)
    GET      /fhir/$export-status/{job}          202 + X-Progress, 200 + manifest, 500 if failed
    DELETE   /fhir/$export-status/{job}          cancel, and delete the job and its files (202)
    GET      /fhir/$export-file/{file}           one NDJSON file (application/fhir+ndjson)

Kick-off: 202 with ``Content-Location`` (the status URL) and the work starts right after the
response (:class:`~gateway.export.runner.ExportRunner`, in this process; a poll resumes it in any
replica if this process dies). Only the client (and person) that started a job sees its status and
files; everyone else gets 404. The kick-off and every file download are audited (DCM 110106 Export;
a download that discloses is accounted, with the policies and consents that decided the file).
"""

from __future__ import annotations

import time
from dataclasses import replace

import orjson
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from gateway.audit.codes import is_accountable
from gateway.audit.context import audit_context
from gateway.audit.fhir_trail import decided
from gateway.audit.log import get_audit_log, mark_read_only
from gateway.auth.deps import get_caller, require
from gateway.auth.schemas import Caller
from gateway.db.tables_export import ExportFileRow, ExportJobRow
from gateway.export.kickoff import body_parameters, check_headers, group_members, parse
from gateway.export.runner import ExportRunner, job_caller
from gateway.export.schemas import (
    COMPLETED,
    FAILED,
    NDJSON,
    config_of,
    manifest,
    progress,
    status_url,
)
from gateway.export.service import ExportService
from gateway.fhir.dates import http_date
from gateway.fhir.errors import Forbidden, Issue
from gateway.fhir.schemas import FHIR_JSON, outcome_bytes
from gateway.fhir.service import ResourceService
from gateway.sharing.guard import purpose_of

router = APIRouter(prefix="/fhir")


@router.get("/$export")
@router.post("/$export")
async def export_system(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    return await _kick_off(request, caller, "system")


@router.get("/Patient/$export")
@router.post("/Patient/$export")
async def export_patients(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    return await _kick_off(request, caller, "patient")


@router.get("/Group/{group_id}/$export")
@router.post("/Group/{group_id}/$export")
async def export_group(
    group_id: str, request: Request, caller: Caller = Depends(get_caller)
) -> Response:
    require(caller, "r", "Group")  # the Group is read: scopes are a ceiling on that too
    return await _kick_off(request, caller, "group", group_id)


async def _kick_off(
    request: Request, caller: Caller, level: str, group_id: str | None = None
) -> Response:
    lenient = check_headers(request.headers)
    if request.headers.get("x-btg-reason", "").strip() or request.headers.get(
        "x-btg-medical-emergency"
    ):
        raise Forbidden(
            "break-the-glass opens one patient's records in an emergency; it does not apply to "
            "bulk export: send the kick-off without X-BTG-Reason"
        )
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        items += body_parameters(request.headers.get("content-type", ""), await request.body())
    kickoff = parse(level, items, caller, lenient=lenient, group_id=group_id)
    state = request.app.state

    def run() -> ExportJobRow:
        with state.db.unit_of_work() as session:
            members = None
            if group_id is not None:
                members = _members(request, session, caller, group_id)
            job = ExportService(session, config_of(state)).start(
                caller, kickoff, request_url=str(request.url), members=members, now=time.time()
            )
            _audit_kick_off(request, session, caller, job)
            return job

    job = await run_in_threadpool(run)
    issues = [
        Issue(
            f"export {job.id} started; poll the Content-Location URL for its files",
            code="informational",
            severity="information",
        ),
        *kickoff.warnings,
    ]
    return Response(
        outcome_bytes(issues),
        status_code=202,
        headers={"Content-Location": status_url(state.settings.fhir_base, job.id)},
        media_type=FHIR_JSON,
        background=BackgroundTask(ExportRunner(state).run, job.id),
    )


def _members(request: Request, session: Session, caller: Caller, group_id: str) -> list[str]:
    """The Group's active Patient members, the Group read through the caller's sharing guard
    (403 when the rules withhold it, 404 / 410 when there is none)."""
    state = request.app.state
    guard = state.guard_factory(session, caller, request)
    request.state.guard = guard  # a refusal's AuditEvent names the policies that decided
    group = ResourceService(session, state.settings.fhir_base, guard=guard).read("Group", group_id)
    return group_members(orjson.loads(group.content or "{}"))


def _audit_kick_off(request: Request, session: Session, caller: Caller, job: ExportJobRow) -> None:
    guard = getattr(request.state, "guard", None)
    _, policies, consents = decided(getattr(guard, "decisions", None) or [])
    group = f" of Group/{job.group_id}" if job.group_id else ""
    since = f", changed since {job.since}" if job.since else ""
    types = ", ".join(orjson.loads(job.types))
    audit = get_audit_log(request.app.state)
    event = audit.events.export(
        audit_context(request, caller),
        f"FHIR bulk data export {job.id} requested ({job.level} level{group}{since}): {types}",
        resources=[f"Group/{job.group_id}"] if job.group_id else (),
        policies=policies,
        consents=consents,
    )
    audit.append(session, event)


@router.get("/$export-status/{job_id}")
def export_status(job_id: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    state = request.app.state
    config = config_of(state)
    now = time.time()
    with state.db.unit_of_work() as session:
        service = ExportService(session, config)
        job = service.owned(caller, job_id, now)
        files = service.files(job)
    if job.status == COMPLETED:
        return Response(
            orjson.dumps(manifest(state.settings.fhir_base, job, files)),
            media_type="application/json",
            headers={"Expires": http_date(job.expires_at)},
        )
    if job.status == FAILED:
        issue = Issue(job.error or "the export failed; start a new one", code="exception")
        return Response(outcome_bytes([issue]), status_code=500, media_type=FHIR_JSON)
    # Nobody holds the job (its runner died, or has not started yet): this poll resumes it.
    stalled = job.lease_until is None or job.lease_until < now
    return Response(
        status_code=202,
        headers={"X-Progress": progress(job), "Retry-After": str(config.retry_after)},
        background=BackgroundTask(ExportRunner(state).run, job.id) if stalled else None,
    )


@router.delete("/$export-status/{job_id}")
def export_cancel(job_id: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    state = request.app.state
    with state.db.unit_of_work() as session:
        ExportService(session, config_of(state)).cancel(caller, job_id, time.time())
    issue = Issue(
        f"export {job_id} cancelled; its files are deleted",
        code="informational",
        severity="information",
    )
    return Response(outcome_bytes([issue]), status_code=202, media_type=FHIR_JSON)


@router.get("/$export-file/{file_id}")
def export_file(file_id: str, request: Request, caller: Caller = Depends(get_caller)) -> Response:
    state = request.app.state
    with state.db.unit_of_work() as session:
        found, job = ExportService(session, config_of(state)).file(caller, file_id, time.time())
        require(caller, "r", found.rtype)
        _audit_download(request, session, caller, found, job)
    # Built only after the unit of work committed with its AuditEvent (fail closed).
    return Response(found.content, media_type=NDJSON)


def _audit_download(
    request: Request, session: Session, caller: Caller, found: ExportFileRow, job: ExportJobRow
) -> None:
    """The file leaves: a DCM 110106 Export event naming the patients and resources in it and the
    policies and consents that decided it, for the purpose the job was decided under."""
    named = orjson.loads(found.audit)
    purpose = purpose_of(job_caller(job), None)
    audit = get_audit_log(request.app.state)
    event = audit.events.export(
        replace(audit_context(request, caller), purposes=(purpose,)),
        f"FHIR bulk data export {job.id}: file {found.seq}, {found.count} {found.rtype}",
        patients=named["patients"],
        resources=named["resources"],
        policies=named["policies"],
        consents=named["consents"],
        disclosure=bool(named["patients"]) and is_accountable(purpose),
    )
    mark_read_only(session)  # nothing else is written: the event commits with the read
    audit.append(session, event)
