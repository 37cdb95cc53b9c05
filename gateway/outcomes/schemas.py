"""The shape of ``GET /outcomes/dashboard`` (JSON), for clients that render it.

Every figure has the same shape; a cell's measures are numbers, ``None`` (nothing to measure, e.g.
the median of no placements), ``"<11"`` (a suppressed count) or ``"suppressed"`` (a statistic
computed from a suppressed count).
"""

from __future__ import annotations

from typing import Any, TypedDict

Measure = int | float | str | None


class FigureJson(TypedDict, total=False):
    label: str
    headline: str | None  # the measure a chart shows (None: every measure, e.g. each reason)
    unit: str  # what the headline measure counts, for an axis label
    total: dict[str, Measure]
    byMonth: dict[str, dict[str, Measure]]
    target: dict[str, Any]  # peopleServed only: perYear, forPeriod, share
    now: dict[str, Any]  # staleCensusShare only: at, units, staleUnits, share (at report time)
    available: bool  # followUpWithin7Days only
    definition: str  # followUpWithin7Days only


class ProgramJson(TypedDict):
    id: str
    name: str
    peopleServedTargetPerYear: int | None
    timezone: str


# ISO 8601 instants in the program's time zone; ``to`` is exclusive.
PeriodJson = TypedDict("PeriodJson", {"from": str, "to": str, "days": float})


class DashboardJson(TypedDict):
    program: ProgramJson
    period: PeriodJson
    generated: str
    months: list[str]  # YYYY-MM, in order
    figures: dict[str, FigureJson]
    suppression: dict[str, Any]


CSV_COLUMNS = ("figure", "measure", "month", "value")
TOTAL = "total"
CURRENT = "current"
