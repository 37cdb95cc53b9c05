"""The dashboard's figures for a scenario, counted straight from the scenario's facts (who each
record belongs to is known here, not matched), for the first quarter of 2025, UTC months."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.outcomes.scenario import Scenario

MONTHS = ("2025-01", "2025-02", "2025-03")
START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)
GAP = timedelta(hours=24)


def month(moment: datetime) -> str | None:
    return moment.strftime("%Y-%m") if START <= moment < END else None


def p90(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]
    )


def contacts(s: Scenario) -> list[tuple[str, datetime]]:
    out = [(c.person, c.reported) for c in s.calls]
    out += [(v.person, v.admitted) for v in s.visits if not v.cancelled]
    out += [(p.person, p.created) for p in s.placements]
    return out


def episodes(s: Scenario) -> dict[str, list[datetime]]:
    """Each person's episode starts."""
    times: dict[str, list[datetime]] = defaultdict(list)
    for person, when in contacts(s):
        times[person].append(when)
    out: dict[str, list[datetime]] = {}
    for person, seen in times.items():
        starts: list[datetime] = []
        last = None
        for when in sorted(seen):
            if last is None or when - last > GAP:
                starts.append(when)
            last = when
        out[person] = starts
    return out


def people_served(s: Scenario) -> dict[str, int]:
    served: dict[str, set[str]] = {m: set() for m in (*MONTHS, "total")}
    for person, when in contacts(s):
        if (m := month(when)) is not None:
            served[m].add(person)
            served["total"].add(person)
    return {m: len(p) for m, p in served.items()}


def repeats(s: Scenario, days: int) -> dict[str, tuple[int, int]]:
    """(episodes, repeats within ``days``) per month and in total."""
    out = {m: [0, 0] for m in (*MONTHS, "total")}
    for starts in episodes(s).values():
        for i, start in enumerate(starts):
            if (m := month(start)) is None:
                continue
            again = i + 1 < len(starts) and starts[i + 1] - start <= timedelta(days=days)
            for key in (m, "total"):
                out[key][0] += 1
                out[key][1] += int(again)
    return {k: (v[0], v[1]) for k, v in out.items()}


def officer_hours(s: Scenario) -> dict[str, dict[str, Any]]:
    hours: dict[str, list[float]] = {m: [] for m in (*MONTHS, "total")}
    still_open = dict.fromkeys((*MONTHS, "total"), 0)
    for c in s.calls:
        if (m := month(c.reported)) is None:
            continue
        for key in (m, "total"):
            if c.cleared is None:
                still_open[key] += 1
            else:
                hours[key].append(c.officers * (c.cleared - c.dispatched).total_seconds() / 3600)
    return {
        k: {
            "calls": len(v),
            "officerHours": sum(v),
            "perCall": sum(v) / len(v) if v else None,
            "medianPerCall": statistics.median(v) if v else None,
            "openCalls": still_open[k],
        }
        for k, v in hours.items()
    }


def placements(s: Scenario) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key in (*MONTHS, "total"):
        mine = [p for p in s.placements if key in ("total", month(p.created))]
        waits = [p.f1_accepts_after for p in mine if p.f1_accepts_after is not None]
        declines: dict[str, int] = defaultdict(int)
        for p in mine:
            for reason in (p.f2_declines, p.f1_declines):
                if reason:
                    declines[reason] += 1
        out[key] = {
            "requests": len(mine),
            "placements": len(waits),
            "median": statistics.median(waits) if waits else None,
            "p90": p90(waits) if waits else None,
            "declines": dict(declines),
            "asks": 2 * len(mine),
            "staleAsks": len(mine),  # every request asked f1 and f2; f2's census is stale
        }
    return out


def follow_ups(s: Scenario) -> dict[str, tuple[int, int]]:
    """(episodes, episodes the person was seen on a referral within 7 days after) per month."""
    out = {m: [0, 0] for m in (*MONTHS, "total")}
    for person, starts in episodes(s).items():
        seen = [r.seen for r in s.referrals if r.person == person and r.seen is not None]
        for start in starts:
            if (m := month(start)) is None:
                continue
            followed = any(start < t <= start + timedelta(days=7) for t in seen)
            for key in (m, "total"):
                out[key][0] += 1
                out[key][1] += int(followed)
    return {k: (v[0], v[1]) for k, v in out.items()}


def referrals(s: Scenario) -> dict[str, dict[str, Any]]:
    """The referral figures per month of the referral and in total (none is answered late)."""
    out: dict[str, dict[str, Any]] = {}
    for key in (*MONTHS, "total"):
        mine = [r for r in s.referrals if key in ("total", month(r.made))]
        seen = [r for r in mine if r.seen is not None]
        by_type: dict[str, int] = defaultdict(int)
        by_agency: dict[str, int] = defaultdict(int)
        for r in mine:
            by_type[r.service] += 1
            by_agency[r.referrer] += 1
        hours = [(r.seen - r.made).total_seconds() / 3600 for r in seen if r.seen is not None]
        out[key] = {
            "count": len(mine),
            "byType": dict(by_type),
            "byAgency": dict(by_agency),
            "answered": sum(1 for r in mine if r.answer is not None),
            "accepted": sum(1 for r in mine if r.answer == "$accept"),
            "completed": sum(1 for r in mine if r.outcome is not None),
            "seen": len(seen),
            "medianHours": statistics.median(hours) if hours else None,
            "overdue": sum(1 for r in mine if r.answer is None),  # made in 2025, never answered
        }
    return out
