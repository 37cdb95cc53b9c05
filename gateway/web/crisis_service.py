"""What the crisis-response pages do, on the API's own services: find or register a person (FHIR
search/create through the sharing guard), preview the facilities the matcher ranks (``$match``),
open the placement request (the placement workflow) and read its progress.

Nothing here commits: the endpoints' unit of work does, after the audit event is appended.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI

from gateway.auth.schemas import Caller
from gateway.fhir.errors import InvalidRequest
from gateway.fhir.service import ResourceService
from gateway.placement import profiles as p
from gateway.placement import workflow_codes as codes
from gateway.placement.match_endpoints import get_index
from gateway.placement.match_request import read_request
from gateway.placement.matching import match
from gateway.placement.workflow import Opened
from gateway.placement.workflow_types import PlacementContext
from gateway.placement.workflow_updates import PlacementWorkflow
from gateway.web.deps import BadForm

Resource = dict[str, Any]
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
DEFAULT_ORIGIN = (35.2220, -101.8313)  # Amarillo, TX: where the demo agencies are
CARE_CHOICES: dict[str, str] = {**p.BED_TYPES, **p.LEVELS_OF_CARE}
_ICD_RE = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: str
    name: str
    birth_date: str
    gender: str


@dataclass(frozen=True, slots=True)
class Shared:
    """One record the sharing rules let this user see about the person."""

    rtype: str
    summary: str
    when: str


@dataclass(slots=True)
class Criteria:
    """The short form's criteria, checked."""

    care: str
    reasons: list[str] = field(default_factory=list)
    hold_expires: str | None = None
    latitude: float = DEFAULT_ORIGIN[0]
    longitude: float = DEFAULT_ORIGIN[1]
    max_km: float = 200.0
    risk_summary: str = ""


@dataclass(frozen=True, slots=True)
class Ranked:
    """One unit of the preview, as the matcher ranked it."""

    rank: int
    unit_id: str
    unit: str
    facility: str
    score: float
    distance_km: float | None
    free: int | None
    total: int | None
    census_age: float | None
    stale: bool
    reasons: list[str]
    x: float = 0.0
    y: float = 0.0


def _name(patient: Resource) -> str:
    for name in patient.get("name") or []:
        given = " ".join(name.get("given") or [])
        text = name.get("text") or f"{given} {name.get('family', '')}".strip()
        if text:
            return str(text)
    return "(name withheld)"


def _doc(content: str | None) -> Resource:
    doc = orjson.loads(content or "{}")
    return doc if isinstance(doc, dict) else {}


def person_row(doc: Resource) -> PersonRow:
    return PersonRow(
        id=str(doc.get("id")),
        name=_name(doc),
        birth_date=str(doc.get("birthDate") or ""),
        gender=str(doc.get("gender") or ""),
    )


def check_person_query(name: str, birth_date: str) -> None:
    if len(name.strip()) < 2:
        raise BadForm("Type at least two letters of the person's name.")
    if birth_date and not _DATE_RE.match(birth_date):
        raise BadForm("The date of birth is a date such as 1990-04-17.")


def find_people(svc: ResourceService, name: str, birth_date: str) -> list[PersonRow]:
    """Patients whose name matches (and born that day, when given), as the guard shows them."""
    check_person_query(name, birth_date)
    items = [("name", name.strip()[:100]), ("_count", "20")]
    if birth_date:
        items.append(("birthdate", birth_date))
    result = svc.search(svc.parse_search("Patient", items))
    return [person_row(_doc(hit.content)) for hit in result.hits if hit.mode == "match"]


