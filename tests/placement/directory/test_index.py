"""The unit index keeps in step with the database; response times; the workflow's finder."""

from __future__ import annotations

import time

import orjson
import pytest

from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement.match_finder import IndexFinder
from gateway.placement.match_index import UnitIndex
from gateway.placement.match_response import median_response, response_samples
from gateway.placement.matching import MatchRequest, match
from gateway.placement.workflow_types import Criteria
from tests.placement.directory.helpers import AMARILLO, FHIR_BASE, PAVILION, demo_rows, load

UNIT = f"{PAVILION}-adult-psych"
NEAR = MatchRequest(origin=AMARILLO, max_distance_km=30.0, explain=True)


def _ids(index: UnitIndex, req: MatchRequest = NEAR) -> list[str]:
    return [h.record.unit_id for h in match(index.snapshot(), req, time.time()).hits]


def _write(db: Database, rtype: str, rid: str, change: dict[str, object] | None = None) -> None:
    with db.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        if change is None:
            svc.delete(rtype, rid)
            return
        doc = orjson.loads(svc.read(rtype, rid).content or "{}")
        svc.update(rtype, rid, {**doc, **change})


@pytest.fixture()
def index(db: Database) -> UnitIndex:
    """An index whose look-back, resync and response refresh run only when a test says so."""
    load(db, demo_rows(25))
    return UnitIndex(db, late_seconds=3600, resync_seconds=3600, response_ttl=3600)


def test_writes_show_up_without_a_reload(db: Database, index: UnitIndex) -> None:
    assert _ids(index) == [UNIT]
    with db.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        doc = orjson.loads(svc.read("HealthcareService", UNIT).content or "{}")
        svc.update("HealthcareService", "second-unit", {**doc, "id": "second-unit"})
    assert sorted(_ids(index)) == sorted([UNIT, "second-unit"])
    _write(db, "HealthcareService", "second-unit", {"active": False})
    assert _ids(index) == [UNIT]
    result = match(index.snapshot(), NEAR, time.time())
    assert ("second-unit", ("inactive",)) in [(r.unit_id, why) for r, why in result.excluded]
    _write(db, "HealthcareService", "second-unit", None)  # deleted: gone, not even excluded
    result = match(index.snapshot(), NEAR, time.time())
    assert "second-unit" not in {r.unit_id for r, _ in result.excluded} | set(_ids(index))
    assert index.reloads == 1


def test_facility_and_location_changes_reach_their_units(db: Database, index: UnitIndex) -> None:
    assert _ids(index) == [UNIT]
    _write(db, "Organization", PAVILION, {"active": False})
    assert _ids(index) == []
    _write(db, "Organization", PAVILION, {"active": True})
    assert _ids(index) == [UNIT]
    _write(db, "Location", PAVILION, {"position": {"latitude": 32.4, "longitude": -99.7}})
    assert _ids(index) == []  # the building "moved" to Abilene
    [hit] = [
        h
        for h in match(index.snapshot(), MatchRequest(origin=AMARILLO), time.time()).hits
        if h.record.unit_id == UNIT
    ]
    assert 350 < (hit.distance_km or 0) < 400
    assert index.reloads == 1


def test_a_late_commit_is_caught_by_the_look_back(db: Database, index: UnitIndex) -> None:
    index.snapshot()
    with db.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        doc = orjson.loads(svc.read("HealthcareService", UNIT).content or "{}")
        svc.update("HealthcareService", "late-unit", {**doc, "id": "late-unit"})
    # pretend the index had already seen rows stamped later than this write (it committed late)
    index._state.watermark = time.time() + 60
    assert "late-unit" not in _ids(index)
    index.maintain()  # the look-back (a background thread runs it every late_seconds)
    assert "late-unit" in _ids(index)
    assert index.reloads == 1


def test_resync_reloads_when_counts_differ(db: Database, index: UnitIndex) -> None:
    index.snapshot()
    with db.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        doc = orjson.loads(svc.read("HealthcareService", UNIT).content or "{}")
        svc.update("HealthcareService", "missed-unit", {**doc, "id": "missed-unit"})
    index._state.watermark = time.time() + 3600  # beyond any look-back
    index.margin = 1.0
    assert "missed-unit" not in _ids(index)
    index.maintain()  # the count and version sum differ: reload
    assert "missed-unit" in _ids(index)
    assert index.reloads == 2


def test_response_samples_from_task_history() -> None:
    def task(status: str, owner: str = "org-a", part: bool = True) -> str:
        doc: dict[str, object] = {"resourceType": "Task", "status": status, "intent": "order"}
        if part:
            doc["partOf"] = [{"reference": "Task/parent"}]
        doc["owner"] = {"reference": f"Organization/{owner}"}
        return orjson.dumps(doc).decode()

    rows = [
        ("t1", 1, 100.0, task("requested")),
        ("t1", 2, 160.0, task("received")),
        ("t1", 3, 700.0, task("accepted")),
        ("t1", 4, 900.0, task("completed")),  # only the first answer counts
        ("t2", 1, 100.0, task("requested")),
        ("t2", 2, 400.0, task("rejected")),
        ("t3", 2, 100.0, task("accepted")),  # asked before the window: left out
        ("t4", 1, 100.0, task("requested", part=False)),  # the parent Task: not an ask
        ("t4", 2, 200.0, task("accepted", part=False)),
        ("t5", 1, 100.0, task("requested", owner="org-b")),  # never answered
    ]
    assert response_samples(rows) == {"org-a": [600.0, 300.0]}
    assert median_response(rows) == {"org-a": 450.0}


def test_response_times_feed_the_ranking(db: Database, index: UnitIndex) -> None:
    with db.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        base = {"resourceType": "Task", "intent": "order"}
        svc.update("Task", "parent", {**base, "id": "parent", "status": "requested"})
        child = {
            **base,
            "id": "ask-1",
            "status": "requested",
            "partOf": [{"reference": "Task/parent"}],
            "owner": {"reference": f"Organization/{PAVILION}"},
        }
        svc.update("Task", "ask-1", child)
        svc.update("Task", "ask-1", {**child, "status": "accepted"})
    index.refresh_responses()
    [hit] = match(index.snapshot(), NEAR, time.time()).hits
    assert any(r.startswith("median response") for r in hit.reasons)
    assert hit.score > 0.4 * (1 / (1 + hit.distance_km / 50)) + 0.15 * 0.5 - 0.1  # type: ignore[operator]


def test_index_finder_for_the_workflow(db: Database, index: UnitIndex) -> None:
    finder = IndexFinder(index)
    criteria = Criteria(
        service_request={"resourceType": "ServiceRequest"},
        level_of_care="AdultPsychiatric",
        age=30,
        near=AMARILLO,
    )
    found = finder(None, criteria, 3, 300.0, frozenset())  # type: ignore[arg-type]
    assert found[0].unit_id == UNIT and found[0].org_id == PAVILION
    assert all((c.distance_km or 0) <= 300 for c in found) and len(found) <= 3
    again = finder(None, criteria, 3, 300.0, frozenset({UNIT}))  # type: ignore[arg-type]
    assert UNIT not in {c.unit_id for c in again}
    assert all(c.census_stale for c in again)  # nobody reported a census
    child = Criteria(service_request={}, level_of_care="PediatricPsychiatric", near=AMARILLO)
    assert finder(None, child, 3, 300.0, frozenset()) == []  # type: ignore[arg-type]
