"""What the facility-intake page does: the facility's asks with the minimum-necessary summary the
workflow shares before acceptance, answers through the workflow, and its units' bed census."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from gateway.auth.schemas import Caller
from gateway.fhir.errors import FhirError, InvalidRequest
from gateway.fhir.service import ResourceService
from gateway.placement import census, directory
from gateway.placement import profiles as p
from gateway.placement import workflow_codes as codes
from gateway.placement.trail import Trail
from gateway.placement.transitions import DECLINE_REASONS, OfferState
from gateway.placement.workflow_sharing import AGE_EXT, CATEGORY_SYSTEM
from gateway.placement.workflow_types import PlacementContext
from gateway.placement.workflow_updates import PlacementWorkflow
from gateway.placement.workflow_views import facility_task_view
from gateway.web.deps import BadForm
from gateway.web.repository import OPEN_STATES, ConsoleRepository

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Unit:
    id: str
    name: str
    free: int | None
    total: int | None
    as_of: float | None
    age: float | None
    stale: bool
    cadence: float


@dataclass(frozen=True, slots=True)
class Ask:
    """One child Task to this facility, as much as it may see of the request."""

    task: str
    state: str
    phase: str
    unit_id: str
    asked_at: float
    reason: str | None
    need: str
    priority: str
    age: int | None
    sex: str
    payer: str
    categories: list[str]
    risk: str
    hold_expires: str
    person: str = ""  # after acceptance: the patient as the rules show them to the facility
    withheld: bool = False

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


def _summary(reduced: Resource) -> dict[str, Any]:
    """The fields of a reduced ServiceRequest the intake page shows."""
    contained = {c.get("resourceType"): c for c in reduced.get("contained") or []}
    person = contained.get("Patient") or {}
    age = next(
        (
            e.get("valueAge", {}).get("value")
            for e in person.get("extension") or []
            if e.get("url") == AGE_EXT
        ),
        None,
    )
    payer = ((contained.get("Coverage") or {}).get("payor") or [{}])[0].get("display", "")
    code = ((reduced.get("code") or {}).get("coding") or [{}])[0].get("code", "")
    categories = [
        f"{c['code']} {c.get('display', '')}".strip()
        for concept in reduced.get("reasonCode") or []
        for c in concept.get("coding") or []
        if c.get("system") == CATEGORY_SYSTEM
    ]
    ext = {e.get("url"): e for e in reduced.get("extension") or []}
    return {
        "need": {**p.BED_TYPES, **p.LEVELS_OF_CARE}.get(code, code),
        "priority": str(reduced.get("priority") or ""),
        "age": age,
        "sex": str(person.get("gender") or "not stated"),
        "payer": str(payer or "not stated"),
        "categories": categories,
        "risk": str((ext.get(codes.RISK_SUMMARY_EXT) or {}).get("valueString") or ""),
        "hold_expires": str((ext.get(codes.HOLD_EXPIRES_EXT) or {}).get("valueDateTime") or ""),
    }


def _view(
    wf: PlacementWorkflow, trail: Trail, caller: Caller, task_id: str
) -> tuple[Resource, Resource | None]:
    """The reduced request (what the facility may see before it accepts) and, after acceptance,
    the patient as the sharing rules show them: ``GET /placement/tasks/{id}``'s view."""
    try:
        bundle = facility_task_view(wf, trail, caller, task_id)
    except FhirError:
        return {}, None  # withheld: the page says so, and the refusal is in the audit event
    docs = [e["resource"] for e in bundle.get("entry") or []]
    by_type: dict[str, list[Resource]] = {}
    for doc in docs:
        by_type.setdefault(str(doc.get("resourceType")), []).append(doc)
    sr = (by_type.get("ServiceRequest") or [{}])[0]
    labels = {s.get("code") for s in (sr.get("meta") or {}).get("security") or []}
    if "REDACTED" in labels:
        return sr, None
    patient = (by_type.get("Patient") or [None])[0]
    return wf.ctx.reduce(sr, patient, by_type.get("Coverage") or [], wf.now), patient


