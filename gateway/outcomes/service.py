"""The program dashboard's figures, computed over a period and per month (before suppression).

Every figure has the same shape: ``total`` and ``byMonth[YYYY-MM]``, each a dict of measures. The
placement figures are :func:`gateway.placement.metrics.placement_metrics`, asked once per month and
once for the whole period, so the dashboard and ``/placement/metrics`` never disagree; the referral
figures are ``/referrals/metrics`` the same way (:mod:`gateway.outcomes.referrals`).
Definitions: docs/outcomes.md.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gateway.outcomes import facts
from gateway.outcomes.followup import FOLLOW_UP_DAYS, FollowUpSource
from gateway.outcomes.people import (
    EPISODE_GAP_SECONDS,
    Episode,
    Persons,
    episodes,
    link_persons,
    next_episode_gaps,
)
from gateway.outcomes.period import Month, Period
from gateway.outcomes.programs import Program
from gateway.outcomes.referrals import FIGURES as REFERRAL_FIGURES
from gateway.outcomes.referrals import referral_figures
from gateway.outcomes.repository import OutcomesRepository
from gateway.placement.census import is_stale
from gateway.placement.directory import read_criteria
from gateway.placement.directory_repository import DirectoryRepository
from gateway.placement.metrics import placement_metrics

DAY = 86400.0
REPEAT_WINDOWS = (30, 90)
Cell = dict[str, Any]
# The measure a chart of each figure shows, and what it counts (for axis labels).
HEADLINES: dict[str, tuple[str | None, str]] = {
    "peopleServed": ("count", "people"),
    "crisisEpisodes": ("count", "crisis episodes"),
    "placementRequests": ("count", "requests"),
    "placements": ("count", "placements"),
    "timeToPlacement": ("medianSeconds", "seconds"),
    "declinesByReason": (None, "declines"),
    "staleCensusShare": ("share", "share of asks"),
    "officerHours": ("perCall", "officer hours per call"),
    "repeatCrises30": ("rate", "share of episodes"),
    "repeatCrises90": ("rate", "share of episodes"),
    "followUpWithin7Days": ("rate", "share of episodes"),
    **{name: (headline, unit) for name, (_l, headline, unit) in REFERRAL_FIGURES.items()},
}


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure: its label, its measures for the whole period and for each month."""

    label: str
    total: Cell
    by_month: dict[str, Cell]
    extra: dict[str, Any] | None = None


def _month_of(months: Sequence[Month], at: float) -> str | None:
    for m in months:
        if m.start <= at < m.end:
            return m.label
    return None


def _iso(ts: float, period: Period) -> str:
    return datetime.fromtimestamp(ts, period.zone).isoformat(timespec="seconds")


