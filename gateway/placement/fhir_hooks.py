"""The placement package's part in FHIR REST writes (registered in :mod:`gateway.fhir.write_hooks`).

* ``Task``: placement Tasks change only through the workflow (:mod:`workflow_hooks`). A parent Task
  whose focus is a placement ServiceRequest opens a request and asks the facilities; a PUT or PATCH
  of a placement Task is the transition it asks for (409 when illegal, 403 for another party's
  Task); a DELETE of one is refused (409). Other Tasks pass through untouched. The Task returned is
  passed through the request's sharing guard (a facility gets the minimum view before it accepts).
* ``HealthcareService``: a unit's placement extensions are checked before it is stored (400 with
  located issues); the census it carries resets the unit's free-bed counter.
* ``Location`` (beds) and ``MeasureReport`` (SANER): stored as sent, then the units they count get
  a new census (:func:`gateway.placement.census.after_write`). Only the facility's own users or a
  gateway administrator may change a unit's census this way (403 otherwise, nothing stored).

:func:`install_census_hooks` and :func:`install_task_hooks` are called by the placement package's
installers (``directory_endpoints.install`` and ``workflow_setup.install``).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.fhir.errors import InvalidRequest
from gateway.fhir.service import ResourceService, Stored
from gateway.fhir.write_hooks import WriteContext, WriteHook, registry
from gateway.placement import census, directory, workflow_hooks
from gateway.placement.workflow_matcher import prepare_candidates
from gateway.placement.workflow_types import PlacementContext

Resource = dict[str, Any]
CENSUS_TYPES = ("HealthcareService", "Location", "MeasureReport")


def _context(state: Any) -> PlacementContext | None:
    ctx = getattr(state, "placement", None)
    return ctx if isinstance(ctx, PlacementContext) else None


class PlacementTaskHook(WriteHook):
    """FHIR writes of Tasks, routed through the placement workflow when they are placement Tasks."""

    def prepare(self, state: Any, method: str, rtype: str) -> None:
        ctx = _context(state)
        if ctx is not None and method == "POST":
            prepare_candidates(ctx)  # the matcher's snapshot, taken outside the transaction

    def create(self, w: WriteContext, rtype: str, body: Any, rid: str | None) -> Stored | None:
        ctx = _context(w.state)
        if ctx is None:
            return None
        return _shown(w, workflow_hooks.on_task_create(w.session, ctx, w.caller, body, rid))

    def update(
        self, w: WriteContext, rtype: str, rid: str, body: Any, if_match: str | None
    ) -> Stored | None:
        ctx = _context(w.state)
        if ctx is None:
            return None
        return _shown(
            w, workflow_hooks.on_task_update(w.session, ctx, w.caller, rid, body, if_match)
        )

    def patch(
        self, w: WriteContext, rtype: str, rid: str, operations: Any, if_match: str | None
    ) -> Stored | None:
        ctx = _context(w.state)
        if ctx is None:
            return None
        return _shown(
            w, workflow_hooks.on_task_patch(w.session, ctx, w.caller, rid, operations, if_match)
        )

    def delete(self, w: WriteContext, rtype: str, rid: str) -> Stored | None:
        workflow_hooks.on_task_delete(w.session, rid)  # raises for placement Tasks
        return None


class CensusHook(WriteHook):
    """Units checked before they are stored; bed Locations and MeasureReports update the census."""

    wants_previous = True  # a bed that moved to another unit's Location recounts both

    def check(self, w: WriteContext, rtype: str, rid: str | None, content: Resource) -> None:
        issues = census.unit_problems(rtype, content)
        if issues:
            raise InvalidRequest(issues[0].diagnostics, issues=issues)

    def after(
        self, w: WriteContext, stored: Stored, content: Resource | None, previous: Resource | None
    ) -> None:
        if stored.rtype == "HealthcareService":
            if content is not None:
                census.reconcile(w.session, content, _now(w.state))
            return
        svc = ResourceService(
            w.session, w.service.base_url, labeller=getattr(w.state, "labeller", None)
        )
        svc.deferred_refs = w.service.deferred_refs
        units = census.after_write(svc, stored.rtype, content, previous)
        for unit in units:  # the same rule as the /placement census endpoints
            directory.authorize_unit_edit(w.caller, orjson.loads(unit.content or "{}"))


def _shown(w: WriteContext, stored: Stored | None) -> Stored | None:
    return stored if stored is None else w.shown(stored)


def _now(state: Any) -> float | None:
    ctx = _context(state)
    return None if ctx is None else ctx.clock.now()


def _register_once(state: Any, rtype: str, kind: type[WriteHook]) -> None:
    hooks = registry(state)
    if not any(isinstance(h, kind) for h in hooks.hooks(rtype)):
        hooks.register(rtype, kind())


def install_task_hooks(app: Any) -> None:
    """Route FHIR writes of placement Tasks through the workflow (idempotent)."""
    _register_once(app.state, "Task", PlacementTaskHook)


def install_census_hooks(app: Any) -> None:
    """Check units and keep the census current on FHIR writes (idempotent)."""
    for rtype in CENSUS_TYPES:
        _register_once(app.state, rtype, CensusHook)