def asks(trail: Trail, ctx: PlacementContext, caller: Caller) -> list[Ask]:
    """The facility's asks, open first, each as the facility's view of its Task shows it."""
    wf = PlacementWorkflow(trail.session, ctx)
    out = []
    for offer, req in ConsoleRepository(trail.session).offers_to(caller.agency or ""):
        reduced, patient = _view(wf, trail, caller, offer.task_id)
        person = ""
        if patient is not None:
            person = f"{_name(patient)}, born {patient.get('birthDate') or 'unknown'}"
        out.append(
            Ask(
                task=offer.task_id,
                state=offer.state,
                phase=req.phase,
                unit_id=offer.unit_id,
                asked_at=offer.asked_at,
                reason=DECLINE_REASONS.get(offer.reason or "", offer.reason),
                person=person,
                withheld=not reduced,
                **_summary(reduced),
            )
        )
    return out


def _name(patient: Resource) -> str:
    for name in patient.get("name") or []:
        text = name.get("text") or " ".join([*(name.get("given") or []), name.get("family", "")])
        if text.strip():
            return str(text).strip()
    return "(name withheld)"


def units(svc: ResourceService, agency: str, now: float | None = None) -> list[Unit]:
    """The facility's units with their census, as the guarded FHIR search returns them."""
    now = time.time() if now is None else now
    req = svc.parse_search(
        "HealthcareService", [("organization", f"Organization/{agency}"), ("_count", "50")]
    )
    out = []
    for hit in svc.search(req).hits:
        doc = orjson.loads(hit.content or "{}")
        crit = directory.read_criteria(doc)
        cen = crit.census
        out.append(
            Unit(
                id=hit.rid,
                name=str(doc.get("name") or hit.rid),
                free=None if cen is None else cen.free,
                total=None if cen is None else cen.total,
                as_of=None if cen is None else cen.as_of,
                age=census.census_age(cen, now),
                stale=census.is_stale(cen, crit.cadence, now),
                cadence=crit.cadence,
            )
        )
    return sorted(out, key=lambda u: u.name)


def set_census(
    svc: ResourceService, caller: Caller, unit_id: str, form: dict[str, str]
) -> Resource:
    """A new census for one unit (its own facility only, as ``PUT /placement/units/{id}/census``)."""
    try:
        free = int(form.get("free", ""))
        total = int(form["total"]) if form.get("total", "").strip() else None
    except ValueError:
        raise BadForm("Free and total beds are whole numbers.") from None
    if not 0 <= free <= 100_000 or (total is not None and not 0 <= total <= 100_000):
        raise BadForm("Bed counts are between 0 and 100000.")
    doc = orjson.loads(svc.read("HealthcareService", unit_id).content or "{}")
    directory.authorize_unit_edit(caller, doc)
    try:
        census.set_unit_census(svc, unit_id, free, total=total)
    except InvalidRequest as exc:
        raise BadForm(exc.diagnostics) from None
    return doc


def answer(
    session: Session, ctx: PlacementContext, caller: Caller, task: str, form: dict[str, str]
) -> Resource:
    """Accept (naming the unit and bed) or decline (with a reason) through the workflow; returns
    the child Task as written."""
    wf = PlacementWorkflow(session, ctx)
    if form.get("answer") == "accept":
        unit = form.get("unit", "").strip()[:64]
        bed = form.get("bed", "").strip()[:64]
        if not unit:
            raise BadForm("Choose the unit that takes the patient.")
        label = f"{unit} bed {bed}" if bed else unit
        return wf.offer_action(caller, task, OfferState.ACCEPTED, bed=label)
    elif form.get("answer") == "decline":
        reason = form.get("reason", "")
        text = form.get("text", "").strip()[:300] or None
        if reason not in DECLINE_REASONS:
            raise BadForm("Choose why you decline.")
        if reason == "other" and not text:
            raise BadForm("Say why, when the reason is 'other'.")
        return wf.offer_action(caller, task, OfferState.REJECTED, reason=reason, text=text)
    elif form.get("answer") == "seen":
        return wf.offer_action(caller, task, OfferState.RECEIVED)
    raise BadForm("Accept or decline.")
