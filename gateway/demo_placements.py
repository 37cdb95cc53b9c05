"""Demo placements: bed census for the units around Amarillo, and requests played through their
whole life by the real workflow (the same code the API runs), so the demo shows real placements.

* ``demo-placement-request-02`` (yesterday): asked three facilities at once; one declined (no bed),
  one accepted and reserved a bed (the other offer was cancelled), transport was arranged, the
  patient was en route, arrived and was admitted;
* ``demo-placement-request-03`` (this morning): accepted, transport arranged, en route now;
* ``demo-placement-request-01`` (just now): asked the nearest facilities, awaiting their answers
  (the escalation timer asks the next ones if nobody answers in time).

Played once: a database that already has the first request is left as it is. Each step is its own
unit of work, at the time it happened (a manual clock), so the metrics show real durations.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import orjson

from gateway.auth.schemas import Caller
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement import census, directory
from gateway.placement.directory_repository import DirectoryRepository
from gateway.placement.transitions import OfferState, Phase
from gateway.placement.workflow_codes import TASK_CODE_SYSTEM
from gateway.placement.workflow_matcher import MatcherCandidates, prepare_candidates
from gateway.placement.workflow_repository import PlacementRepository
from gateway.placement.workflow_types import (
    ManualClock,
    PlacementContext,
    SystemClock,
    WorkflowConfig,
)
from gateway.placement.workflow_updates import PlacementWorkflow

Resource = dict[str, Any]
ORIGIN = (35.2062, -101.9133)  # Panhandle Regional Hospital's emergency department, Amarillo
CENSUS_RADIUS_KM = 600.0
MINUTE, HOUR = 60.0, 3600.0
# The Panhandle is sparse: ask the best three within 300 km at once (only one is within 50 km).
CONFIG = WorkflowConfig(top_n=3, radii_km=(300.0, 600.0))


def _distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    from math import asin, cos, radians, sin, sqrt

    lat1, lon1, lat2, lon2 = map(radians, (*a, *b))
    h = sin((lat2 - lat1) / 2) ** 2 + cos(lat1) * cos(lat2) * sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * asin(sqrt(h))


def report_census(database: Database, fhir_base: str, now: float) -> int:
    """Give the units within reach of Amarillo a bed census (as their facilities would report)."""
    written = 0
    with database.unit_of_work() as session:
        svc = ResourceService(session, fhir_base)
        locations = {
            rid: orjson.loads(content).get("position") or {}
            for _, rid, _, deleted, _, content in DirectoryRepository(session).current("Location")
            if content and not deleted
        }
        for _, _, _, deleted, _, content in DirectoryRepository(session).current(
            "HealthcareService"
        ):
            if deleted or not content:
                continue
            unit = orjson.loads(content)
            where = _position(unit, locations)
            if where is None or _distance_km(ORIGIN, where) > CENSUS_RADIUS_KM:
                continue
            if directory.read_criteria(unit).census is not None:
                continue
            seed = zlib.crc32(unit["id"].encode())
            total = 12 + seed % 20
            free = 1 + seed % 4  # every unit near Amarillo has a bed or more
            age = (seed % 90) * MINUTE
            census.set_unit_census(
                svc, unit["id"], free, total=total, as_of=now - age, source="unit", now=now
            )
            written += 1
    return written


def _position(unit: Resource, locations: dict[str, Resource]) -> tuple[float, float] | None:
    for item in unit.get("location") or []:
        ref = (item or {}).get("reference", "")
        position = locations.get(ref.split("/", 1)[1]) if ref.startswith("Location/") else None
        if position and "latitude" in position and "longitude" in position:
            return float(position["latitude"]), float(position["longitude"])
    return None


class Player:
    """Plays requests through the workflow, one unit of work per step, at given times."""

    def __init__(self, database: Database, fhir_base: str, requester: str) -> None:
        self.database = database
        self.app = SimpleNamespace(state=SimpleNamespace(db=database))
        self.finder = MatcherCandidates(self.app)
        self.fhir_base = fhir_base
        self.requester = Caller.with_scope(
            f"{requester}-demo", "system/*.cruds", agency=requester, role="hospital_ehr"
        )

    def context(self, clock: Any) -> PlacementContext:
        return PlacementContext(
            fhir_base=self.fhir_base, candidates=self.finder, config=CONFIG, clock=clock
        )

    def step(self, ctx: PlacementContext, action: Callable[[PlacementWorkflow], Any]) -> Any:
        with self.database.unit_of_work() as session:
            return action(PlacementWorkflow(session, ctx))

    def open(self, ctx: PlacementContext, sr_id: str, task_id: str) -> tuple[str, list[Any]]:
        """Open the request of the stored ServiceRequest ``sr_id``; return its offers, nearest
        first (task id, facility Organization id)."""
        prepare_candidates(ctx)

        def act(wf: PlacementWorkflow) -> tuple[str, list[Any]]:
            sr = wf.read("ServiceRequest", sr_id)
            task = {
                "resourceType": "Task",
                "code": {"coding": [{"system": TASK_CODE_SYSTEM, "code": "fulfill"}]},
            }
            opened = wf.open_request(self.requester, sr, task=task, task_id=task_id, near=ORIGIN)
            offers = [(c["id"], c["owner"]["reference"].split("/")[1]) for c in opened.children]
            return opened.parent["id"], offers

        return self.step(ctx, act)

    def facility(self, org_id: str) -> Caller:
        return Caller.with_scope(
            f"{org_id}-intake", "user/*.cruds", agency=org_id, role="facility_intake"
        )

    def answer(
        self, ctx: PlacementContext, task_id: str, org: str, state: OfferState, **kw: Any
    ) -> None:
        self.step(ctx, lambda wf: wf.offer_action(self.facility(org), task_id, state, **kw))

    def move(self, ctx: PlacementContext, parent: str, phase: Phase, who: Caller) -> None:
        self.step(ctx, lambda wf: wf.request_action(who, parent, phase))

    def close(self) -> None:
        index = getattr(self.app.state, "placement_index", None)
        if index is not None:
            index.close()


def already_played(database: Database) -> bool:
    with database.unit_of_work() as session:
        return PlacementRepository(session).request_pk_for("demo-placement-request-01") is not None


def play_placements(database: Database, fhir_base: str, requester: str) -> list[str]:
    """Census and three requests (see the module docstring); summary lines for ``gateway demo``."""
    if already_played(database):
        return ["Placements: played already (3 requests)"]
    now = time.time()
    units = report_census(database, fhir_base, now)
    player = Player(database, fhir_base, requester)
    try:
        lines = [f"  bed census reported for {units} units within {CENSUS_RADIUS_KM:.0f} km"]
        lines.append(_completed(player, now - 26 * HOUR))
        lines.append(_en_route(player, now - 3 * HOUR))
        parent, offers = player.open(
            player.context(SystemClock()), "demo-placement-request-01", "demo-placement-task-01"
        )
        lines.append(
            f"  Task/{parent}: awaiting answers from {len(offers)} facilities "
            f"({', '.join(org for _, org in offers)})"
        )
    finally:
        player.close()
    return ["Placements played through the workflow:", *lines]


def _completed(player: Player, start: float) -> str:
    clock = ManualClock(start)
    ctx = player.context(clock)
    parent, offers = player.open(ctx, "demo-placement-request-02", "demo-placement-task-02")
    if len(offers) < 2:
        return f"  Task/{parent}: asked {len(offers)} facilities (too few for the full story)"
    (first, first_org), (second, second_org) = offers[0], offers[1]
    clock.advance(4 * MINUTE)
    player.answer(ctx, first, first_org, OfferState.RECEIVED)
    clock.advance(8 * MINUTE)
    player.answer(ctx, first, first_org, OfferState.REJECTED, reason="no-bed")
    clock.advance(9 * MINUTE)
    player.answer(ctx, second, second_org, OfferState.ACCEPTED, bed="Bed 2B")
    for minutes, phase in ((18, Phase.TRANSPORT), (25, Phase.EN_ROUTE), (70, Phase.ARRIVED)):
        clock.advance(minutes * MINUTE)
        player.move(ctx, parent, phase, player.requester)
    clock.advance(35 * MINUTE)
    player.move(ctx, parent, Phase.COMPLETED, player.facility(second_org))
    return f"  Task/{parent}: declined by {first_org}, accepted by {second_org}, admitted"


def _en_route(player: Player, start: float) -> str:
    clock = ManualClock(start)
    ctx = player.context(clock)
    parent, offers = player.open(ctx, "demo-placement-request-03", "demo-placement-task-03")
    if not offers:
        return f"  Task/{parent}: nobody to ask"
    task, org = offers[0]
    clock.advance(15 * MINUTE)
    player.answer(ctx, task, org, OfferState.ACCEPTED, bed="Bed 7")
    clock.advance(40 * MINUTE)
    player.move(ctx, parent, Phase.TRANSPORT, player.requester)
    clock.advance(20 * MINUTE)
    player.move(ctx, parent, Phase.EN_ROUTE, player.requester)
    return f"  Task/{parent}: accepted by {org}, en route"
