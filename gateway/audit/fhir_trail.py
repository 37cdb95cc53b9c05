"""Audit of the FHIR API: one BALP AuditEvent per interaction, written in the interaction's own unit of
work (writes: with the data; reads: before the response leaves), naming the patients touched and the
policies and consents that decided. Refusals are recorded in a unit of work of their own."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from gateway.audit.codes import READ_INTERACTIONS, outcome_for_status
from gateway.audit.context import audit_context
from gateway.audit.log import get_audit_log, mark_read_only
from gateway.auth.schemas import Caller
from policies.btg import AUDIT_BTG as BTG_AUDIT

log = logging.getLogger("gateway.audit")
# Interactions that change nothing: each event is committed with the read in one round trip
# (gateway.audit.log.mark_read_only).
GROUP_COMMITTED = READ_INTERACTIONS | {"search", "search-type", "search-system", "capabilities"}


def decided(decisions: Sequence[Any]) -> tuple[list[str], list[str], list[str]]:
    """The patients, policies and consents a sharing guard's decisions name (``guard.decisions``,
    refusals included), as the interaction's AuditEvent records them."""
    patients = sorted({f"Patient/{d.patient}" for d in decisions if d.patient})
    policies = sorted({p for d in decisions for p in d.decision.policy_ids})
    consents = sorted({c for d in decisions for c in d.decision.consents_consulted})
    return patients, policies, consents


def _decided(request: Request) -> tuple[list[str], list[str], list[str]]:
    guard = getattr(request.state, "guard", None)
    return decided(getattr(guard, "decisions", []) or [])


def record_access(
    request: Request,
    session: Session,
    caller: Caller,
    interaction: str,
    *,
    resources: list[str] | None = None,
    resource_type: str | None = None,
    patients: list[str] | None = None,
) -> None:
    """Append the event for an allowed interaction to ``session``'s transaction (fail closed)."""
    audit = get_audit_log(request.app.state)
    if interaction in GROUP_COMMITTED:
        mark_read_only(session)  # nothing else to commit: the INSERT travels with the COMMIT
    seen, policies, consents = _decided(request)
    event = audit.events.rest(
        audit_context(request, caller),
        interaction,
        resources=resources or (),
        patients=sorted(set(seen) | set(patients or ())),
        query=request.url.query or None,
        resource_type=resource_type,
        policies=policies,
        consents=consents,
    )
    audit.append(session, event)
    glass = _broke_glass(request)
    if glass:  # break-the-glass started: a security alert of its own, queued for review
        # The purpose of this access is break-the-glass, whatever else the token holds.
        ctx = replace(audit_context(request, caller), purposes=("BTG",))
        reason = getattr(getattr(request.state, "guard", None), "btg_reason", None)
        btg_policies = sorted({p for d in glass for p in d.decision.policy_ids})
        event = audit.events.break_glass(
            ctx,
            patients=sorted({f"Patient/{d.patient}" for d in glass if d.patient}),
            reason=reason,
            resources=list(dict.fromkeys(f"{d.rtype}/{d.rid}" for d in glass if d.rid)),
            policies=btg_policies,
        )
        audit.append(session, event)


def _broke_glass(request: Request) -> list[Any]:
    """The decisions of this request that break-the-glass allowed (policies.btg audit kind)."""
    guard = getattr(request.state, "guard", None)
    return [
        d
        for d in getattr(guard, "decisions", []) or []
        if d.decision.allowed and BTG_AUDIT in d.decision.obligations.audit_events
    ]


def record_refusal(request: Request, status: int, interaction: str, reason: str) -> None:
    """Record a refused interaction (its own unit of work: the refused one rolled back)."""
    caller = getattr(request.state, "caller", None)
    if not isinstance(caller, Caller):
        return
    audit = get_audit_log(request.app.state)
    seen, policies, consents = _decided(request)
    event = audit.events.rest(
        audit_context(request, caller),
        interaction,
        outcome=outcome_for_status(status),
        patients=seen,
        query=request.url.query or None,
        policies=policies,
        consents=consents,
        outcome_desc=reason[:300],
    )
    try:
        audit.record(request.app.state.db, event)
    except Exception as exc:  # the refusal stands either way; the failure is logged
        log.error("audit of a refusal failed: %s", type(exc).__name__)


def interaction_of(request: Request) -> str:
    """The BALP REST interaction a FHIR request path stands for."""
    method, parts = request.method, [p for p in request.url.path.split("/") if p][1:]
    if not parts:
        return "transaction" if method == "POST" else "capabilities"
    if "_history" in parts:
        return (
            "vread"
            if parts[-1] != "_history" and len(parts) == 4
            else ("history-instance" if len(parts) == 3 else "history-type")
        )
    if method == "GET":
        return "read" if len(parts) == 2 else "search-type"
    if method == "POST":
        return (
            "search-type"
            if parts[-1] == "_search"
            else ("operation" if parts[-1].startswith("$") else "create")
        )
    return {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "operation")


def any_resource(items: Any) -> list[str]:
    return [str(i) for i in items if i]
