"""Placement numbers over a period: ``GET /placement/metrics?from=&to=`` (JSON or CSV).

Counted over the requests *created* in the period (``from`` ≤ created ≤ ``to``), whatever happened
to them since. Durations are seconds from the request's creation; ``median`` is the middle value
(mean of the two middle ones), ``p90`` the 90th percentile by linear interpolation between closest
ranks (numpy's default). Declines are the offers of those requests that facilities rejected.
Hardest-to-place profiles (level of care, age band, sex, payer) are ordered by placement rate (lowest
first), then declines (most first). Stale-census share: the share of asks that went to a unit whose
bed report was overdue when it was matched.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.tables_placement import PlacementOfferRow, PlacementRequestRow

HARDEST_LIMIT = 10


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "median": statistics.median(values) if values else None,
        "p90": percentile(values, 90),
    }


def _durations(rows: Sequence[PlacementRequestRow], attr: str) -> list[float]:
    out = []
    for row in rows:
        value = getattr(row, attr)
        if value is not None:
            out.append(float(value) - row.created_at)
    return out


def _profile(row: PlacementRequestRow) -> str:
    parts = (row.level_of_care, row.age_band, row.sex, row.payer)
    return "|".join(p or "unknown" for p in parts)


def placement_metrics(session: Session, start: float, end: float) -> dict[str, Any]:
    """All the numbers for requests created between ``start`` and ``end`` (epoch seconds)."""
    rows = list(
        session.execute(
            select(PlacementRequestRow).where(
                PlacementRequestRow.created_at >= start, PlacementRequestRow.created_at <= end
            )
        ).scalars()
    )
    pks = [r.pk for r in rows]
    offers: list[PlacementOfferRow] = []
    for i in range(0, len(pks), 500):
        offers.extend(
            session.execute(
                select(PlacementOfferRow).where(
                    PlacementOfferRow.request_pk.in_(pks[i : i + 500])  # type: ignore[attr-defined]
                )
            ).scalars()
        )
    declined = [o for o in offers if o.state == "rejected"]
    by_reason = Counter(o.reason or "unknown" for o in declined)
    by_facility = Counter(o.org_id for o in declined)
    return {
        "from": start,
        "to": end,
        "requests": len(rows),
        "placements": sum(1 for r in rows if r.accepted_at is not None),
        "admitted": sum(1 for r in rows if r.completed_at is not None),
        "cancelled": sum(1 for r in rows if r.phase == "cancelled"),
        "failed": sum(1 for r in rows if r.phase == "failed"),
        "asks": len(offers),
        "timeToFirstResponse": summary(_durations(rows, "first_response_at")),
        "timeToAcceptance": summary(_durations(rows, "accepted_at")),
        "timeToArrival": summary(_durations(rows, "arrived_at")),
        "declinesByReason": dict(sorted(by_reason.items())),
        "declinesByFacility": dict(sorted(by_facility.items())),
        "hardestToPlace": _hardest(rows, declined),
        "staleCensusShare": (
            sum(1 for o in offers if o.census_stale) / len(offers) if offers else None
        ),
    }


def _hardest(
    rows: Sequence[PlacementRequestRow], declined: Sequence[PlacementOfferRow]
) -> list[dict[str, Any]]:
    groups: dict[str, list[PlacementRequestRow]] = defaultdict(list)
    for row in rows:
        groups[_profile(row)].append(row)
    profile_of_pk = {row.pk: _profile(row) for row in rows}
    declines = Counter(profile_of_pk[o.request_pk] for o in declined)
    out = []
    for key, members in groups.items():
        placed = sum(1 for r in members if r.accepted_at is not None)
        out.append(
            {
                "profile": key,
                "requests": len(members),
                "placements": placed,
                "placementRate": placed / len(members),
                "declines": declines[key],
                "medianTimeToAcceptance": summary(_durations(members, "accepted_at"))["median"],
            }
        )
    out.sort(key=lambda p: (p["placementRate"], -p["declines"], -p["requests"], p["profile"]))
    return out[:HARDEST_LIMIT]


def metrics_csv(metrics: dict[str, Any]) -> str:
    """The same numbers as ``metric,key,value`` rows."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["metric", "key", "value"])
    for name in ("requests", "placements", "admitted", "cancelled", "failed", "asks"):
        out.writerow([name, "", metrics[name]])
    for name in ("timeToFirstResponse", "timeToAcceptance", "timeToArrival"):
        for stat in ("count", "median", "p90"):
            out.writerow([f"{name}.{stat}", "", _cell(metrics[name][stat])])
    for reason, count in metrics["declinesByReason"].items():
        out.writerow(["declinesByReason", reason, count])
    for org, count in metrics["declinesByFacility"].items():
        out.writerow(["declinesByFacility", org, count])
    for profile in metrics["hardestToPlace"]:
        for stat in ("requests", "placements", "placementRate", "declines"):
            out.writerow([f"hardestToPlace.{stat}", profile["profile"], _cell(profile[stat])])
    out.writerow(["staleCensusShare", "", _cell(metrics["staleCensusShare"])])
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
