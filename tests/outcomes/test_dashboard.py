"""``GET /outcomes/dashboard`` over a quarter of data loaded through the real ingest and placement
paths: every figure equals the count made straight from the scenario's facts."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from gateway.outcomes.followup import installed
from gateway.outcomes.period import parse_period
from gateway.outcomes.programs import Program
from gateway.outcomes.service import OutcomesService
from tests.outcomes import expected
from tests.outcomes.conftest import FRESH_UNITS, TARGET
from tests.outcomes.scenario import Scenario
from tests.placement.workflow.support import FACILITIES

UTC = ZoneInfo("UTC")
CELLS = (*expected.MONTHS, "total")


def raw(api: TestClient) -> dict:  # type: ignore[type-arg]
    period = parse_period("2025-01", "2025-03", UTC)
    with api.app.state.db.unit_of_work() as session:  # type: ignore[attr-defined]
        service = OutcomesService(session, follow_ups=installed(api.app.state))  # type: ignore[attr-defined]
        return service.dashboard(Program("default", "x", TARGET), period)


def cell(figure: dict, key: str) -> dict:  # type: ignore[type-arg]
    return figure["total"] if key == "total" else figure["byMonth"][key]


def test_people_served_and_episodes(api: TestClient, scenario: Scenario) -> None:
    got = raw(api)["figures"]
    want = expected.people_served(scenario)
    assert {k: cell(got["peopleServed"], k)["count"] for k in CELLS} == want
    assert want["total"] == 24


def test_crisis_episodes_and_repeats(api: TestClient, scenario: Scenario) -> None:
    got = raw(api)["figures"]
    for days in (30, 90):
        want = expected.repeats(scenario, days)
        figure = got[f"repeatCrises{days}"]
        for key in CELLS:
            episodes, repeats = want[key]
            c = cell(figure, key)
            assert (c["episodes"], c["repeats"]) == (episodes, repeats), (days, key)
            assert c["rate"] == (pytest.approx(repeats / episodes, abs=1e-4) if episodes else None)
            assert c["windowOpen"] == 0
            assert cell(got["crisisEpisodes"], key)["count"] == episodes
    # Spot checks of the scenario itself: H3's crisis began in December, P10's March crisis was
    # followed by one in April (after the quarter), P00's second record was matched, not counted.
    assert expected.repeats(scenario, 30)["2025-03"] == (2, 1)
    assert expected.repeats(scenario, 30)["total"] == (30, 4)
    assert expected.repeats(scenario, 90)["2025-01"] == (23, 7)


def test_placement_figures(api: TestClient, scenario: Scenario) -> None:
    got = raw(api)["figures"]
    want = expected.placements(scenario)
    for key in CELLS:
        w = want[key]
        assert cell(got["placementRequests"], key) == {"count": w["requests"]}
        assert cell(got["placements"], key) == {"count": w["placements"]}
        timing = cell(got["timeToPlacement"], key)
        assert timing["count"] == w["placements"]
        assert timing["medianSeconds"] == (pytest.approx(w["median"]) if w["median"] else None)
        assert timing["p90Seconds"] == (pytest.approx(w["p90"]) if w["p90"] else None)
        declines = {r: n for r, n in cell(got["declinesByReason"], key).items() if n}
        assert declines == w["declines"], key
        stale = cell(got["staleCensusShare"], key)
        assert (stale["asks"], stale["staleAsks"]) == (w["asks"], w["staleAsks"])
        assert stale["share"] == (0.5 if w["asks"] else None)
    assert want["2025-01"]["placements"] == 11 and want["2025-02"]["placements"] == 2
    now = got["staleCensusShare"]["now"]
    units = len(FACILITIES)
    assert (now["units"], now["staleUnits"]) == (units, units - len(FRESH_UNITS))
    assert now["share"] == pytest.approx((units - len(FRESH_UNITS)) / units)


def test_officer_hours_per_call(api: TestClient, scenario: Scenario) -> None:
    got = raw(api)["figures"]["officerHours"]
    want = expected.officer_hours(scenario)
    for key in CELLS:
        c, w = cell(got, key), want[key]
        assert (c["calls"], c["openCalls"]) == (w["calls"], w["openCalls"]), key
        for measure in ("officerHours", "perCall", "medianPerCall"):
            assert c[measure] == (pytest.approx(w[measure], abs=1e-3) if w[measure] else None)
    assert want["total"]["openCalls"] == 1


def test_people_served_against_the_yearly_target(api: TestClient, scenario: Scenario) -> None:
    target = raw(api)["figures"]["peopleServed"]["target"]
    days = 90  # 1 January to 1 April 2025
    assert target["perYear"] == TARGET
    assert target["forPeriod"] == pytest.approx(TARGET * days / 365.25, abs=0.01)
    assert target["share"] == pytest.approx(24 / (TARGET * days / 365.25), abs=1e-3)


def test_follow_up_is_not_available_without_a_source(api: TestClient) -> None:
    period = parse_period("2025-01", "2025-03", UTC)
    with api.app.state.db.unit_of_work() as session:  # type: ignore[attr-defined]
        body = OutcomesService(session).dashboard(Program("default", "x", TARGET), period)
    figure = body["figures"]["followUpWithin7Days"]
    assert figure["available"] is False
    assert figure["total"] == {"episodes": None, "followedUp": None, "rate": None}
