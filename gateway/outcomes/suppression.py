"""Small-cell suppression, applied to every figure before it leaves the gateway.

Common public-health practice (e.g. the CMS cell size suppression policy, CDC WONDER): a count of
people or of events about people from 1 to 10 is not published; it is shown as ``"<11"``. Zero is
shown (it identifies nobody). On top of that primary rule:

* *statistics* computed from a suppressed count (a rate, a median, a 90th percentile, hours per
  call) are withheld: shown as ``"suppressed"``;
* *part of a whole* (repeats of all episodes, follow-ups of all episodes): the part is suppressed
  too when the rest (whole - part) is from 1 to 10, or the part could be found by subtraction;
* *complementary suppression* over months: when exactly one month of an additive series is
  suppressed while the period total is shown, the smallest other non-zero month is suppressed as
  well, so the hidden month cannot be found as total - the other months.

Facility figures (the stale-census share of asks) describe facilities, not people, and are shown
as they are. A figure this module does not know is treated as all counts (fail closed).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

SUPPRESSED = "<11"
WITHHELD = "suppressed"
SMALL = range(1, 11)
THRESHOLD = 11


@dataclass(frozen=True)
class Rule:
    """Which measures of a figure are counts, which add up over months, which depend on which."""

    counts: tuple[str, ...] = ()
    additive: tuple[str, ...] = ()
    parts: dict[str, str] = field(default_factory=dict)  # part -> whole
    dependents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    every_key_is_an_additive_count: bool = False
    public: bool = False


def _repeat_rule(part: str) -> Rule:
    return Rule(
        counts=("episodes", part, "windowOpen"),
        additive=("episodes", part),
        parts={part: "episodes"},
        dependents={"rate": (part, "episodes")},
    )


RULES: dict[str, Rule] = {
    "peopleServed": Rule(counts=("count",)),
    "crisisEpisodes": Rule(counts=("count",), additive=("count",)),
    "placementRequests": Rule(counts=("count",), additive=("count",)),
    "placements": Rule(counts=("count",), additive=("count",)),
    "timeToPlacement": Rule(
        counts=("count",),
        additive=("count",),
        dependents={"medianSeconds": ("count",), "p90Seconds": ("count",)},
    ),
    "declinesByReason": Rule(every_key_is_an_additive_count=True),
    "officerHours": Rule(
        counts=("calls", "openCalls"),
        additive=("calls", "openCalls"),
        dependents={
            "officerHours": ("calls",),
            "perCall": ("calls",),
            "medianPerCall": ("calls",),
        },
    ),
    "repeatCrises30": _repeat_rule("repeats"),
    "repeatCrises90": _repeat_rule("repeats"),
    "followUpWithin7Days": _repeat_rule("followedUp"),
    "staleCensusShare": Rule(public=True),
}


def _small(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in SMALL


def _rule_for(name: str, figure: dict[str, Any]) -> Rule:
    rule = RULES.get(name)
    if rule is not None and not rule.every_key_is_an_additive_count:
        return rule
    keys: set[str] = set(figure["total"])
    for cell in figure["byMonth"].values():
        keys |= set(cell)
    ordered = tuple(sorted(keys))
    return Rule(counts=ordered, additive=ordered)


def _primary(cell: dict[str, Any], rule: Rule, hidden: set[str]) -> None:
    for key in rule.counts:
        if _small(cell.get(key)):
            hidden.add(key)
    for part, whole in rule.parts.items():
        p, w = cell.get(part), cell.get(whole)
        small_rest = isinstance(p, int) and isinstance(w, int) and _small(w - p)
        if p and (small_rest or whole in hidden):
            hidden.add(part)


def _complementary(
    total_hidden: set[str], months: dict[str, dict[str, Any]], hidden: dict[str, set[str]], key: str
) -> None:
    if key in total_hidden:
        return
    suppressed = [m for m in months if key in hidden[m]]
    if len(suppressed) != 1:
        return
    shown = [
        (months[m].get(key), m)
        for m in months
        if key not in hidden[m] and isinstance(months[m].get(key), int) and months[m].get(key)
    ]
    if shown:
        hidden[min(shown)[1]].add(key)


def _apply(cell: dict[str, Any], rule: Rule, hidden: set[str]) -> dict[str, Any]:
    out = dict(cell)
    for key in hidden:
        if key in out:
            out[key] = SUPPRESSED
    for key, sources in rule.dependents.items():
        if key in out and any(s in hidden for s in sources):
            out[key] = WITHHELD
    return out


def suppress(dashboard: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``dashboard`` with small cells suppressed (see the module docstring)."""
    out = copy.deepcopy(dashboard)
    for name, figure in out["figures"].items():
        rule = _rule_for(name, figure)
        if rule.public:
            continue
        months: dict[str, dict[str, Any]] = figure["byMonth"]
        total_hidden: set[str] = set()
        _primary(figure["total"], rule, total_hidden)
        hidden = {m: set() for m in months}
        for m, cell in months.items():
            _primary(cell, rule, hidden[m])
        for key in rule.additive:
            _complementary(total_hidden, months, hidden, key)
        figure["total"] = _apply(figure["total"], rule, total_hidden)
        figure["byMonth"] = {m: _apply(cell, rule, hidden[m]) for m, cell in months.items()}
        target = figure.get("target")
        if isinstance(target, dict) and "count" in total_hidden and target.get("share") is not None:
            target["share"] = WITHHELD
    out["suppression"] = {
        "rule": 'counts of people or events from 1 to 10 are shown as "<11"; statistics '
        'computed from them as "suppressed"',
        "threshold": THRESHOLD,
        "suppressed": SUPPRESSED,
        "withheld": WITHHELD,
    }
    return out
