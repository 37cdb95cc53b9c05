"""Facilities' recent response times, from the history of the placement Tasks they were sent.

Each facility asked gets a child ``Task`` (``partOf`` the request's Task, ``owner`` the facility
``Organization``; STANDARDS.md "Referral and placement workflow"). Its response time is from the
Task's first version (the ask) to its first version whose status is an answer (accepted, rejected,
ready, in-progress, on-hold, failed, completed). The matcher ranks by each facility's median over
the last 30 days.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

import orjson

ANSWERED = frozenset(
    {"accepted", "rejected", "ready", "in-progress", "on-hold", "failed", "completed"}
)
WINDOW_SECONDS = 30 * 86400.0


def _owner(doc: dict[str, object]) -> str | None:
    owner = doc.get("owner")
    ref = owner.get("reference") if isinstance(owner, dict) else None
    if isinstance(ref, str) and ref.startswith("Organization/"):
        return ref.split("/")[1]
    return None


def response_samples(rows: Iterable[tuple[str, int, float, str | None]]) -> dict[str, list[float]]:
    """Seconds to answer, per facility, from (task id, version, ts, content) rows in order.

    Tasks whose first version is not in ``rows`` (asked before the window) are left out.
    """
    out: dict[str, list[float]] = {}
    task: str | None = None
    asked: float | None = None
    owner: str | None = None
    done = False
    for rid, version, ts, content in rows:
        if rid != task:
            task, asked, owner, done = rid, None, None, False
            if version != 1 or content is None:
                done = True
                continue
            doc = orjson.loads(content)
            if not doc.get("partOf") or _owner(doc) is None:
                done = True
                continue
            asked, owner = ts, _owner(doc)
            if doc.get("status") not in ANSWERED:
                continue
        if done or content is None or asked is None or owner is None:
            continue
        status = orjson.loads(content).get("status")
        if status in ANSWERED:
            out.setdefault(owner, []).append(max(0.0, ts - asked))
            done = True
    return out


def median_response(rows: Iterable[tuple[str, int, float, str | None]]) -> dict[str, float]:
    """Median seconds to answer per facility (only facilities with at least one answer)."""
    return {org: statistics.median(s) for org, s in response_samples(rows).items() if s}
