"""The directory of services for referrals: ``HealthcareService`` resources read as teams.

A team is a HealthcareService with a referral service type on ``type`` (``SERVICE_TYPE_SYSTEM``),
``providedBy`` its organisation, hours in ``availableTime`` (days of week, start and end times,
``allDay``; a slot whose end is before its start runs past midnight) and ``notAvailable`` periods,
in the IANA zone of the core ``timezone`` extension (else the gateway's default zone). Eligibility
reuses the placement directory's documented criteria extensions (ages, sexes, payers accepted; see
docs/placement-directory.md). A service that states no hours is always on duty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.fhir.dates import BadDate, date_range
from gateway.placement import profiles as p
from gateway.placement.directory import UnitCriteria, read_criteria
from gateway.placement.workflow_codes import code_in, extension_value, ref_id
from gateway.referral import codes

Resource = dict[str, Any]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOKAHEAD_DAYS = 15


@dataclass(frozen=True, slots=True)
class Slot:
    """One weekly opening: the days it starts on, start and end (end <= start: past midnight)."""

    days: frozenset[int]
    start: time
    end: time
    all_day: bool = False


@dataclass(frozen=True, slots=True)
class Team:
    """A HealthcareService as the router sees it."""

    service_id: str
    org_id: str
    types: frozenset[str]
    slots: tuple[Slot, ...]
    closed: tuple[tuple[float, float], ...]
    zone: ZoneInfo
    criteria: UnitCriteria
    active: bool = True

    def on_duty(self, t: float) -> bool:
        return self.next_on_duty(t) == t

    def next_on_duty(self, t: float) -> float:
        """``t`` when the team is on duty at ``t``, else the start of its next shift."""
        for _ in range(50):  # each pass skips one closure; a loop means "never open"
            start = self._next_slot(t)
            blocked = next((hi for lo, hi in self.closed if lo <= start < hi), None)
            if blocked is None:
                return start
            t = blocked
        return t

    def _next_slot(self, t: float) -> float:
        if not self.slots:
            return t
        first = datetime.fromtimestamp(t, self.zone).date() - timedelta(days=1)
        best: float | None = None
        for offset in range(LOOKAHEAD_DAYS):
            day = first + timedelta(days=offset)
            for slot in self.slots:
                if day.weekday() not in slot.days:
                    continue
                lo = datetime.combine(day, time(0) if slot.all_day else slot.start, self.zone)
                hi = (
                    lo + timedelta(days=1)
                    if slot.all_day
                    else datetime.combine(day, slot.end, self.zone)
                )
                if hi <= lo:
                    hi += timedelta(days=1)
                if lo.timestamp() <= t < hi.timestamp():
                    return t
                if lo.timestamp() > t and (best is None or lo.timestamp() < best):
                    best = lo.timestamp()
        return best if best is not None else t

    def eligible(self, age: int | None, sex: str | None, payer: str | None) -> bool:
        """Whether the person meets the team's stated criteria (unstated: no restriction)."""
        c = self.criteria
        if c.age_stated and age is not None:
            low, high = c.effective_ages
            if age < low or (high is not None and age > high):
                return False
        if c.sexes is not None and sex is not None and sex not in c.sexes:
            return False
        return not (c.payers is not None and payer is not None and payer not in c.payers)


def _time(text: Any, default: time) -> time:
    try:
        return time.fromisoformat(str(text)) if text else default
    except ValueError:
        return default


def _slots(doc: Resource) -> tuple[Slot, ...]:
    out = []
    for item in doc.get("availableTime") or []:
        if not isinstance(item, dict):
            continue
        days = frozenset(DAYS.index(d) for d in item.get("daysOfWeek") or DAYS if d in DAYS)
        out.append(
            Slot(
                days=days,
                start=_time(item.get("availableStartTime"), time(0)),
                end=_time(item.get("availableEndTime"), time(0)),
                all_day=bool(item.get("allDay")),
            )
        )
    return tuple(out)


def _closed(doc: Resource) -> tuple[tuple[float, float], ...]:
    out = []
    for item in doc.get("notAvailable") or []:
        during = (item or {}).get("during") or {}
        try:
            lo = date_range(during["start"])[0] if during.get("start") else float("-inf")
            end = str(during.get("end") or "")
            # a date-time ends at that instant; a bare date closes the whole day
            hi = date_range(end)[0 if "T" in end else 1] if end else float("inf")
        except BadDate:
            continue
        out.append((lo, hi))
    return tuple(out)


def zone_of(doc: Resource, default: str) -> ZoneInfo:
    name = extension_value(doc, codes.TIMEZONE_EXT) or default
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def team_of(doc: Resource, default_zone: str) -> Team | None:
    """The team a HealthcareService describes, None without a providing organisation."""
    org = ref_id(doc.get("providedBy"), "Organization")
    if org is None or not doc.get("id"):
        return None
    types = frozenset(
        code
        for concept in doc.get("type") or []
        if (code := code_in(concept, codes.SERVICE_TYPE_SYSTEM)) in codes.SERVICE_TYPES
    )
    return Team(
        service_id=str(doc["id"]),
        org_id=org,
        types=types,
        slots=_slots(doc),
        closed=_closed(doc),
        zone=zone_of(doc, default_zone),
        criteria=read_criteria(doc),
        active=doc.get("active", True) is not False,
    )


def payer_category(coverages: list[Resource]) -> str | None:
    """The payer category (placement payer codes) of the first coverage that shows one."""
    for coverage in coverages:
        code = code_in(coverage.get("type"), p.PAYER_SYSTEM)
        if code:
            return code
        names = " ".join(
            str(x.get("display", "")) for x in coverage.get("payor") or [] if isinstance(x, dict)
        ).lower()
        for key in p.PAYERS:
            if key in names:
                return key
    return None
