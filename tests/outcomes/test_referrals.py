"""Referrals on the program dashboard: the 7-day follow-up measure counted from referrals completed
with the person seen (made, accepted, booked and completed through ``/referrals``), the referral
figures of ``/referrals/metrics`` by month, and their small cells suppressed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.outcomes.referrals import ReferralFollowUps
from gateway.outcomes.suppression import SUPPRESSED, WITHHELD
from tests.conftest import bearer
from tests.outcomes import expected
from tests.outcomes.scenario import Scenario
from tests.outcomes.test_api import dashboard
from tests.outcomes.test_dashboard import CELLS, cell, raw

PARTITIONS = ("referralsByType", "referralsBySourceAgency")


def test_follow_up_within_7_days_counts_referrals_seen(api: TestClient, scenario: Scenario) -> None:
    figure = raw(api)["figures"]["followUpWithin7Days"]
    assert figure["available"] is True
    assert figure["definition"] == ReferralFollowUps.definition
    want = expected.follow_ups(scenario)
    for key in CELLS:
        c = cell(figure, key)
        episodes, followed = want[key]
        assert (c["episodes"], c["followedUp"]) == (episodes, followed), key
        assert c["rate"] == (pytest.approx(followed / episodes, abs=1e-4) if episodes else None)
    # P06-P16 and P00 (seen on the hospital's record, the crisis on the police's: one person
    # through the identity link) within 7 days; P17 after 10 days and P18 not at all do not count.
    assert want["2025-01"] == (23, 12)
    assert want["total"] == (30, 13)


def test_referral_figures_are_the_referrals_of_each_month(
    api: TestClient, scenario: Scenario
) -> None:
    got = raw(api)["figures"]
    want = expected.referrals(scenario)
    for key in CELLS:
        w = want[key]
        assert cell(got["referrals"], key) == {"count": w["count"]}, key
        assert {k: n for k, n in cell(got["referralsByType"], key).items() if n} == w["byType"]
        agencies = cell(got["referralsBySourceAgency"], key)
        assert {k: n for k, n in agencies.items() if n} == w["byAgency"], key
        acceptance = cell(got["referralAcceptance"], key)
        assert (acceptance["referrals"], acceptance["answered"], acceptance["accepted"]) == (
            w["count"],
            w["answered"],
            w["accepted"],
        )
        rate = w["accepted"] / w["answered"] if w["answered"] else None
        assert acceptance["rate"] == (pytest.approx(rate, abs=1e-4) if rate else None)
        completion = cell(got["referralCompletion"], key)
        assert (completion["accepted"], completion["completed"], completion["seen"]) == (
            w["accepted"],
            w["completed"],
            w["seen"],
        )
        contact = cell(got["timeToFirstContact"], key)
        assert contact["seen"] == w["seen"]
        hours = w["medianHours"]
        assert contact["medianHours"] == (pytest.approx(hours, abs=0.01) if hours else None)
        assert cell(got["referralsOverdue"], key) == {"count": w["overdue"]}, key
    assert want["total"]["count"] == 17 and want["total"]["medianHours"] == 64.0


def test_the_dashboard_and_referral_metrics_agree(api: TestClient) -> None:
    auditor = bearer(api.app, role="bha_auditor", agency="audit-office", purposes=["HOPERAT"])
    got = api.get("/referrals/metrics?from=2025-01-01&to=2025-03-31", headers=auditor)
    assert got.status_code == 200, got.text
    overall = got.json()["overall"]
    figures = raw(api)["figures"]
    assert cell(figures["referrals"], "total")["count"] == overall["referrals"]
    assert cell(figures["referralAcceptance"], "total")["rate"] == overall["acceptance_rate"]
    assert cell(figures["referralCompletion"], "total")["rate"] == overall["completion_rate"]
    assert (
        cell(figures["timeToFirstContact"], "total")["medianHours"]
        == overall["median_first_contact_hours"]
    )
    assert cell(figures["referralsOverdue"], "total")["count"] == overall["overdue"]


def test_small_referral_cells_and_what_they_would_reveal_are_hidden(api: TestClient) -> None:
    f = dashboard(api)["figures"]
    # Follow-up: January 12 of 23, February 1 of 2 (small), total 13 of 30. February is hidden,
    # and January too, or February would be 13 - 12.
    follow = f["followUpWithin7Days"]
    assert [cell(follow, k)["followedUp"] for k in CELLS] == [SUPPRESSED, SUPPRESSED, 0, 13]
    assert cell(follow, "2025-01")["rate"] == WITHHELD
    assert cell(follow, "total")["rate"] == pytest.approx(13 / 30, abs=1e-4)
    # 17 referrals: 16 in January, 1 in February (so January is hidden with it).
    assert [cell(f["referrals"], k)["count"] for k in CELLS] == [SUPPRESSED, SUPPRESSED, 0, 17]
    assert cell(f["referralAcceptance"], "2025-01")["referrals"] == SUPPRESSED  # the same number
    # By agency: the hospital's 16 of 17 would give the police's 1 away: both hidden.
    agencies = cell(f["referralsBySourceAgency"], "total")
    assert agencies == {"amarillo-pd": SUPPRESSED, "hosp-a": SUPPRESSED}
    assert cell(f["referralsByType"], "total")["outpatient-psychiatry"] == 12
    # 15 of 16 answered were accepted: one refusal would show; the rates built on it are withheld.
    acceptance = cell(f["referralAcceptance"], "total")
    assert (acceptance["accepted"], acceptance["rate"]) == (SUPPRESSED, WITHHELD)
    assert cell(f["referralCompletion"], "total")["accepted"] == SUPPRESSED  # the same number
    assert cell(f["referralsOverdue"], "total")["count"] == SUPPRESSED
    for name in PARTITIONS:
        for key in CELLS:
            shown = cell(f[name], key).values()
            assert not any(isinstance(v, int) and 1 <= v <= 10 for v in shown), (name, key)


def test_referral_figures_are_in_the_csv_as_in_the_json(api: TestClient) -> None:
    body = dashboard(api)
    got = api.get(
        "/outcomes/dashboard?from=2025-01&to=2025-03&_format=csv",
        headers=bearer(api.app, role="program_reader", agency="city-council", purposes=["HOPERAT"]),
    )
    assert got.status_code == 200
    lines = set(got.text.splitlines())
    for name in ("referrals", "referralsByType", "followUpWithin7Days"):
        figure: dict[str, Any] = body["figures"][name]
        for measure, value in figure["total"].items():
            text = "" if value is None else f"{value:.10g}" if isinstance(value, float) else value
            assert f"{name},{measure},total,{text}" in lines, (name, measure)
