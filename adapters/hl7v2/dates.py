"""HL7 v2 dates and times (DT, DTM and the older TS; HL7 v2.5.1 §2.A.21-2.A.22, v2.8 §2.A.22) to FHIR.

An HL7 time stamp is ``YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]``. FHIR ``date`` keeps the
calendar part at the precision sent; FHIR ``dateTime`` needs seconds and a UTC offset once a time is
given, and ``instant`` always needs both. Missing minutes or seconds are written as zero (the precision
was the sender's choice); a missing offset is the sender's local time, so the message's own offset
(from MSH-7) is used, and UTC when MSH-7 has none either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_DTM = re.compile(
    r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?"
    r"(?:([+-])(\d{2})(\d{2}))?",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A checked HL7 date/time: the parts sent, and the UTC offset in minutes if one was sent."""

    year: int
    month: int | None
    day: int | None
    hour: int | None
    minute: int | None
    second: int | None
    fraction: str
    offset: int | None

    def date(self) -> str:
        """FHIR ``date``: year, year-month or full date, as precise as the source."""
        out = f"{self.year:04d}"
        if self.month is not None:
            out += f"-{self.month:02d}"
            if self.day is not None:
                out += f"-{self.day:02d}"
        return out

    def date_time(self, default_offset: int) -> str:
        """FHIR ``dateTime``: a date alone stays a date; a time gets seconds and an offset."""
        if self.hour is None:
            return self.date()
        return self._full(default_offset)

    def instant(self, default_offset: int) -> str:
        """FHIR ``instant``: always to the second, with an offset (midnight when no time was sent)."""
        return self._full(default_offset)

    def _full(self, default_offset: int) -> str:
        frac = f".{self.fraction}" if self.fraction else ""
        offset = self.offset if self.offset is not None else default_offset
        return (
            f"{self.year:04d}-{self.month or 1:02d}-{self.day or 1:02d}"
            f"T{self.hour or 0:02d}:{self.minute or 0:02d}:{self.second or 0:02d}{frac}"
            f"{format_offset(offset)}"
        )


def format_offset(minutes: int) -> str:
    """A UTC offset in minutes as FHIR writes it (``+02:15``)."""
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_timestamp(text: str) -> Timestamp:
    """Read an HL7 DTM/TS value; raise ``ValueError`` (without echoing it) if it is not a real time."""
    m = _DTM.fullmatch(text)
    if m is None:
        raise ValueError("not an HL7 date/time")
    year, month, day, hour, minute, second, fraction, sign, oh, om = m.groups()
    y = int(year)
    mo, d, h, mi, s = (
        int(p) if p is not None else None for p in (month, day, hour, minute, second)
    )
    if y < 1:
        raise ValueError("year out of range")
    # datetime() checks the calendar (month 13, 30 February) and the clock (hour 24, minute 60).
    datetime(y, mo or 1, d or 1, h or 0, mi or 0, s or 0)
    offset = None
    if sign is not None:
        hours, mins = int(oh), int(om)
        if mins > 59 or hours > 14 or (hours == 14 and mins):
            raise ValueError("UTC offset out of range")
        offset = (hours * 60 + mins) * (-1 if sign == "-" else 1)
    return Timestamp(y, mo, d, h, mi, s, fraction or "", offset)
