"""Census endpoints under ``/placement``: a unit's count, bed Locations, SANER MeasureReports.

- ``PUT /placement/units/{id}/census`` ``{"freeBeds": 3, "totalBeds": 20, "asOf": "…",
  "cadenceMinutes": 480}`` (asOf defaults to now);
- ``POST /placement/census/beds`` a bed ``Location`` or a Bundle of them (stored, then counted);
- ``POST /placement/census/measure-report[?unit=<id>]`` a ``MeasureReport`` or a Bundle of them.

Only the facility's own users (token ``agency`` = the facility Organization id) or a gateway
administrator may change a unit; a refusal rolls the whole request back. Each call is audited. Each answers
``{"units": [...]}`` with the census now stored on every unit it changed.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.auth.deps import get_caller, require
from gateway.auth.schemas import Caller
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import InvalidRequest
from gateway.fhir.model import validate
from gateway.fhir.service import ResourceService, Stored
from gateway.placement import census, directory
from gateway.placement.match_endpoints import json_body
from gateway.placement.trail import audited

router = APIRouter(prefix="/placement")


class CensusIn(BaseModel):
    """Body of ``PUT /placement/units/{id}/census``."""

    model_config = ConfigDict(extra="forbid")

    freeBeds: int = Field(ge=0, le=100_000)
    totalBeds: int | None = Field(default=None, ge=0, le=100_000)
    asOf: str | None = None
    cadenceMinutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)


def service(request: Request, session: Any) -> ResourceService:
    """A ResourceService on ``session`` configured like the FHIR API's."""
    settings = request.app.state.settings
    return ResourceService(
        session,
        settings.fhir_base,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        labeller=getattr(request.app.state, "labeller", None),
    )


def unit_view(stored: Stored) -> dict[str, Any]:
    """What a census endpoint reports about one unit version it wrote."""
    doc = orjson.loads(stored.content or "{}")
    crit = directory.read_criteria(doc)
    out: dict[str, Any] = {"id": stored.rid, "version": stored.version}
    if crit.census is not None:
        out.update(
            freeBeds=crit.census.free,
            totalBeds=crit.census.total,
            asOf=census.instant(crit.census.as_of) if crit.census.as_of else None,
            source=crit.census.source,
        )
    out["cadenceMinutes"] = round(crit.cadence / 60)
    return out


def _check_written(caller: Caller, units: list[Stored]) -> None:
    for stored in units:
        directory.authorize_unit_edit(caller, orjson.loads(stored.content or "{}"))


def _resources(body: Any, rtype: str) -> list[dict[str, Any]]:
    if isinstance(body, dict) and body.get("resourceType") == rtype:
        return [body]
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        out = []
        for i, entry in enumerate(body.get("entry") or ()):
            res = (entry or {}).get("resource")
            if not isinstance(res, dict) or res.get("resourceType") != rtype:
                raise InvalidRequest(
                    f"every entry must hold a {rtype}", expression=f"Bundle.entry[{i}].resource"
                )
            out.append(res)
        return out
    raise InvalidRequest(f"send a {rtype} or a Bundle of them", expression="resourceType")


@router.put("/units/{unit_id}/census")
def put_census(
    unit_id: str, body: CensusIn, request: Request, caller: Caller = Depends(get_caller)
) -> dict[str, Any]:
    """Set one unit's census by hand (or from a facility system without FHIR)."""
    require(caller, "u", "HealthcareService")
    as_of = None
    if body.asOf is not None:
        try:
            as_of = date_range(body.asOf)[0]
        except BadDate:
            raise InvalidRequest(
                "asOf must be a FHIR dateTime, e.g. 2025-05-01T08:00:00Z", expression="asOf"
            ) from None
    with audited(request, caller, "update", "HealthcareService") as trail:
        svc = service(request, trail.session)
        doc = orjson.loads(svc.read("HealthcareService", unit_id).content or "{}")
        directory.authorize_unit_edit(caller, doc)
        trail.touch(doc)
        stored = census.set_unit_census(
            svc,
            unit_id,
            body.freeBeds,
            total=body.totalBeds,
            as_of=as_of,
            cadence_seconds=None if body.cadenceMinutes is None else body.cadenceMinutes * 60.0,
        )
    return {"units": [unit_view(stored)]}


@router.post("/census/beds")
async def post_beds(request: Request, caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    """Store bed Locations and recount the units they belong to."""
    require(caller, "u", "Location")
    require(caller, "u", "HealthcareService")
    beds = _resources(await json_body(request), "Location")

    def run() -> list[Stored]:
        with audited(request, caller, "update", "Location") as trail:
            written, units = census.store_beds(service(request, trail.session), beds)
            _check_written(caller, units)
            trail.touch_ref(*(s.location.split("/_history")[0] for s in (*written, *units)))
            return units

    return {"units": [unit_view(s) for s in await run_in_threadpool(run)]}


@router.post("/census/measure-report")
async def post_measure_report(
    request: Request, caller: Caller = Depends(get_caller), unit: str | None = None
) -> dict[str, Any]:
    """Apply SANER-style MeasureReports (the narrative is ignored, the rest must be valid R4)."""
    require(caller, "u", "HealthcareService")
    reports = _resources(await json_body(request), "MeasureReport")
    for report in reports:
        validate({k: v for k, v in report.items() if k != "text"})

    def run() -> list[Stored]:
        with audited(request, caller, "update", "HealthcareService") as trail:
            svc = service(request, trail.session)
            units = [s for r in reports for s in census.apply_measure_report(svc, r, unit_id=unit)]
            _check_written(caller, units)
            trail.touch_ref(*(f"HealthcareService/{s.rid}" for s in units))
            return units

    return {"units": [unit_view(s) for s in await run_in_threadpool(run)]}
