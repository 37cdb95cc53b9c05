"""Read bed counts from bed ``Location``s and from SANER-style ``MeasureReport``s.

Bed Locations (FHIR R4 Location; STANDARDS.md "Beds"): a bed counts toward the total while its
``status`` is ``active`` (or absent) and is free when, in addition, its ``operationalStatus`` is ``U``
(unoccupied, HL7 v2 table 0116).

MeasureReports, three shapes accepted (each group is read independently):

- the SANER bed-availability spike shape (``data/fhir-examples/Org-1067-measureReports.json``): one
  stratum per combination of ``Location.status``, ``Location.operationalStatus``, ``Location.type``,
  ``Location.partOf`` components, its ``measureScore.value`` the number of beds;
- SANER populations: ``group.population`` with codes ``numbeds`` / ``numTotBeds`` (total),
  ``numBedsOcc`` (occupied) and optionally ``numBedsAvail`` (free), each with ``count``;
- groups coded that way themselves: ``group.code`` ``numbeds`` … with ``measureScore.value``.

Codes are compared case-insensitively and whatever their system, as SANER's own systems moved
between ballots. Units come from the stratum's ``Location.partOf`` or else ``MeasureReport.subject``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import InvalidRequest

Resource = dict[str, Any]
TOTAL_CODES = ("numbeds", "numtotbeds")
OCCUPIED_CODES = ("numbedsocc",)
FREE_CODES = ("numbedsavail", "numbedsavailable")


@dataclass(frozen=True, slots=True)
class BedCount:
    """Free and total (staffed) beds."""

    free: int
    total: int | None


def count_beds(beds: Iterable[Resource]) -> BedCount:
    """Count bed Locations: active ones are staffed; active and ``U`` ones are free."""
    free = total = 0
    for bed in beds:
        if bed.get("status", "active") != "active":
            continue
        total += 1
        status = bed.get("operationalStatus")
        if isinstance(status, dict) and status.get("code") == "U":  # a Coding in R4
            free += 1
    return BedCount(free, total)


def _codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [str(c.get("code")) for c in concept.get("coding") or () if isinstance(c, dict)]


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def _stratum_counts(group: Resource) -> dict[str | None, list[int]]:
    """location → [free, total] from the spike's stratified shape."""
    out: dict[str | None, list[int]] = {}
    for strat in group.get("stratifier") or ():
        for stratum in (strat or {}).get("stratum") or ():
            comps: dict[str, str] = {}
            for comp in (stratum or {}).get("component") or ():
                key = next(iter(_codes(comp.get("code"))), "")
                value = next(iter(_codes(comp.get("value"))), "")
                comps[key] = value
            if "Location.operationalStatus" not in comps and "Location.status" not in comps:
                continue
            count = _number(((stratum or {}).get("measureScore") or {}).get("value"))
            if count is None:
                continue
            partof = comps.get("Location.partOf", "")
            loc = partof.split("/", 1)[1] if partof.startswith("Location/") else None
            slot = out.setdefault(loc, [0, 0])
            if comps.get("Location.status", "active") == "active":
                slot[1] += count
                if comps.get("Location.operationalStatus") == "U":
                    slot[0] += count
    return out


def _coded_counts(group: Resource) -> dict[str, int]:
    """numbeds / numBedsOcc / numBedsAvail from populations or from the group's own code."""
    found: dict[str, int] = {}
    for pop in group.get("population") or ():
        count = _number((pop or {}).get("count"))
        for code in _codes((pop or {}).get("code")):
            if count is not None:
                found.setdefault(code.lower(), count)
    score = _number((group.get("measureScore") or {}).get("value"))
    for code in _codes(group.get("code")):
        if score is not None:
            found.setdefault(code.lower(), score)
    return found


def _as_of(report: Resource) -> float | None:
    for text in (report.get("date"), (report.get("period") or {}).get("end")):
        if isinstance(text, str) and "T" in text:
            try:
                return date_range(text)[0]
            except BadDate:
                continue
    return None


def measure_report_counts(report: Resource) -> tuple[dict[str | None, BedCount], float | None]:
    """(unit Location id or None → bed count, when it was counted) of one MeasureReport."""
    if not isinstance(report, dict) or report.get("resourceType") != "MeasureReport":
        raise InvalidRequest("the body must be a MeasureReport", expression="resourceType")
    subject = (report.get("subject") or {}).get("reference")
    default_loc = (
        subject.split("/", 1)[1]
        if isinstance(subject, str) and subject.startswith("Location/")
        else None
    )
    slots: dict[str | None, list[int]] = {}
    coded: dict[str, int] = {}
    for group in report.get("group") or ():
        if not isinstance(group, dict):
            continue
        strata = _stratum_counts(group)
        for loc, (free, total) in strata.items():
            slot = slots.setdefault(loc or default_loc, [0, 0])
            slot[0] += free
            slot[1] += total
        if not strata:
            for code, value in _coded_counts(group).items():
                coded.setdefault(code, value)
    counts = {loc: BedCount(free, total) for loc, (free, total) in slots.items()}
    if coded:
        total = next((coded[c] for c in TOTAL_CODES if c in coded), None)
        free = next((coded[c] for c in FREE_CODES if c in coded), None)
        occupied = next((coded[c] for c in OCCUPIED_CODES if c in coded), None)
        if free is None and total is not None and occupied is not None:
            free = max(0, total - occupied)
        if free is not None:
            counts[default_loc] = BedCount(free, total)
    if not counts:
        raise InvalidRequest(
            "the MeasureReport carries no bed counts (strata by Location.operationalStatus, or "
            "numbeds / numBedsOcc / numBedsAvail)",
            expression="MeasureReport.group",
        )
    return counts, _as_of(report)