def register_person(svc: ResourceService, form: dict[str, str]) -> str:
    """Create a Patient from the short form; returns its id."""
    given, family = form.get("given", "").strip(), form.get("family", "").strip()
    born, gender = form.get("birth_date", "").strip(), form.get("gender", "unknown")
    if not given or not family:
        raise BadForm("Give the person's first and last name.")
    if not _DATE_RE.match(born):
        raise BadForm("The date of birth is a date such as 1990-04-17.")
    if gender not in p.SEXES:
        raise BadForm("Choose male, female, other or unknown.")
    body = {
        "resourceType": "Patient",
        "active": True,
        "name": [{"use": "official", "family": family[:100], "given": [given[:100]]}],
        "gender": gender,
        "birthDate": born,
    }
    return svc.create("Patient", body).rid


def read_person(svc: ResourceService, pid: str) -> PersonRow:
    return person_row(_doc(svc.read("Patient", pid).content))


_SHARED_TYPES = ("Flag", "Condition", "Encounter", "Observation")


def shared_records(svc: ResourceService, pid: str) -> list[Shared]:
    """The person's records the sharing rules let this user see (searches through the guard)."""
    out: list[Shared] = []
    for rtype in _SHARED_TYPES:
        req = svc.parse_search(rtype, [("patient", f"Patient/{pid}"), ("_count", "20")])
        for hit in svc.search(req).hits:
            if hit.mode == "match":
                out.append(_shared(rtype, _doc(hit.content)))
    return out


def _shared(rtype: str, doc: Resource) -> Shared:
    concept = doc.get("code") or {}
    if rtype == "Encounter":
        concept = (doc.get("type") or [{}])[0] or doc.get("class") or {}
        if "code" in concept and "coding" not in concept:
            concept = {"text": concept.get("display") or concept.get("code")}
    coding = (concept.get("coding") or [{}])[0]
    summary = concept.get("text") or coding.get("display") or coding.get("code") or rtype
    value = doc.get("valueInteger", doc.get("valueQuantity", {}).get("value"))
    if value is not None:
        summary = f"{summary}: {value}"
    when = (
        doc.get("effectiveDateTime")
        or doc.get("recordedDate")
        or (doc.get("period") or {}).get("start")
        or ""
    )
    return Shared(rtype=rtype, summary=str(summary), when=str(when))


