"""The follow-up extension point: a source installed on the app is what the figure counts.

The source here replaces the referral source the dashboard uses by default: outpatient encounters
(HL7 v2 PV1-2 = O, ingested like the rest of the scenario) after a crisis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gateway.outcomes import facts
from gateway.outcomes.followup import STATE_ATTRIBUTE
from gateway.outcomes.people import Episode, link_persons
from gateway.outcomes.period import parse_period
from gateway.outcomes.referrals import ReferralFollowUps
from gateway.outcomes.repository import OutcomesRepository
from gateway.outcomes.service import OutcomesService
from gateway.outcomes.suppression import SUPPRESSED
from tests.outcomes import expected
from tests.outcomes.scenario import Scenario
from tests.outcomes.test_api import dashboard
from tests.outcomes.test_dashboard import CELLS, cell, raw


class OutpatientVisits:
    definition = "an outpatient visit within 7 days after the crisis began"

    def follow_ups(
        self, session: Session, patient_ids: Sequence[str], start: float, end: float
    ) -> list[tuple[str, float]]:
        wanted = set(patient_ids)
        out = []
        for _rid, content in OutcomesRepository(session).encounters({"AMB"}, start, end):
            doc = facts.parse(content)
            pid = (doc.get("subject") or {}).get("reference", "").split("/")[-1]
            moment = facts._instant((doc.get("period") or {}).get("start"))
            if moment is not None:
                out.append((pid, moment))
        return [(p, t) for p, t in out if p in wanted]


def _expected(s: Scenario) -> dict[str, tuple[int, int]]:
    starts = expected.episodes(s)
    out = {k: [0, 0] for k in CELLS}
    for person, eps in starts.items():
        visits = [v.admitted for v in s.outpatient if v.person == person]
        for start in eps:
            if (m := expected.month(start)) is None:
                continue
            seen = any(start < v <= start + timedelta(days=7) for v in visits)
            for key in (m, "total"):
                out[key][0] += 1
                out[key][1] += int(seen)
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_an_installed_source_is_counted(api: TestClient, scenario: Scenario) -> None:
    setattr(api.app.state, STATE_ATTRIBUTE, OutpatientVisits())  # type: ignore[attr-defined]
    try:
        figure = raw(api)["figures"]["followUpWithin7Days"]
        shown = dashboard(api)["figures"]["followUpWithin7Days"]
    finally:
        delattr(api.app.state, STATE_ATTRIBUTE)  # type: ignore[attr-defined]
    assert figure["available"] is True
    want = _expected(scenario)
    for key in CELLS:
        c = cell(figure, key)
        assert (c["episodes"], c["followedUp"]) == want[key], key
    assert want["2025-01"] == (23, 4)  # P00-P03 seen 3 days after; P04 only after 10 days
    assert cell(shown, "2025-01")["followedUp"] == SUPPRESSED
    assert shown["definition"] == OutpatientVisits.definition
    after = raw(api)["figures"]["followUpWithin7Days"]  # the referral source again
    assert after["definition"] == ReferralFollowUps.definition


class _Fixed:
    """A source with fixed follow-ups, that also records the window it was asked for."""

    definition = "fixed"

    def __init__(self, found: list[tuple[str, float]]) -> None:
        self.found = found
        self.asked: tuple[float, float] | None = None

    def follow_ups(
        self, session: Session, patient_ids: Sequence[str], start: float, end: float
    ) -> list[tuple[str, float]]:
        self.asked = (start, end)
        return [(p, t) for p, t in self.found if p in patient_ids and start <= t < end]


def test_a_follow_up_counts_after_the_crisis_and_up_to_seven_days_later() -> None:
    day = 86400.0
    t0 = parse_period("2025-01", "2025-01", ZoneInfo("UTC")).start + 10 * day
    months = parse_period("2025-01", "2025-01", ZoneInfo("UTC")).months
    persons = link_persons(["a", "a2", "b", "c"], lambda ids: [("a", "a2")] if "a" in ids else [])
    index = [Episode(persons.person(p), t0) for p in ("a", "b", "c")]
    source = _Fixed([("a2", t0 + 7 * day), ("b", t0), ("c", t0 + 7 * day + 1)])
    service = OutcomesService(None, follow_ups=source)  # type: ignore[arg-type]
    figure = service._follow_up(months, index, persons, [])
    # a: on its other record, exactly 7 days later; b: at the crisis itself; c: a second too late.
    assert (figure.total["episodes"], figure.total["followedUp"]) == (3, 1)
    assert source.asked is not None and source.asked[1] > t0 + 7 * day
