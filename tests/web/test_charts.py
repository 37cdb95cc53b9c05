"""The dashboard's charts: the headline measure the report names, in units a reader expects, and
suppressed cells never drawn as numbers."""

from __future__ import annotations

from gateway.web.charts import charts


def test_charts_follow_the_reports_headlines_and_keep_suppression() -> None:
    dashboard = {
        "figures": {
            "timeToPlacement": {
                "label": "Time to placement",
                "headline": "medianSeconds",
                "unit": "seconds",
                "total": {"medianSeconds": 5400, "p90Seconds": 10800},
                "byMonth": {
                    "2025-03": {"medianSeconds": 3600, "p90Seconds": 7200},
                    "2025-04": {"medianSeconds": "suppressed", "p90Seconds": "suppressed"},
                    "2025-05": {"medianSeconds": None},
                },
            },
            "peopleServed": {
                "label": "People served",
                "headline": "count",
                "unit": "people",
                "total": {"count": 40},
                "byMonth": {"2025-03": {"count": "<11"}, "2025-04": {"count": 40}},
                "target": {"perYear": 480, "forPeriod": 80, "share": 0.5},
            },
            "staleCensusShare": {
                "label": "Asks on a stale bed census",
                "headline": "share",
                "unit": "share of asks",
                "total": {"share": 0.25},
                "byMonth": {},
            },
            "declinesByReason": {
                "label": "Declines by reason",
                "total": {"no-bed": 12, "payer": "<11"},
            },
        }
    }
    time, people, stale, declines = charts(dashboard)
    assert time.headline == "1.5 hours (median)"
    assert [b.text for b in time.bars] == ["1", "suppressed", "—"]
    assert time.bars[0].height == 50.0 and time.bars[0].mark == 100.0
    assert time.bars[1].value is None and time.bars[1].height == 0.0
    assert people.headline == "40 people"
    assert people.target == "target 80 for the period (50%)"
    assert [b.text for b in people.bars] == ["<11", "40"]
    assert stale.unit == "% of asks" and stale.headline == "25% of asks"
    assert [(b.label, b.text) for b in declines.bars] == [("no-bed", "12"), ("payer", "<11")]
    assert declines.bars[1].value is None


def test_referral_breakdowns_are_drawn_one_bar_per_key_with_suppression_kept() -> None:
    dashboard = {
        "figures": {
            "referralsByType": {
                "label": "Referrals by service type",
                "headline": None,
                "unit": "referrals",
                "total": {"crisis-follow-up": 24, "peer-support": "<11", "sud-treatment": 12},
                "byMonth": {"2025-03": {"crisis-follow-up": 24, "peer-support": "<11"}},
            },
            "referralsBySourceAgency": {
                "label": "Referrals by referring agency",
                "headline": None,
                "unit": "referrals",
                "total": {"agency-a": "<11", "agency-b": "<11"},
                "byMonth": {},
            },
            "referralsOverdue": {
                "label": "Referrals overdue",
                "headline": "count",
                "unit": "referrals",
                "total": {"count": 0},
                "byMonth": {"2025-03": {"count": 0}},
            },
        }
    }
    by_type, by_agency, overdue = charts(dashboard)
    assert by_type.headline == "3 service type(s)" and by_type.axis == "Service type"
    assert [(b.label, b.text) for b in by_type.bars] == [
        ("crisis-follow-up", "24"),
        ("peer-support", "<11"),
        ("sud-treatment", "12"),
    ]
    assert by_type.bars[0].height == 100.0 and by_type.bars[2].height == 50.0
    assert by_type.bars[1].value is None and by_type.bars[1].height == 0.0
    assert by_agency.axis == "Referring agency" and by_agency.unit == "referrals"
    assert [b.text for b in by_agency.bars] == ["<11", "<11"]
    assert all(b.value is None for b in by_agency.bars)
    assert overdue.axis == "Month" and [b.text for b in overdue.bars] == ["0"]


def test_a_breakdown_with_no_referrals_says_so() -> None:
    (empty,) = charts({"figures": {"referralsByType": {"headline": None, "total": {}}}})
    assert empty.headline == "no referrals" and empty.bars == []