def _number(form: dict[str, str], name: str, label: str, low: float, high: float) -> float | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadForm(f"{label} must be a number.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadForm(f"{label} must be between {low:g} and {high:g}.")
    return value


def read_criteria(form: dict[str, str]) -> Criteria:
    """The short form, checked field by field (clear messages, nothing echoed back)."""
    care = form.get("care", "")
    if care not in CARE_CHOICES:
        raise BadForm("Choose the level of care or bed type needed.")
    reasons = [r.strip().upper() for r in re.split(r"[,\s]+", form.get("reasons", "")) if r.strip()]
    for code in reasons:
        if not _ICD_RE.match(code):
            raise BadForm("Reasons are ICD-10-CM codes such as F20.9, separated by commas.")
    crit = Criteria(care=care, reasons=reasons[:10])
    hold = form.get("hold_expires", "").strip()
    if hold:
        try:
            moment = datetime.fromisoformat(hold)
        except ValueError:
            raise BadForm("The hold expiry is a date and time.") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if moment.timestamp() <= time.time():
            raise BadForm("The involuntary hold has already expired.")
        crit.hold_expires = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lat = _number(form, "latitude", "Latitude", -90, 90)
    lon = _number(form, "longitude", "Longitude", -180, 180)
    if (lat is None) != (lon is None):
        raise BadForm("Give both latitude and longitude, or neither.")
    if lat is not None and lon is not None:
        crit.latitude, crit.longitude = lat, lon
    crit.max_km = _number(form, "max_km", "The distance", 1, 2000) or 200.0
    crit.risk_summary = form.get("risk_summary", "").strip()[:500]
    return crit


def service_request(pid: str, crit: Criteria) -> Resource:
    """The ServiceRequest the workflow opens the placement with."""
    system = p.BED_TYPE_SYSTEM if crit.care in p.BED_TYPES else p.LEVEL_OF_CARE_SYSTEM
    sr: Resource = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "code": {
            "coding": [{"system": system, "code": crit.care}],
            "text": CARE_CHOICES[crit.care],
        },
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if crit.reasons:
        sr["reasonCode"] = [{"coding": [{"system": ICD10CM, "code": c}]} for c in crit.reasons]
    ext = []
    if crit.hold_expires:
        ext.append({"url": codes.HOLD_EXPIRES_EXT, "valueDateTime": crit.hold_expires})
    if crit.risk_summary:
        ext.append({"url": codes.RISK_SUMMARY_EXT, "valueString": crit.risk_summary})
    if ext:
        sr["extension"] = ext
    return sr


def preview(app: FastAPI, person: PersonRow, crit: Criteria, count: int = 10) -> list[Ranked]:
    """The units ``$match`` ranks for this request, best first, placed for the map."""
    now = time.time()
    params: list[dict[str, Any]] = [
        {"name": "serviceRequest", "resource": service_request(person.id, crit)},
        {"name": "latitude", "valueDecimal": crit.latitude},
        {"name": "longitude", "valueDecimal": crit.longitude},
        {"name": "maxDistance", "valueDecimal": crit.max_km},
        {"name": "count", "valueInteger": count},
    ]
    if person.birth_date:
        params.append({"name": "birthDate", "valueDate": person.birth_date})
    if person.gender in p.SEXES:
        params.append({"name": "sex", "valueCode": person.gender})
    try:
        req = read_request({"resourceType": "Parameters", "parameter": params}, [], now)
    except InvalidRequest as exc:
        raise BadForm(exc.diagnostics) from None
    result = match(get_index(app).snapshot(), req, now)
    out = []
    cos = math.cos(math.radians(crit.latitude))
    for i, hit in enumerate(result.hits, start=1):
        rec = hit.record
        unit = _doc(rec.content)
        x = y = 0.0
        if rec.lat is not None and rec.lon is not None:
            x = (rec.lon - crit.longitude) * 111.32 * cos
            y = (crit.latitude - rec.lat) * 110.57
        out.append(
            Ranked(
                rank=i,
                unit_id=rec.unit_id,
                unit=str(unit.get("name") or rec.unit_id),
                facility=rec.facility or str(rec.org_id or ""),
                score=round(hit.score, 3),
                distance_km=None if hit.distance_km is None else round(hit.distance_km, 1),
                free=hit.free,
                total=hit.total,
                census_age=hit.census_age,
                stale=hit.stale,
                reasons=list(hit.reasons),
                x=x,
                y=y,
            )
        )
    return out


def asked_first(ranked: list[Ranked], top_n: int, radii_km: tuple[float, ...]) -> set[str]:
    """The units the workflow's first round will ask: the best ``top_n`` within the smallest
    radius that holds any (as ``WorkflowBase.ask`` widens it)."""
    for radius in radii_km:
        near = [r for r in ranked if r.distance_km is not None and r.distance_km <= radius]
        if near:
            return {r.unit_id for r in near[:top_n]}
    return set()


def map_scale(ranked: list[Ranked], max_km: float) -> float:
    """Kilometres from the centre to the edge of the map."""
    far = max([abs(r.x) for r in ranked] + [abs(r.y) for r in ranked] + [10.0])
    return min(max(far * 1.15, 20.0), max(max_km, 20.0) * 1.15)


def open_placement(
    session: Any, ctx: PlacementContext, caller: Caller, pid: str, crit: Criteria
) -> Opened:
    """Open the request: the workflow stores it and asks the best units (as the API does)."""
    wf = PlacementWorkflow(session, ctx)
    return wf.open_request(caller, service_request(pid, crit), near=(crit.latitude, crit.longitude))


def unit_names(app: FastAPI) -> dict[str, tuple[str, str]]:
    """unit id → (facility name, unit name), from the directory index."""
    out = {}
    for rec in get_index(app).snapshot().records:
        unit = _doc(rec.content)
        out[rec.unit_id] = (rec.facility or str(rec.org_id or ""), str(unit.get("name") or ""))
    return out
