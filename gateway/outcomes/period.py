"""The reporting period (``from``/``to``) and its calendar months, in the program's time zone.

``from`` and ``to`` are FHIR dates (``2025``, ``2025-03``, ``2025-03-01``: local to the program) or
date-times with a zone (``2025-03-01T08:00:00-06:00``); both ends are inclusive at their precision,
so ``from=2025-01&to=2025-03`` is the first quarter. Without ``to`` the period ends now; without
``from`` it starts on the first day of the eleventh month before the end's month (twelve months).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import InvalidRequest

MAX_MONTHS = 60
_LOCAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True, slots=True)
class Month:
    """One calendar month of the period (clipped to the period): ``[start, end)`` epoch seconds."""

    label: str  # YYYY-MM
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in epoch seconds, its months, and the labels of its inclusive bounds."""

    start: float
    end: float
    months: tuple[Month, ...]
    zone: ZoneInfo

    @property
    def days(self) -> float:
        return (self.end - self.start) / 86400


def _next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def _local_range(text: str, zone: ZoneInfo) -> tuple[float, float] | None:
    """A date-only value as ``[start, end)`` of local time; None when it is not date-only."""
    match = _LOCAL_DATE.match(text)
    if match is None:
        return None
    year, month, day = (int(g) if g else None for g in match.groups())
    try:
        if month is None:
            low = datetime(year or 1, 1, 1, tzinfo=zone)
            high = low.replace(year=low.year + 1)
        elif day is None:
            low = datetime(year or 1, month, 1, tzinfo=zone)
            high = _next_month(low)
        else:
            low = datetime(year or 1, month, day, tzinfo=zone)
            high = (low + timedelta(days=1)).replace(hour=0)
    except (ValueError, OverflowError):
        raise BadDate(text) from None
    return low.timestamp(), high.timestamp()


def _bound(value: str | None, name: str, zone: ZoneInfo) -> tuple[float, float] | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise InvalidRequest(f"{name} is empty; give a date such as 2025-03-01", expression=name)
    try:
        local = _local_range(text, zone)
        if local is not None:
            return local
        if not re.search(r"(Z|[+-]\d{2}:\d{2})$", text):
            raise BadDate(text)
        low, high = date_range(text)
    except BadDate:
        raise InvalidRequest(
            f"{name} must be a date (2025-03-01, 2025-03 or 2025) or a date-time with a zone "
            "(2025-03-01T08:00:00-06:00)",
            expression=name,
        ) from None
    return low, high + 1e-6


def months_of(start: float, end: float, zone: ZoneInfo) -> tuple[Month, ...]:
    """The calendar months (local to ``zone``) that ``[start, end)`` touches, clipped to it."""
    out = []
    cursor = datetime.fromtimestamp(start, zone).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    while cursor.timestamp() < end:
        following = _next_month(cursor)
        out.append(
            Month(
                f"{cursor.year:04d}-{cursor.month:02d}",
                max(start, cursor.timestamp()),
                min(end, following.timestamp()),
            )
        )
        cursor = following
    return tuple(out)


def parse_period(
    since: str | None, until: str | None, zone: ZoneInfo, now: float | None = None
) -> Period:
    """The period asked for; 400 ``OperationOutcome`` naming the parameter when it is wrong."""
    now = time.time() if now is None else now
    first = _bound(since, "from", zone)
    last = _bound(until, "to", zone)
    end = last[1] if last else now
    if first:
        start = first[0]
    else:
        local_end = datetime.fromtimestamp(end - 1e-6, zone)
        cursor = local_end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        for _ in range(11):
            cursor = (cursor - timedelta(days=1)).replace(day=1)
        start = cursor.timestamp()
    if start >= end:
        raise InvalidRequest("from must be before to", expression="from")
    months = months_of(start, end, zone)
    if len(months) > MAX_MONTHS:
        raise InvalidRequest(
            f"the period covers {len(months)} months; ask for at most {MAX_MONTHS}",
            expression="to",
            code="too-costly",
        )
    return Period(start, end, months, zone)
