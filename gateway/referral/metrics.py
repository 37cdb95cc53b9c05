"""Referral numbers for the program dashboard (``GET /referrals/metrics``), JSON or CSV.

For the referrals made in ``[start, end)``, overall, by service type and by referring agency:

* ``referrals``; ``accepted`` (answered yes, whatever came after); ``rejected``; ``completed``;
  ``seen``; ``overdue`` (still unanswered past the time limit at ``now``);
* ``acceptance_rate`` = accepted / (accepted + rejected); ``completion_rate`` = completed / accepted;
* ``median_response_minutes``: referral to acceptance or rejection;
* ``median_first_contact_hours``: referral to first contact (the appointment at which the person
  was seen);
* ``seen_within_7_days_rate``: the follow-up measure (after HEDIS FUH), per person: of the people
  with a referral in the window whose crisis is at least 7 days before ``now`` (or who were already
  seen), the share seen within 7 days of their first crisis in the window.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from statistics import median
from typing import Any

from sqlalchemy.orm import Session

from gateway.db.tables_referral import ReferralRow
from gateway.referral.repository import ReferralRepository

SEVEN_DAYS = 7 * 86400.0
COLUMNS = (
    "referrals",
    "accepted",
    "rejected",
    "completed",
    "seen",
    "overdue",
    "acceptance_rate",
    "completion_rate",
    "median_response_minutes",
    "median_first_contact_hours",
    "people",
    "people_seen_within_7_days",
    "seen_within_7_days_rate",
)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(values: list[float]) -> float | None:
    return round(median(values), 2) if values else None


def is_accepted(row: ReferralRow) -> bool:
    return row.responded_at is not None and row.state != "rejected"


def is_overdue(row: ReferralRow, now: float) -> bool:
    return row.state in ("requested", "received") and row.respond_by <= now


def follow_up(rows: Iterable[ReferralRow], now: float) -> tuple[int, int]:
    """(people counted, people seen within 7 days of their first crisis in the window)."""
    by_person: dict[str, list[ReferralRow]] = defaultdict(list)
    for row in rows:
        if row.patient_id:
            by_person[row.patient_id].append(row)
    counted = seen = 0
    for items in by_person.values():
        crisis = min(r.crisis_at if r.crisis_at is not None else r.created_at for r in items)
        in_time = any(
            r.seen_at is not None and crisis <= r.seen_at <= crisis + SEVEN_DAYS for r in items
        )
        if in_time or crisis + SEVEN_DAYS <= now:
            counted += 1
            seen += int(in_time)
    return counted, seen


def summarise(rows: list[ReferralRow], now: float) -> dict[str, Any]:
    accepted = [r for r in rows if is_accepted(r)]
    rejected = sum(1 for r in rows if r.state == "rejected")
    completed = sum(1 for r in rows if r.state == "completed")
    people, seen7 = follow_up(rows, now)
    return {
        "referrals": len(rows),
        "accepted": len(accepted),
        "rejected": rejected,
        "completed": completed,
        "seen": sum(1 for r in rows if r.seen_at is not None),
        "overdue": sum(1 for r in rows if is_overdue(r, now)),
        "acceptance_rate": _rate(len(accepted), len(accepted) + rejected),
        "completion_rate": _rate(completed, len(accepted)),
        "median_response_minutes": _median(
            [(r.responded_at - r.created_at) / 60 for r in rows if r.responded_at is not None]
        ),
        "median_first_contact_hours": _median(
            [(r.seen_at - r.created_at) / 3600 for r in rows if r.seen_at is not None]
        ),
        "people": people,
        "people_seen_within_7_days": seen7,
        "seen_within_7_days_rate": _rate(seen7, people),
    }


def referral_metrics(session: Session, start: float, end: float, now: float) -> dict[str, Any]:
    """The numbers for referrals made in ``[start, end)``, as of ``now``."""
    return metrics_of(ReferralRepository(session).between(start, end), start, end, now)


def metrics_of(rows: list[ReferralRow], start: float, end: float, now: float) -> dict[str, Any]:
    """The numbers for ``rows`` (the referrals made in ``[start, end)``), as of ``now``: for a
    caller that already holds the rows (the program dashboard, month by month)."""
    by_type: dict[str, list[ReferralRow]] = defaultdict(list)
    by_agency: dict[str, list[ReferralRow]] = defaultdict(list)
    for row in rows:
        by_type[row.service_type].append(row)
        by_agency[row.referrer].append(row)
    return {
        "from": start,
        "to": end,
        "as_of": now,
        "overall": summarise(rows, now),
        "by_type": {k: summarise(v, now) for k, v in sorted(by_type.items())},
        "by_source_agency": {k: summarise(v, now) for k, v in sorted(by_agency.items())},
    }


def metrics_csv(numbers: dict[str, Any]) -> str:
    """One row per group: ``group`` (overall, type, source-agency), ``key``, then the columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("group", "key", *COLUMNS))
    groups = [("overall", "all", numbers["overall"])]
    groups += [("type", k, v) for k, v in numbers["by_type"].items()]
    groups += [("source-agency", k, v) for k, v in numbers["by_source_agency"].items()]
    for group, key, values in groups:
        writer.writerow((group, key, *("" if values[c] is None else values[c] for c in COLUMNS)))
    return out.getvalue()
