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
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?"
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
            low, step = datetime(year, 1, 1, tzinfo=tz), None
        elif g["d"] is None:
            month = int(g["m"])
            low = datetime(year, month, 1, tzinfo=tz)
            step = timedelta(days=calendar.monthrange(year, month)[1])
        elif g["H"] is None:
            low, step = datetime(year, int(g["m"]), int(g["d"]), tzinfo=tz), timedelta(days=1)
        else:
            digits = (g["f"] or ".")[1:7]
            low = datetime(
                year,
                int(g["m"]),
                int(g["d"]),
                int(g["H"]),
                int(g["M"]),
                int(g["S"] or 0),
                int(digits.ljust(6, "0")) if digits else 0,
                tzinfo=tz,
            )
            # The precision written is the range: seconds, or as many fraction digits as sent.
            step = (
                timedelta(minutes=1)
                if g["S"] is None
                else timedelta(microseconds=10 ** (6 - len(digits)))
            )
    except ValueError as exc:  # e.g. month 13, February 30th, an offset of 24 hours or more
        raise BadDate(text) from exc
    try:
        high = low.replace(year=year + 1) if step is None else low + step
    except (OverflowError, ValueError):  # the range runs past the year 9999
        high = None
    low_ts = low.timestamp()
    high_ts = high.timestamp() - 1e-6 if high is not None else max(MAX_TS, low_ts)
    return low_ts, high_ts


def instant_now(after: float | None = None) -> tuple[str, float]:
    """The current time as a FHIR instant (millisecond precision, UTC) and as epoch seconds.

    ``after``: the previous version's time; the result is at least a millisecond later, so the
    versions of one resource never share a ``lastUpdated`` even when written in the same tick.
    """
    now = datetime.now(UTC)
    # Truncated to what meta.lastUpdated shows, so searching for that instant finds the resource.
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    if after is not None and now.timestamp() <= after:
        later = datetime.fromtimestamp(after, UTC) + timedelta(milliseconds=1)
        now = later.replace(microsecond=later.microsecond // 1000 * 1000)
    text = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return text, now.timestamp()


def http_date(ts: float) -> str:
    """RFC 9110 IMF-fixdate, for ``Last-Modified``."""
    from email.utils import formatdate

    return formatdate(ts, usegmt=True)
