"""FHIR date/dateTime/instant values as closed ranges of epoch seconds.

A value's precision is its range (FHIR R4 search §3.1.1.4.5/§2.1.0.10): ``2020`` covers the whole year,
``2020-03-01T10:00:00Z`` covers one second. Searches compare ranges, so both stored values and query
values pass through :func:`date_range`.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)

MIN_TS = -62135596800.0  # 0001-01-01
MAX_TS = 253402300799.0  # 9999-12-31T23:59:59


class BadDate(ValueError):
    """The text is not a FHIR date, dateTime or instant."""


def _tz(text: str | None) -> timezone:
    if not text or text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def date_range(text: str) -> tuple[float, float]:
    """Return ``(low, high)`` epoch seconds covered by ``text`` at its precision."""
    match = _DATE_RE.match(text.strip())
    if not match:
        raise BadDate(text)
    g = match.groupdict()
    try:
        year = int(g["y"])
        tz = _tz(g["tz"])
        if g["m"] is None:
            low = datetime(year, 1, 1, tzinfo=tz)
            high = datetime(year + 1, 1, 1, tzinfo=tz) if year < 9999 else None
        elif g["d"] is None:
            month = int(g["m"])
            low = datetime(year, month, 1, tzinfo=tz)
            days = calendar.monthrange(year, month)[1]
            high = low + timedelta(days=days)
        elif g["H"] is None:
            low = datetime(year, int(g["m"]), int(g["d"]), tzinfo=tz)
            high = low + timedelta(days=1)
        else:
            low = datetime(
                year,
                int(g["m"]),
                int(g["d"]),
                int(g["H"]),
                int(g["M"] or 0),
                int(g["S"] or 0),
                int(float(g["f"]) * 1_000_000) if g["f"] else 0,
                tzinfo=tz,
            )
            step = (
                timedelta(minutes=1)
                if g["S"] is None
                else timedelta(microseconds=1)
                if g["f"]
                else timedelta(seconds=1)
            )
            high = low + step
    except ValueError as exc:  # e.g. month 13, February 30th
        raise BadDate(text) from exc
    low_ts = low.timestamp()
    high_ts = high.timestamp() - 1e-6 if high is not None else MAX_TS
    return low_ts, high_ts


def instant_now() -> tuple[str, float]:
    """The current time as a FHIR instant (millisecond precision, UTC) and as epoch seconds."""
    now = datetime.now(UTC)
    text = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return text, now.timestamp()


def http_date(ts: float) -> str:
    """RFC 9110 IMF-fixdate, for ``Last-Modified``."""
    from email.utils import formatdate

    return formatdate(ts, usegmt=True)
