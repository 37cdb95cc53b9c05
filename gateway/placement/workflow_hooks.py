"""Hooks for the FHIR REST routes: placement Tasks change only through the workflow.

The FHIR endpoints call these inside their unit of work, before the generic service; ``None`` means
"not a placement Task, carry on as usual"::

    stored = workflow_hooks.on_task_update(session, ctx, caller, rid, body, if_match)
    if stored is None:
        stored = svc.update("Task", rid, body, if_match=if_match)

* ``POST /fhir/Task``: a parent Task whose focus is a placement ServiceRequest (its code from the
  bed-type system) opens a request and asks the facilities; a Task ``partOf`` a placement Task is
  refused (409): child Tasks are created by the gateway.
* ``PUT``/``PATCH /fhir/Task/{id}``: applied as the transition the new version asks for.
* ``DELETE /fhir/Task/{id}``: refused (409) for placement Tasks; cancel the request instead.

Call :func:`gateway.placement.workflow_matcher.prepare_candidates` before opening the unit of work
of a ``POST /fhir/Task`` (the matcher's index cannot refresh inside an open SQLite transaction).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gateway.auth.schemas import Caller
from gateway.fhir.errors import Conflict, FhirError
from gateway.fhir.service import Stored
from gateway.fhir.write_hooks import written_or_current
from gateway.placement import workflow_codes as codes
from gateway.placement.workflow_repository import PlacementRepository
from gateway.placement.workflow_types import PlacementContext
from gateway.placement.workflow_updates import PlacementWorkflow

Resource = dict[str, Any]


def is_placement_task(session: Session, task_id: str) -> bool:
    """Whether ``Task/task_id`` is a parent or child Task of a placement request."""
    return PlacementRepository(session).is_placement_task(task_id)


def _opens_request(wf: PlacementWorkflow, body: Any) -> bool:
    if not isinstance(body, dict) or body.get("partOf"):
        return False
    if codes.code_in(body.get("code"), codes.TASK_CODE_SYSTEM) != "fulfill":
        return False
    sr_id = codes.ref_id(body.get("focus"), "ServiceRequest")
    if sr_id is None:
        return False
    try:
        sr = wf.read("ServiceRequest", sr_id)
    except FhirError:
        return False
    return codes.level_of_care(sr) is not None


def on_task_create(
    session: Session, ctx: PlacementContext, caller: Caller, body: Any, rid: str | None = None
) -> Stored | None:
    """Open a placement request from a FHIR-created parent Task; refuse hand-made child Tasks.

    ``rid``: the id a transaction Bundle assigned to the Task (the parent is stored under it)."""
    wf = PlacementWorkflow(session, ctx)
    if isinstance(body, dict):
        for part in body.get("partOf") or []:
            parent_id = codes.ref_id(part, "Task")
            if parent_id is not None and wf.repo.is_placement_task(parent_id):
                raise Conflict(
                    "facility Tasks of a placement request are created by the gateway; "
                    "create the parent Task (or POST /placement/requests) instead"
                )
    if not _opens_request(wf, body):
        return None
    opened = wf.open_from_task(caller, body, task_id=rid)
    return written_or_current(wf.svc, opened.parent, created=True)


def on_task_update(
    session: Session,
    ctx: PlacementContext,
    caller: Caller,
    task_id: str,
    body: Any,
    if_match: str | None = None,
) -> Stored | None:
    """A PUT of a placement Task as a workflow transition (None: not a placement Task)."""
    if not is_placement_task(session, task_id):
        return None
    wf = PlacementWorkflow(session, ctx)
    return written_or_current(wf.svc, wf.update_task(caller, task_id, body, if_match=if_match))


def on_task_patch(
    session: Session,
    ctx: PlacementContext,
    caller: Caller,
    task_id: str,
    operations: Any,
    if_match: str | None = None,
) -> Stored | None:
    """A JSON Patch of a placement Task as a workflow transition (None: not a placement Task)."""
    if not is_placement_task(session, task_id):
        return None
    wf = PlacementWorkflow(session, ctx)
    return written_or_current(wf.svc, wf.patch_task(caller, task_id, operations, if_match=if_match))


def on_task_delete(session: Session, task_id: str) -> None:
    """Refuse deleting a placement Task (its history is the placement's record)."""
    if is_placement_task(session, task_id):
        raise Conflict(
            f"Task/{task_id} belongs to a placement request and cannot be deleted; cancel the "
            "request instead (status cancelled with a statusReason)"
        )
