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
  well, so the hidden month cannot be found as total - the other months; and over the keys of a
  breakdown whose keys add up to a count shown elsewhere (referrals by type, by agency), the same
  within each month and the total;
* *one number, one fate*: a count shown in two figures (the referrals made, the referrals
  accepted, the people seen) is hidden in both when either figure hides it.

The rules are applied until nothing more is hidden.

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
    partition: bool = False  # the keys add up to a count shown elsewhere


def _key_rule(partition: bool = False) -> Rule:
    return Rule(every_key_is_an_additive_count=True, partition=partition)


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
    "declinesByReason": _key_rule(),
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
    "referrals": Rule(counts=("count",), additive=("count",)),
    "referralsByType": _key_rule(partition=True),
    "referralsBySourceAgency": _key_rule(partition=True),
    "referralAcceptance": Rule(
        counts=("referrals", "answered", "accepted"),
        additive=("referrals", "answered", "accepted"),
        parts={"answered": "referrals", "accepted": "answered"},
        dependents={"rate": ("accepted", "answered")},
    ),
    "referralCompletion": Rule(
        counts=("accepted", "completed", "seen"),
        additive=("accepted", "completed", "seen"),
        parts={"completed": "accepted", "seen": "completed"},
        dependents={"rate": ("completed", "accepted")},
    ),
    "timeToFirstContact": Rule(
        counts=("seen",), additive=("seen",), dependents={"medianHours": ("seen",)}
    ),
    "referralsOverdue": Rule(counts=("count",), additive=("count",)),
}
# The same number in two figures: hidden in both when either hides it.
LINKS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("referrals", "count"), ("referralAcceptance", "referrals")),
    (("referralAcceptance", "accepted"), ("referralCompletion", "accepted")),
    (("referralCompletion", "seen"), ("timeToFirstContact", "seen")),
)
TOTAL_CELL = "\x00total"  # the key of the period total among a figure's month cells


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
    return Rule(counts=ordered, additive=ordered, partition=bool(rule and rule.partition))


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


def _across_keys(cell: dict[str, Any], hidden: set[str]) -> None:
    """Complementary suppression within one cell of a breakdown whose keys add up to a shown
    count: one hidden key would be that count minus the others."""
    if sum(1 for k in cell if k in hidden) != 1:
        return
    shown = [(v, k) for k, v in cell.items() if k not in hidden and isinstance(v, int) and v]
    if shown:
        hidden.add(min(shown)[1])


def _hide(out: dict[str, Any]) -> dict[str, dict[str, set[str]]]:
    """Which measures of which cells to hide: every rule applied until nothing more is hidden."""
    figures = {n: f for n, f in out["figures"].items() if not _rule_for(n, f).public}
    hidden = {n: {m: set() for m in (*f["byMonth"], TOTAL_CELL)} for n, f in figures.items()}
    while True:
        before = sum(len(h) for cells in hidden.values() for h in cells.values())
        for name, figure in figures.items():
            rule, marks = _rule_for(name, figure), hidden[name]
            months: dict[str, dict[str, Any]] = figure["byMonth"]
            cells = {**months, TOTAL_CELL: figure["total"]}
            for m, cell in cells.items():
                _primary(cell, rule, marks[m])
                if rule.partition:
                    _across_keys(cell, marks[m])
            for key in rule.additive:
                _complementary(marks[TOTAL_CELL], months, marks, key)
        for link in LINKS:
            present = [(n, k) for n, k in link if n in hidden]
            for m in {m for n, _k in present for m in hidden[n]}:
                if any(k in hidden[n].get(m, ()) for n, k in present):
                    for n, k in present:
                        hidden[n].setdefault(m, set()).add(k)
        if sum(len(h) for cells in hidden.values() for h in cells.values()) == before:
            return hidden


def suppress(dashboard: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``dashboard`` with small cells suppressed (see the module docstring)."""
    out = copy.deepcopy(dashboard)
    for name, marks in _hide(out).items():
        figure = out["figures"][name]
        rule = _rule_for(name, figure)
        total_hidden = marks[TOTAL_CELL]
        figure["total"] = _apply(figure["total"], rule, total_hidden)
        figure["byMonth"] = {m: _apply(c, rule, marks[m]) for m, c in figure["byMonth"].items()}
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
