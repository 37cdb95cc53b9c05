"""Directory endpoints: read a unit's placement profile, and let its facility edit the criteria.

- ``GET /placement/units/{id}``: criteria and census as plain JSON (for the UI);
- ``PATCH /placement/units/{id}/criteria``: a JSON merge patch of the criteria (keys below; ``null``
  clears one), allowed to the facility's own users and gateway administrators only.

:func:`install` adds these, the census endpoints and ``$match`` to an app, ahead of the generic FHIR
routes (``GET /fhir/{type}/{id}`` would otherwise take ``GET /fhir/ServiceRequest/$match``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.auth.deps import get_caller, require
from gateway.auth.schemas import Caller
from gateway.placement import census, directory, directory_write
from gateway.placement.census_endpoints import router as census_router
from gateway.placement.census_endpoints import service
from gateway.placement.fhir_hooks import install_census_hooks
from gateway.placement.match_endpoints import router as match_router
from gateway.placement.trail import audited

router = APIRouter(prefix="/placement")

Sex = Literal["male", "female", "other", "unknown"]
Payer = Literal["medicaid", "medicare", "commercial", "uninsured"]
Specialty = Literal["eating-disorder", "dual-diagnosis", "developmental-disability", "perinatal"]
Level = Literal["acute-inpatient", "crisis-stabilization", "withdrawal-management", "residential"]


class AgeRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    low: int | None = Field(default=None, ge=0, le=130)
    high: int | None = Field(default=None, ge=0, le=130)

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("low must not be above high")
        return self


class CriteriaPatch(BaseModel):
    """Body of ``PATCH /placement/units/{id}/criteria`` (every key optional; null clears)."""

    model_config = ConfigDict(extra="forbid")

    ageRange: AgeRange | None = None
    sexes: list[Sex] | None = None
    payers: list[Payer] | None = None
    acceptsInvoluntary: bool | None = None
    securityLevel: Literal["open", "locked", "secure"] | None = None
    medicalAcuity: Literal["low", "moderate", "high"] | None = None
    acceptsAggression: bool | None = None
    requiresMedicalClearance: bool | None = None
    specialties: list[Specialty] | None = None
    languages: list[str] | None = Field(default=None, max_length=50)
    levelsOfCare: list[Level] | None = None
    cadenceMinutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)

    @model_validator(mode="after")
    def _languages(self) -> CriteriaPatch:
        from gateway.placement.match_params import _LANG_RE

        for code in self.languages or ():
            if not _LANG_RE.match(code):
                raise ValueError("languages are BCP-47 tags such as en, es or zh-Hant")
        return self


def profile_view(doc: dict[str, Any], now: float) -> dict[str, Any]:
    """A unit's criteria and census as the UI shows them."""
    c = directory.read_criteria(doc)
    low, high = c.effective_ages
    stale = census.is_stale(c.census, c.cadence, now)
    age = census.census_age(c.census, now)
    return {
        "id": doc.get("id"),
        "name": doc.get("name"),
        "facility": directory.facility_id(doc),
        "active": c.active,
        "bedTypes": list(c.bed_types),
        "levelsOfCare": sorted(c.effective_levels),
        "ageRange": {"low": low, "high": high, "stated": c.age_stated},
        "sexes": None if c.sexes is None else sorted(c.sexes),
        "payers": None if c.payers is None else sorted(c.payers),
        "acceptsInvoluntary": c.accepts_involuntary,
        "securityLevel": c.security_level or "open",
        "medicalAcuity": c.medical_acuity or "low",
        "acceptsAggression": c.accepts_aggression,
        "requiresMedicalClearance": c.requires_clearance,
        "specialties": sorted(c.specialties),
        "languages": sorted(c.effective_languages),
        "cadenceMinutes": round(c.cadence / 60),
        "census": None
        if c.census is None
        else {
            "freeBeds": c.census.free,
            "totalBeds": c.census.total,
            "asOf": census.instant(c.census.as_of) if c.census.as_of else None,
            "source": c.census.source,
            "ageMinutes": None if age is None else round(age / 60, 1),
        },
        "stale": stale,
    }


@router.get("/units/{unit_id}")
def get_unit(
    unit_id: str, request: Request, caller: Caller = Depends(get_caller)
) -> dict[str, Any]:
    """One unit's placement profile."""
    require(caller, "r", "HealthcareService")
    with audited(request, caller, "read", "HealthcareService") as trail:
        svc = service(request, trail.session)
        doc = trail.shown(orjson.loads(svc.read("HealthcareService", unit_id).content or "{}"))
    return profile_view(doc, time.time())


@router.patch("/units/{unit_id}/criteria")
def patch_criteria(
    unit_id: str, body: CriteriaPatch, request: Request, caller: Caller = Depends(get_caller)
) -> dict[str, Any]:
    """Change a unit's acceptance criteria (facility's own users or gateway administrators)."""
    require(caller, "u", "HealthcareService")
    changes = {key: getattr(body, key) for key in body.model_fields_set}
    if "ageRange" in changes and changes["ageRange"] is not None:
        changes["ageRange"] = changes["ageRange"].model_dump()
    with audited(request, caller, "patch", "HealthcareService") as trail:
        svc = service(request, trail.session)
        doc = orjson.loads(svc.read("HealthcareService", unit_id).content or "{}")
        directory.authorize_unit_edit(caller, doc)
        trail.touch(doc)
        stored = svc.update(
            "HealthcareService", unit_id, directory_write.apply_criteria(doc, changes)
        )
    view = profile_view(orjson.loads(stored.content or "{}"), time.time())
    return {**view, "version": stored.version}


def install(app: FastAPI) -> None:
    """Add the directory, census and ``$match`` routes ahead of every route already there, and
    close the unit index (it keeps one database connection) when the app shuts down."""
    before = len(app.router.routes)
    for sub in (router, census_router, match_router):
        app.include_router(sub)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = added
    install_census_hooks(app)  # FHIR writes of units, bed Locations and MeasureReports
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(this: Any) -> AsyncIterator[Any]:
        try:
            async with inner(this) as state:
                yield state
        finally:
            index = getattr(app.state, "placement_index", None)
            if index is not None:
                index.close()

    app.router.lifespan_context = lifespan
