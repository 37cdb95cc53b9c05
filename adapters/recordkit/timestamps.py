"""FHIR R4 ``instant``, ``dateTime`` and ``date`` values (R4 datatypes.html) and Period ordering.

The schemas check the lexical form; these helpers check that the value is a real calendar time and
that periods run forwards (invariant per-1: "If present, start SHALL have a lower value than end").
"""

from __future__ import annotations

import re
from datetime import date, datetime

from adapters.base import AdapterError, Location

INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_instant(value: str, where: Location) -> datetime:
    """An instant with seconds and a zone (R4 ``instant``) as an aware datetime."""
    if not INSTANT.match(value):
        raise AdapterError("must be a date-time with seconds and a time zone", where)
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python takes at most 6 fractional digits
        head, rest = text.split(".", 1)
        digits = re.match(r"\d+", rest)
        frac = digits.group(0) if digits else ""
        text = f"{head}.{frac[:6].ljust(6, '0')}{rest[len(frac) :]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise AdapterError("is not a real calendar date and time", where) from None


def parse_date(value: str, where: Location) -> date:
    """A full date (R4 ``date`` at day precision)."""
    if not DATE.match(value):
        raise AdapterError("must be a date (YYYY-MM-DD)", where)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AdapterError("is not a real calendar date", where) from None


def require_order(earlier: object, later: object, message: str, where: Location) -> None:
    """Refuse when ``later`` comes before ``earlier`` (both datetimes or both dates; ``None`` skips)."""
    if earlier is not None and later is not None and later < earlier:  # type: ignore[operator]
        raise AdapterError(message, where)
