"""Auditor pages: the accounting of disclosures for a person, the audit events by agency, user,
purpose and outcome, the break-the-glass review queue, the log's verification status and the policy
matrix. Each read is audited as the ``/audit`` API audits it, in the same unit of work."""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.audit import reports
from gateway.audit.context import audit_context
from gateway.audit.log import get_audit_log
from gateway.audit.repository import AuditRepository, LeafFilter
from gateway.audit.verify import verify_log
from gateway.fhir.errors import Conflict, NotFound
from gateway.web.deps import AUDITOR_ROLES, BadForm, ConsoleRoute, console_user, form_of
from gateway.web.render import render
from gateway.web.repository import ConsoleRepository
from policies import matrix

router = APIRouter(prefix="/console", route_class=ConsoleRoute)
_PATIENT = re.compile(r"^(Patient/)?([A-Za-z0-9\-.]{1,64})$")
_FILTER = re.compile(r"^[A-Za-z0-9_\-.@+ ]{0,128}$")
OUTCOMES = {
    "0": "success",
    "4": "minor failure (refused)",
    "8": "serious failure",
    "12": "major failure",
}


def _patient(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    found = _PATIENT.match(value)
    if found is None:
        raise BadForm("A person is named by their record id, such as Patient/demo-patient-01.")
    return f"Patient/{found.group(2)}"


def _filters(params: Any) -> dict[str, str]:
    out = {}
    for name in ("agency", "agent", "purpose", "outcome"):
        value = str(params.get(name, "")).strip()
        if not _FILTER.match(value):
            raise BadForm(f"The {name} filter has characters it cannot contain.")
        out[name] = value
    return out


@router.get("/audit")
async def audit_home(request: Request) -> Response:
    user = console_user(request, *AUDITOR_ROLES)
    params = request.query_params
    patient = _patient(params.get("patient", ""))
    filters = _filters(params)
    searched = any(filters.values())
    audit = get_audit_log(request.app.state)

    def run() -> dict[str, Any]:
        with request.app.state.db.unit_of_work() as session:
            repo = AuditRepository(session)
            ctx = audit_context(request, user.caller)
            out: dict[str, Any] = {}
            if patient:
                result = reports.accounting(repo, patient, None, None)
                out["accounting"] = result.disclosures
                what = f"accounting of disclosures ({len(result.disclosures)} disclosures)"
                audit.append(session, audit.events.export(ctx, what, patients=[patient]))
            if searched:
                flt = LeafFilter(**{k: v or None for k, v in filters.items()})
                out["events"] = reports.search_events(repo, flt, count=100, offset=0)
                what = f"audit event search ({len(out['events'])} events)"
                audit.append(session, audit.events.export(ctx, what))
            out["btg"] = reports.btg_queue(repo, "pending", count=50, offset=0)
            audit.append(session, audit.events.export(ctx, "break-the-glass queue (pending)"))
            checkpoint = repo.latest_checkpoint()
            out["checkpoint"] = (
                None
                if checkpoint is None
                else {"size": checkpoint.size, "at": checkpoint.created_at}
            )
            out["size"] = repo.size()
            out["verification"] = ConsoleRepository(session).last_verification()
        return out

    data = await run_in_threadpool(run)
    return render(
        request,
        "audit.html",
        {
            "title": "Audit",
            "patient": patient or "",
            "filters": filters,
            "searched": searched,
            "outcomes": OUTCOMES,
            **data,
        },
    )


@router.post("/audit/btg/{event_id}/review")
async def review(request: Request, event_id: str) -> Response:
    user = console_user(request, *AUDITOR_ROLES)
    form = await form_of(request, user)
    note = form.get("note", "").strip()
    if not note or len(note) > 4000:
        raise BadForm("Write a review note (up to 4000 characters).")
    if not re.match(r"^[A-Za-z0-9\-]{1,64}$", event_id):
        raise BadForm("That link is not valid.")
    audit = get_audit_log(request.app.state)

    def run() -> None:
        with request.app.state.db.unit_of_work() as session:
            repo = AuditRepository(session)
            row = repo.event(event_id)
            if row is None or row.kind != "110113/110127":
                raise NotFound(f"{event_id} is not a break-the-glass event")
            if repo.review_of(int(row.seq)) is not None:
                raise Conflict("this break-the-glass event has already been reviewed")
            repo.insert_review(int(row.seq), user.name, note, time.time())
            ctx = audit_context(request, user.caller)
            audit.append(session, audit.events.configuration(ctx, "review", event_id, action="C"))

    await run_in_threadpool(run)
    return RedirectResponse("/console/audit#btg", status_code=303)


@router.post("/audit/verify")
async def verify(request: Request) -> Response:
    """Verify the whole log now (leaves, roots, signatures, consistency) and record the result."""
    user = console_user(request, *AUDITOR_ROLES)
    await form_of(request, user)
    audit = get_audit_log(request.app.state)
    if audit.signer is None:
        raise BadForm("This gateway has no checkpoint key, so there is nothing to verify against.")

    def run() -> None:
        report = verify_log(request.app.state.db, audit.signer.verifier)
        result = "ok" if report.ok else f"FAILED at index {report.first_bad_index}"
        what = (
            f"audit log verification: {result}, {report.entries} entries, "
            f"{report.checkpoints} checkpoints"
        )
        with request.app.state.db.unit_of_work() as session:
            ctx = audit_context(request, user.caller)
            audit.append(session, audit.events.export(ctx, what))

    await run_in_threadpool(run)
    return RedirectResponse("/console/audit#verification", status_code=303)


@router.get("/audit/policy")
async def policy(request: Request, relation: str = "serving") -> Response:
    console_user(request, *AUDITOR_ROLES)
    if relation not in matrix.RELATIONS:
        raise BadForm("Choose one of the relationships listed.")

    def run() -> tuple[list[str], list[str], dict[tuple[str, str], list[str]]]:
        roles: list[str] = []
        classes: list[str] = []
        cells: dict[tuple[str, str], list[str]] = {}
        for r in matrix.rows(relations=[relation], consents=["none"], agreements=[True]):
            if r.role not in roles:
                roles.append(r.role)
            if r.data_class not in classes:
                classes.append(r.data_class)
            if r.allowed:
                view = "" if r.view == "full" else f" ({r.view})"
                cells.setdefault((r.role, r.data_class), []).append(r.purpose + view)
        return roles, classes, cells

    roles, classes, cells = await run_in_threadpool(run)
    return render(
        request,
        "policy.html",
        {
            "title": "Policy matrix",
            "roles": roles,
            "classes": classes,
            "cells": cells,
            "relation": relation,
            "relations": matrix.RELATIONS,
        },
    )
