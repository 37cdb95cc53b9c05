"""Bed census: a unit's free and total beds, from any of three inputs, and when it goes stale.

Every input ends as the ``placement-census`` extension on the unit's ``HealthcareService``, written
as a new version through :class:`~gateway.fhir.service.ResourceService` in the caller's transaction:

1. the unit itself (FHIR update of the HealthcareService, or :func:`set_unit_census`);
2. bed ``Location``s (``physicalType`` ``bd``, ``partOf`` the unit's Location, ``operationalStatus``
   from v2 table 0116 where ``U`` unoccupied = free): :func:`recount_beds`;
3. a SANER-style ``MeasureReport``: :func:`apply_measure_report` (see :mod:`census_measure`).

:func:`after_write` is the one hook for the FHIR write path. A census is *stale* when it is older
than the unit's cadence, undated, or missing: :func:`is_stale`. Every census stored resets the
workflow's free-bed counter of the unit (:func:`reconcile`, which keeps beds reserved since the
report out of it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.fhir.errors import InvalidRequest, Issue
from gateway.fhir.service import ResourceService, Stored
from gateway.placement import directory, directory_write, workflow_beds
from gateway.placement import profiles as p
from gateway.placement.census_measure import BedCount, count_beds, measure_report_counts
from gateway.placement.directory import Census, Resource
from gateway.placement.directory_repository import DirectoryRepository

FUTURE_SKEW = 300.0  # a census dated further ahead than this is dated "now" instead


def instant(ts: float) -> str:
    """Epoch seconds as a FHIR instant (UTC, whole seconds)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def census_extension(census: Census) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"url": "freeBeds", "valueUnsignedInt": census.free}]
    if census.total is not None:
        parts.append({"url": "totalBeds", "valueUnsignedInt": census.total})
    if census.as_of is not None:
        parts.append({"url": "asOf", "valueDateTime": instant(census.as_of)})
    if census.source is not None:
        parts.append({"url": "source", "valueCode": census.source})
    return {"url": p.CENSUS, "extension": parts}


def census_age(census: Census | None, now: float) -> float | None:
    """Seconds since the census was taken (never negative), None when unknown."""
    if census is None or census.as_of is None:
        return None
    return max(0.0, now - census.as_of)


def is_stale(census: Census | None, cadence: float, now: float) -> bool:
    """Older than the unit's cadence, undated or missing: never shown as fresh."""
    age = census_age(census, now)
    return age is None or age > cadence


def set_unit_census(
    svc: ResourceService,
    unit_id: str,
    free: int,
    *,
    total: int | None = None,
    as_of: float | None = None,
    source: str = "unit",
    cadence_seconds: float | None = None,
    now: float | None = None,
) -> Stored:
    """Write a census (and optionally a new cadence) onto one unit; returns the stored version."""
    if free < 0 or (total is not None and total < 0):
        raise InvalidRequest("bed counts cannot be negative", expression="freeBeds")
    if total is not None and free > total:
        raise InvalidRequest("freeBeds cannot exceed totalBeds", expression="freeBeds")
    now = time.time() if now is None else now
    when = now if as_of is None or as_of > now + FUTURE_SKEW else as_of
    doc = directory.require_unit(_read(svc, unit_id), unit_id)
    urls = {p.CENSUS}
    new = [census_extension(Census(free, total, when, source))]
    if cadence_seconds is not None:
        urls.add(p.CENSUS_CADENCE)
        new.append(directory_write.cadence_extension(cadence_seconds))
    stored = svc.update(
        "HealthcareService", unit_id, directory_write.replace_extensions(doc, urls, new)
    )
    reconcile(svc.session, orjson.loads(stored.content or "{}"), now)
    return stored


def reconcile(session: Any, unit: Resource, now: float | None = None) -> int | None:
    """Reset the unit's free-bed counter from the census it now carries (None: no census).

    The counter is what acceptances reserve from; see :mod:`gateway.placement.workflow_beds`.
    """
    found = directory.read_criteria(unit).census
    org = directory.facility_id(unit)
    if found is None or org is None or not unit.get("id"):
        return None
    now = time.time() if now is None else now
    reported_at = found.as_of if found.as_of is not None else now
    return workflow_beds.reconcile_census(
        session, str(unit["id"]), org, found.free, reported_at, now
    )


def _read(svc: ResourceService, rtype_id: str, rtype: str = "HealthcareService") -> Resource:
    stored = svc.read(rtype, rtype_id)
    return orjson.loads(stored.content or "{}")  # type: ignore[no-any-return]


# ---- bed Locations ------------------------------------------------------------------------------
def is_bed(doc: Resource) -> bool:
    codings = ((doc.get("physicalType") or {}).get("coding")) or ()
    return any(isinstance(c, dict) and c.get("code") == "bd" for c in codings)


def _location_id(ref: Any) -> str | None:
    text = (ref or {}).get("reference") if isinstance(ref, dict) else None
    if isinstance(text, str) and text.startswith("Location/"):
        return text.split("/")[1]
    return None


def _bed_types(doc: Resource) -> set[str]:
    systems = (p.BED_TYPE_SYSTEM, *p.LEGACY_BED_TYPE_SYSTEMS)
    return {
        str(c.get("code"))
        for concept in doc.get("type") or ()
        for c in (concept or {}).get("coding") or ()
        if isinstance(c, dict) and c.get("system") in systems
    }