class OutcomesService:
    """Computes the dashboard for one program and one period."""

    def __init__(
        self,
        session: Session,
        *,
        follow_ups: FollowUpSource | None = None,
        now: float | None = None,
    ) -> None:
        self.session = session
        self.repo = OutcomesRepository(session)
        self.follow_ups = follow_ups
        self.now = time.time() if now is None else now

    # ---- the whole dashboard ------------------------------------------------------------------
    def dashboard(self, program: Program, period: Period) -> dict[str, Any]:
        months = period.months
        lookahead = max(REPEAT_WINDOWS) * DAY
        # Contacts from a day before the period (an episode already running at its start is not a
        # new one) to the end of the longest repeat window after it.
        contacts, calls = self._contacts(period.start - EPISODE_GAP_SECONDS, period.end + lookahead)
        persons = link_persons({c.patient_id for c in contacts}, self.repo.links)
        all_episodes = episodes(contacts, persons)
        figures: dict[str, Figure] = {}
        figures["peopleServed"] = self._people_served(program, period, contacts, persons)
        in_period = [e for e in all_episodes if period.start <= e.start < period.end]
        figures["crisisEpisodes"] = self._count(
            "Crisis episodes", months, [e.start for e in in_period]
        )
        figures.update(self._placements(period))
        figures["officerHours"] = self._officer_hours(months, calls, period)
        gaps = next_episode_gaps(all_episodes)
        for days in REPEAT_WINDOWS:
            figures[f"repeatCrises{days}"] = self._repeats(days, months, in_period, gaps)
        figures["followUpWithin7Days"] = self._follow_up(months, in_period, persons, contacts)
        for name, (label, total, by_month) in referral_figures(
            self.session, period, self.now
        ).items():
            figures[name] = Figure(label, total, by_month)
        return {
            "program": program.as_json(),
            "period": {
                "from": _iso(period.start, period),
                "to": _iso(period.end, period),
                "days": round(period.days, 4),
            },
            "generated": _iso(self.now, period),
            "months": [m.label for m in months],
            "figures": {
                name: {
                    "label": f.label,
                    "headline": HEADLINES[name][0],
                    "unit": HEADLINES[name][1],
                    "total": f.total,
                    "byMonth": f.by_month,
                    **(f.extra or {}),
                }
                for name, f in figures.items()
            },
        }

    # ---- sources ------------------------------------------------------------------------------
    def _contacts(
        self, start: float, end: float
    ) -> tuple[list[facts.Contact], list[facts.PoliceCall]]:
        contacts: list[facts.Contact] = []
        calls: list[facts.PoliceCall] = []
        for _rid, content in self.repo.encounters(facts.CRISIS_CLASSES, start, end):
            doc = facts.parse(content)
            found = facts.contact(doc)
            if found is not None:
                contacts.append(found)
            call = facts.police_call(doc)
            if call is not None:
                calls.append(call)
        for pid, created in self.repo.placement_requests(start, end):
            contacts.append(facts.Contact(pid, created, "placement"))
        return contacts, calls

    # ---- figures ------------------------------------------------------------------------------
    @staticmethod
    def _count(label: str, months: Sequence[Month], times: Sequence[float]) -> Figure:
        by_month = {m.label: {"count": 0} for m in months}
        for at in times:
            label_of = _month_of(months, at)
            if label_of is not None:
                by_month[label_of]["count"] += 1
        return Figure(label, {"count": sum(c["count"] for c in by_month.values())}, by_month)

    def _people_served(
        self,
        program: Program,
        period: Period,
        contacts: Sequence[facts.Contact],
        persons: Persons,
    ) -> Figure:
        months = period.months
        total: set[str] = set()
        by_month: dict[str, set[str]] = {m.label: set() for m in months}
        for c in contacts:
            if period.start <= c.at < period.end:
                person = persons.person(c.patient_id)
                total.add(person)
                by_month[_month_of(months, c.at) or months[0].label].add(person)
        yearly = program.people_served_target
        target: dict[str, Any] = {"perYear": yearly, "forPeriod": None, "share": None}
        if yearly:
            for_period = yearly * period.days / 365.25
            target["forPeriod"] = round(for_period, 2)
            target["share"] = round(len(total) / for_period, 4) if for_period else None
        return Figure(
            "People served",
            {"count": len(total)},
            {label: {"count": len(people)} for label, people in by_month.items()},
            {"target": target},
        )

    def _placements(self, period: Period) -> dict[str, Figure]:
        whole = placement_metrics(self.session, period.start, period.end - 1e-6)
        monthly = {
            m.label: placement_metrics(self.session, m.start, m.end - 1e-6) for m in period.months
        }

        def figure(label: str, pick: Any) -> Figure:
            return Figure(label, pick(whole), {k: pick(v) for k, v in monthly.items()})

        def timing(m: dict[str, Any]) -> Cell:
            t = m["timeToAcceptance"]
            return {"count": t["count"], "medianSeconds": t["median"], "p90Seconds": t["p90"]}

        def stale(m: dict[str, Any]) -> Cell:
            return {
                "asks": m["asks"],
                "staleAsks": round((m["staleCensusShare"] or 0) * m["asks"]),
                "share": m["staleCensusShare"],
            }

        declines = figure("Declines by reason", lambda m: dict(m["declinesByReason"]))
        reasons = sorted(set(declines.total).union(*declines.by_month.values()))
        declines = Figure(
            declines.label,
            {r: declines.total.get(r, 0) for r in reasons},
            {k: {r: v.get(r, 0) for r in reasons} for k, v in declines.by_month.items()},
        )
        return {
            "placementRequests": figure("Placement requests", lambda m: {"count": m["requests"]}),
            "placements": figure("Placements made", lambda m: {"count": m["placements"]}),
            "timeToPlacement": figure("Time to placement", timing),
            "declinesByReason": declines,
            "staleCensusShare": Figure(
                "Asks on a stale bed census",
                stale(whole),
                {k: stale(v) for k, v in monthly.items()},
                {"now": self._stale_units_now(period)},
            ),
        }

    def _stale_units_now(self, period: Period) -> Cell:
        """Active psychiatric units whose census is stale at this moment (census.is_stale)."""
        units = stale_units = 0
        for _t, _id, _v, deleted, _ts, content in DirectoryRepository(self.session).current(
            "HealthcareService"
        ):
            if deleted or content is None:
                continue
            criteria = read_criteria(facts.parse(content))
            if not criteria.active or not criteria.bed_types:
                continue
            units += 1
            stale_units += is_stale(criteria.census, criteria.cadence, self.now)
        return {
            "at": _iso(self.now, period),
            "units": units,
            "staleUnits": stale_units,
            "share": round(stale_units / units, 4) if units else None,
        }

    def _officer_hours(
        self, months: Sequence[Month], calls: Sequence[facts.PoliceCall], period: Period
    ) -> Figure:
        groups: dict[str, list[float]] = defaultdict(list)
        open_calls: dict[str, int] = defaultdict(int)
        for call in calls:
            if not period.start <= call.at < period.end:
                continue
            label = _month_of(months, call.at) or months[0].label
            if call.officer_hours is None:
                open_calls[label] += 1
            else:
                groups[label].append(call.officer_hours)

        def cell(hours: list[float], still_open: int) -> Cell:
            return {
                "calls": len(hours),
                "officerHours": round(sum(hours), 4),
                "perCall": round(sum(hours) / len(hours), 4) if hours else None,
                "medianPerCall": round(statistics.median(hours), 4) if hours else None,
                "openCalls": still_open,
            }

        every = [h for m in months for h in groups[m.label]]
        return Figure(
            "Officer hours per crisis call",
            cell(every, sum(open_calls.values())),
            {m.label: cell(groups[m.label], open_calls[m.label]) for m in months},
        )

    def _repeats(
        self,
        days: int,
        months: Sequence[Month],
        index: Sequence[Episode],
        gaps: dict[Episode, float | None],
    ) -> Figure:
        window = days * DAY

        def cell(eps: Sequence[Episode]) -> Cell:
            repeats = sum(1 for e in eps if (g := gaps[e]) is not None and g <= window)
            return {
                "episodes": len(eps),
                "repeats": repeats,
                "rate": round(repeats / len(eps), 4) if eps else None,
                "windowOpen": sum(1 for e in eps if e.start + window > self.now),
            }

        by_month = {m.label: cell([e for e in index if m.start <= e.start < m.end]) for m in months}
        return Figure(f"Repeat crises within {days} days", cell(index), by_month)

    def _follow_up(
        self,
        months: Sequence[Month],
        index: Sequence[Episode],
        persons: Persons,
        contacts: Sequence[facts.Contact],
    ) -> Figure:
        label = f"Follow-up within {FOLLOW_UP_DAYS} days of a crisis"
        if self.follow_ups is None:
            empty: Cell = {"episodes": None, "followedUp": None, "rate": None}
            note = {"available": False, "definition": "no follow-up source is installed"}
            return Figure(label, empty, {m.label: dict(empty) for m in months}, note)
        window = FOLLOW_UP_DAYS * DAY
        start = min((e.start for e in index), default=0.0)
        end = max((e.start for e in index), default=0.0) + window + 1.0  # the window is closed
        ids = persons.known()
        seen: dict[str, list[float]] = defaultdict(list)
        for pid, at in self.follow_ups.follow_ups(self.session, ids, start, end):
            seen[persons.person(pid)].append(at)

        def cell(eps: Sequence[Episode]) -> Cell:
            followed = sum(
                1 for e in eps if any(e.start < t <= e.start + window for t in seen[e.person])
            )
            rate = round(followed / len(eps), 4) if eps else None
            return {"episodes": len(eps), "followedUp": followed, "rate": rate}

        by_month = {m.label: cell([e for e in index if m.start <= e.start < m.end]) for m in months}
        extra = {"available": True, "definition": self.follow_ups.definition}
        return Figure(label, cell(index), by_month, extra)
