"""What each party is shown of a placement: the facility's view of its child Task, the requester's
progress summary. Reads go through the request's sharing guard (:class:`~gateway.placement.trail.
Trail`), and every resource shown is named in the interaction's AuditEvent.

Minimum necessary (HIPAA 164.502(b)): until its facility accepts, a facility sees its child Task and
the *reduced* ServiceRequest (age, sex, level of care, payer, diagnosis categories, risk summary and
the hold deadline: :func:`gateway.placement.workflow_sharing.reduce_service_request`); once it has
accepted, the clinical packet (the ServiceRequest, the Patient and the Coverages), each as the
sharing rules let it see them. A facility whose offer was declined, cancelled or filled elsewhere
keeps seeing only the reduced request.
"""

from __future__ import annotations

import uuid
from typing import Any

from gateway.auth.schemas import Caller
from gateway.db.tables_placement import PlacementOfferRow, PlacementRequestRow
from gateway.fhir.errors import Forbidden, NotFound
from gateway.placement.trail import Trail
from gateway.placement.workflow import WorkflowBase
from gateway.placement.workflow_updates import PlacementWorkflow

Resource = dict[str, Any]
OVERSIGHT = ("gateway_admin", "bha_auditor")


def _bundle(base: str, docs: list[Resource]) -> Resource:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "entry": [
            {"fullUrl": f"{base}/{d['resourceType']}/{d['id']}", "resource": d} for d in docs
        ],
    }


def accepted_by(row: PlacementRequestRow, offer: PlacementOfferRow) -> bool:
    """Whether this offer is the one the request was placed with."""
    return offer.state == "accepted" or row.accepted_task_id == offer.task_id


def facility_task_view(wf: WorkflowBase, trail: Trail, caller: Caller, task_id: str) -> Resource:
    """``GET /placement/tasks/{id}``: a child Task and the request as its viewer may see it."""
    offer = wf.repo.offer_for_task(task_id)
    if offer is None:
        raise NotFound(f"Task/{task_id} is not a facility Task of a placement request")
    row = wf.session.get(PlacementRequestRow, offer.request_pk)
    if row is None:
        raise NotFound(f"Task/{task_id} is not a facility Task of a placement request")
    facility = caller.agency == offer.org_id
    if not facility and caller.agency != row.requester:
        raise Forbidden("only the facility asked and the requesting agency can see this Task")
    child = trail.shown(wf.read("Task", task_id))
    sr = wf.read("ServiceRequest", row.service_request_id)
    if facility and not accepted_by(row, offer):
        trail.touch(sr)  # disclosed, reduced to the minimum necessary
        patient, coverages = wf.related(sr)
        child.pop("for", None)  # not even the patient's id before acceptance
        return _bundle(wf.ctx.fhir_base, [child, wf.ctx.reduce(sr, patient, coverages, wf.now)])
    docs = [child, trail.shown(sr)]
    if facility:
        patient, coverages = wf.related(sr)
        for doc in (patient, *coverages):
            if doc is not None:
                docs.append(trail.shown(doc))
    return _bundle(wf.ctx.fhir_base, docs)


def progress_view(wf: PlacementWorkflow, trail: Trail, caller: Caller, some_id: str) -> Resource:
    """``GET /placement/requests/{id}``: the request's workflow state, for its requester (and the
    oversight roles, who see states and ids but no clinical content)."""
    pk = wf.repo.request_pk_for(some_id)
    row = None if pk is None else wf.session.get(PlacementRequestRow, pk)
    if row is None:
        raise NotFound(f"no placement request is known by {some_id}")
    if caller.agency != row.requester and caller.role not in OVERSIGHT:
        raise Forbidden("only the requesting agency can see this request's progress")
    if caller.role in OVERSIGHT:
        trail.touch_ref(f"Task/{row.task_id}")
    else:
        trail.shown(wf.read("Task", row.task_id))  # the sharing rules still apply to the requester
    trail.touch_ref(*(f"Task/{o.task_id}" for o in wf.repo.offers(row.pk or 0)))
    return wf.summary(caller, some_id)