def assign_beds(
    units: list[tuple[str, Resource]], beds: Iterable[Resource]
) -> tuple[dict[str, list[Resource]], list[Resource]]:
    """Which unit each bed belongs to: by bed type when the bed has one, else the only unit.

    Returns (unit id → beds, beds no unit could be chosen for).
    """
    per_unit: dict[str, list[Resource]] = {uid: [] for uid, _ in units}
    unit_types = {uid: set(directory.read_criteria(doc).bed_types) for uid, doc in units}
    orphans: list[Resource] = []
    for bed in beds:
        kinds = _bed_types(bed)
        owners = [uid for uid, _ in units if kinds & unit_types[uid]] if kinds else []
        if not kinds and len(units) == 1:
            owners = [units[0][0]]
        if len(owners) == 1:
            per_unit[owners[0]].append(bed)
        else:
            orphans.append(bed)
    return per_unit, orphans


def recount_beds(
    svc: ResourceService, location_id: str, *, now: float | None = None
) -> list[Stored]:
    """Recount the beds stored under ``Location/<location_id>`` into the census of its units."""
    repo = DirectoryRepository(svc.session)
    units = [
        (uid, orjson.loads(content))
        for uid, content in repo.referrers(
            "HealthcareService", "location", f"Location/{location_id}"
        )
    ]
    if not units:
        return []
    beds = [
        orjson.loads(content)
        for _, content in repo.referrers("Location", "partof", f"Location/{location_id}")
    ]
    per_unit, _orphans = assign_beds(units, (b for b in beds if is_bed(b)))
    out = []
    for uid, unit_beds in per_unit.items():
        if not unit_beds:
            continue
        count = count_beds(unit_beds)
        out.append(set_unit_census(svc, uid, count.free, total=count.total, source="beds", now=now))
    return out


def store_beds(
    svc: ResourceService, beds: list[Resource], *, now: float | None = None
) -> tuple[list[Stored], list[Stored]]:
    """Store bed Locations (update by id, create without) and recount their units.

    Returns (bed versions written, unit census versions written).
    """
    written, locations = [], []
    for i, bed in enumerate(beds):
        if not isinstance(bed, dict) or bed.get("resourceType") != "Location" or not is_bed(bed):
            raise InvalidRequest(
                "each entry must be a bed Location (physicalType bd)", expression=f"entry[{i}]"
            )
        parent = _location_id(bed.get("partOf"))
        if parent is None:
            raise InvalidRequest(
                "a bed Location needs partOf → the unit's Location", expression=f"entry[{i}].partOf"
            )
        rid = bed.get("id")
        stored = svc.update("Location", rid, bed) if rid else svc.create("Location", bed)
        written.append(stored)
        if parent not in locations:
            locations.append(parent)
    units = [s for loc in locations for s in recount_beds(svc, loc, now=now)]
    return written, units


# ---- SANER MeasureReport ------------------------------------------------------------------------
def apply_measure_report(
    svc: ResourceService, report: Resource, *, unit_id: str | None = None, now: float | None = None
) -> list[Stored]:
    """Set the census of each unit a MeasureReport counts beds for (see ``census_measure``)."""
    now = time.time() if now is None else now
    counts, as_of = measure_report_counts(report)
    repo = DirectoryRepository(svc.session)
    out: list[Stored] = []
    if unit_id is not None:
        total = _sum_counts(counts.values())
        return [_set(svc, unit_id, total, as_of, now)]
    for location, count in counts.items():
        if location is None:
            reporter = (report.get("reporter") or {}).get("reference")
            if not isinstance(reporter, str) or not reporter.startswith("Organization/"):
                raise InvalidRequest(
                    "the report names no unit Location (subject or stratum Location.partOf) "
                    "and no reporter Organization",
                    expression="MeasureReport.subject",
                )
            units = repo.referrers("HealthcareService", "organization", reporter)
        else:
            units = repo.referrers("HealthcareService", "location", f"Location/{location}")
        if len(units) != 1:
            where = f"Location/{location}" if location else "the reporter"
            raise InvalidRequest(
                f"{where} has {len(units)} units; say which one with ?unit=<HealthcareService id>",
                expression="MeasureReport.subject",
                code="not-found" if not units else "invalid",
            )
        out.append(_set(svc, units[0][0], count, as_of, now))
    return out


def _sum_counts(counts: Iterable[BedCount]) -> BedCount:
    free = total = 0
    for c in counts:
        free, total = free + c.free, total + (c.total or 0)
    return BedCount(free, total)


def _set(
    svc: ResourceService, uid: str, count: BedCount, as_of: float | None, now: float
) -> Stored:
    return set_unit_census(
        svc, uid, count.free, total=count.total, as_of=as_of, source="measure-report", now=now
    )


# ---- the FHIR write path ------------------------------------------------------------------------
def after_write(
    svc: ResourceService,
    rtype: str,
    content: Resource | None,
    previous: Resource | None = None,
) -> list[Stored]:
    """Call after the FHIR API stored (or deleted: ``content`` None) a resource, same transaction.

    A bed Location recounts its unit (and the unit it left, if ``partOf`` changed); a MeasureReport
    sets the census of the units it counts. Anything else is ignored. Returns the unit versions
    written.
    """
    if rtype == "Location":
        parents = []
        for doc in (content, previous):
            if doc is not None and is_bed(doc):
                loc = _location_id(doc.get("partOf"))
                if loc is not None and loc not in parents:
                    parents.append(loc)
        return [s for loc in parents for s in recount_beds(svc, loc)]
    if rtype == "MeasureReport" and content is not None:
        try:
            return apply_measure_report(svc, content)
        except InvalidRequest:
            return []  # a MeasureReport about something else is stored as it is
    return []


def unit_problems(rtype: str, content: Resource) -> list[Issue]:
    """For the FHIR write path: placement extension problems of a HealthcareService (else [])."""
    return directory_write.check_unit(content) if rtype == "HealthcareService" else []
