"""Programs file, reporting periods in a program's time zone, and the suppression rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.fhir.errors import InvalidRequest
from gateway.outcomes.period import parse_period
from gateway.outcomes.programs import ProgramsError, load_programs, parse_programs
from gateway.outcomes.suppression import SUPPRESSED, WITHHELD, suppress
from gateway.settings import Settings

CHICAGO = ZoneInfo("America/Chicago")
PROGRAMS = """
[programs.amarillo]
name = "Amarillo crisis response"
people_served_target = 191
timezone = "America/Chicago"

[programs.co-responders]
name = "Co-responder team"
people_served_target = 60
default = true
"""


def test_programs_file_gives_each_program_its_target_and_zone(tmp_path: Path) -> None:
    path = tmp_path / "programs.toml"
    path.write_text(PROGRAMS, encoding="utf-8")
    programs = load_programs(Settings(programs_file=path))
    assert programs.default == "co-responders"
    amarillo = programs.get("amarillo")
    assert amarillo is not None
    assert (amarillo.people_served_target, amarillo.timezone) == (191, "America/Chicago")
    assert programs.get(None) == programs.get("co-responders")
    assert programs.get("nowhere") is None
    single = load_programs(Settings(people_served_target=191))
    assert single.get(None).people_served_target == 191  # type: ignore[union-attr]
    assert load_programs(Settings()).get(None).people_served_target is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[programs.a]\npeople_served_target = 0\n", "whole number above 0"),
        ("[programs.a]\npeople_served_target = '191'\n", "whole number above 0"),
        ("[programs.a]\ntimezone = 'Mars/Olympus'\n", "IANA time zone"),
        ("[programs.a]\ntarget = 191\n", "unknown keys: target"),
        ("[programs.a]\ndefault = true\n[programs.b]\ndefault = true\n", "only one program"),
        ("[programs]\n", "at least one"),
        ("programs = [", "not valid TOML"),
    ],
)
def test_a_wrong_programs_file_is_refused_with_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ProgramsError, match=says):
        parse_programs(text)


def test_a_missing_programs_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProgramsError, match="cannot be read"):
        load_programs(Settings(programs_file=tmp_path / "absent.toml"))


def test_months_and_date_bounds_are_local_to_the_program() -> None:
    period = parse_period("2025-03", "2025-04", CHICAGO)
    assert [m.label for m in period.months] == ["2025-03", "2025-04"]
    # Midnight in Chicago: UTC-6 before the change to daylight time on 9 March, UTC-5 after.
    assert period.start == datetime(2025, 3, 1, 6, tzinfo=UTC).timestamp()
    assert period.months[1].start == datetime(2025, 4, 1, 5, tzinfo=UTC).timestamp()
    assert period.end == datetime(2025, 5, 1, 5, tzinfo=UTC).timestamp()
    exact = parse_period("2025-03-10T00:00:00Z", "2025-03-10T23:59:59Z", UTC)
    assert exact.end - exact.start == 86400
    year = parse_period("2024", "2024", ZoneInfo("UTC"))
    assert len(year.months) == 12 and year.days == 366


def test_the_default_period_is_the_last_twelve_months() -> None:
    now = datetime(2025, 7, 15, 12, tzinfo=UTC).timestamp()
    period = parse_period(None, None, ZoneInfo("UTC"), now=now)
    assert period.months[0].label == "2024-08" and period.months[-1].label == "2025-07"
    assert period.end == now
    with pytest.raises(InvalidRequest):
        parse_period("2025-08", None, ZoneInfo("UTC"), now=now)


def _dash(figures: dict[str, Any], months: tuple[str, ...] = ("a", "b", "c")) -> dict[str, Any]:
    return {"months": list(months), "figures": figures}


def _fig(total: dict[str, Any], *months: dict[str, Any]) -> dict[str, Any]:
    return {"label": "x", "total": total, "byMonth": dict(zip("abc", months, strict=False))}


def test_counts_from_one_to_ten_are_hidden_zero_and_eleven_are_not() -> None:
    out = suppress(
        _dash({"crisisEpisodes": _fig({"count": 41}, {"count": 0}, {"count": 11}, {"count": 30})})
    )
    f = out["figures"]["crisisEpisodes"]
    assert [f["byMonth"][m]["count"] for m in "abc"] == [0, 11, 30]
    for small in (1, 10):
        out = suppress(_dash({"peopleServed": _fig({"count": small}, {"count": small})}))
        assert out["figures"]["peopleServed"]["total"]["count"] == SUPPRESSED


def test_one_hidden_month_takes_the_smallest_other_month_with_it() -> None:
    months = ({"count": 4}, {"count": 25}, {"count": 12})
    out = suppress(_dash({"placements": _fig({"count": 41}, *months)}))
    f = out["figures"]["placements"]
    assert [f["byMonth"][m]["count"] for m in "abc"] == [SUPPRESSED, 25, SUPPRESSED]
    assert f["total"]["count"] == 41
    # Not additive (people are counted once a period, not once a month): no second cell hidden.
    out = suppress(_dash({"peopleServed": _fig({"count": 38}, *months)}))
    assert [out["figures"]["peopleServed"]["byMonth"][m]["count"] for m in "abc"] == [
        SUPPRESSED,
        25,
        12,
    ]


def test_a_part_is_hidden_when_the_rest_of_the_whole_is_small() -> None:
    cell = {"episodes": 14, "repeats": 12, "rate": 12 / 14, "windowOpen": 0}
    out = suppress(_dash({"repeatCrises30": _fig(cell)}, ()))
    total = out["figures"]["repeatCrises30"]["total"]
    assert (total["episodes"], total["repeats"], total["rate"]) == (14, SUPPRESSED, WITHHELD)


def test_statistics_of_hidden_counts_are_withheld_and_unknown_figures_fail_closed() -> None:
    timing = {"count": 3, "medianSeconds": 900.0, "p90Seconds": 1500.0}
    out = suppress(
        _dash({"timeToPlacement": _fig(timing), "newFigure": _fig({"n": 5, "m": 0})}, ())
    )
    assert out["figures"]["timeToPlacement"]["total"] == {
        "count": SUPPRESSED,
        "medianSeconds": WITHHELD,
        "p90Seconds": WITHHELD,
    }
    assert out["figures"]["newFigure"]["total"] == {"n": SUPPRESSED, "m": 0}
    share = {"asks": 3, "staleAsks": 1, "share": 1 / 3}
    assert (
        suppress(_dash({"staleCensusShare": _fig(share)}, ()))["figures"]["staleCensusShare"][
            "total"
        ]
        == share
    )


def test_one_hidden_key_of_a_breakdown_takes_the_smallest_other_key_with_it() -> None:
    by_agency = {"hospital": 30, "police": 3, "crisis-team": 14}
    out = suppress(_dash({"referralsBySourceAgency": _fig(by_agency)}, ()))
    assert out["figures"]["referralsBySourceAgency"]["total"] == {
        "hospital": 30,
        "police": SUPPRESSED,
        "crisis-team": SUPPRESSED,  # else police = referrals made - 30 - 14
    }
    # Two keys hidden already: nothing more to hide. Declines are not a breakdown of a shown count.
    two = {"hospital": 30, "police": 3, "crisis-team": 4}
    out = suppress(_dash({"referralsBySourceAgency": _fig(two)}, ()))
    assert out["figures"]["referralsBySourceAgency"]["total"]["hospital"] == 30
    declines = {"no-bed": 30, "payer": 3, "security": 14}
    out = suppress(_dash({"declinesByReason": _fig(declines)}, ()))
    assert out["figures"]["declinesByReason"]["total"]["security"] == 14


def test_a_number_shown_in_two_figures_is_hidden_in_both() -> None:
    # 15 of 16 answered referrals accepted: hidden in the acceptance figure (one refusal would
    # show), so in the completion figure too, with the rates built on it; and the statistics of
    # the people seen follow the people seen.
    acceptance = {"referrals": 30, "answered": 16, "accepted": 15, "rate": 0.9375}
    completion = {"accepted": 15, "completed": 15, "seen": 13, "rate": 1.0}
    contact = {"seen": 13, "medianHours": 40.0}
    out = suppress(
        _dash(
            {
                "referralAcceptance": _fig(acceptance),
                "referralCompletion": _fig(completion),
                "timeToFirstContact": _fig(contact),
            },
            (),
        )
    )
    f = {name: out["figures"][name]["total"] for name in out["figures"]}
    assert f["referralAcceptance"] == {
        "referrals": 30,
        "answered": 16,
        "accepted": SUPPRESSED,
        "rate": WITHHELD,
    }
    assert f["referralCompletion"]["accepted"] == SUPPRESSED
    assert f["referralCompletion"]["rate"] == WITHHELD
    assert f["timeToFirstContact"]["seen"] == f["referralCompletion"]["seen"] == SUPPRESSED
    assert f["timeToFirstContact"]["medianHours"] == WITHHELD
