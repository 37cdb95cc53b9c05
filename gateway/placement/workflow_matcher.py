"""The facility matcher (``matching.match`` over the app's unit index) as the workflow's finder.

Wire it with ``install(app, candidates=MatcherCandidates(app))``. The ServiceRequest is read the way
``$match`` reads one (bed type / level of care, reasons, involuntary-hold deadline); the workflow adds
the patient's age and sex, where the patient is, the radius of this round and the units already
asked. The matcher's payer filter takes its own payer categories, so the payer is passed only when
the Coverage names one of them.

The unit index refreshes itself in a transaction of its own. On PostgreSQL that can happen while the
workflow's transaction is open; on SQLite (one writer at a time) it cannot, so there the snapshot is
taken by :meth:`MatcherCandidates.prepare`, which the workflow's entry points call before they open
their unit of work (:func:`prepare_candidates`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from sqlalchemy.orm import Session

from gateway.placement.workflow_types import Candidate, Criteria, PlacementContext


class MatcherCandidates:
    """A :class:`~gateway.placement.workflow_types.CandidateFinder` over the app's unit index."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._snap: Any = None
        self._lock = threading.Lock()

    def _index(self) -> Any:
        from gateway.placement.match_endpoints import get_index

        return get_index(self.app)

    def prepare(self) -> None:
        """Refresh the snapshot now (outside any open transaction)."""
        snap = self._index().snapshot()
        with self._lock:
            self._snap = snap

    def _snapshot(self, session: Session) -> Any:
        if session.get_bind().dialect.name != "sqlite":
            return self._index().snapshot()
        with self._lock:
            snap = self._snap
        if snap is None:
            raise RuntimeError("on SQLite, call prepare_candidates() before the unit of work")
        return snap

    def __call__(
        self, session: Session, criteria: Criteria, n: int, max_km: float, exclude: frozenset[str]
    ) -> list[Candidate]:
        from gateway.placement import profiles
        from gateway.placement.match_request import read_request
        from gateway.placement.matching import match

        now = time.time()
        base = read_request(criteria.service_request, [], now)
        payer = (criteria.payer or "").strip().lower()
        request = dataclasses.replace(
            base,
            age=criteria.age if criteria.age is not None else base.age,
            sex=criteria.sex or base.sex,
            payer=payer if payer in profiles.PAYERS else base.payer,
            origin=criteria.near or base.origin,
            max_distance_km=max_km,
            count=n,
            exclude=frozenset(exclude),
            explain=False,
        )
        result = match(self._snapshot(session), request, now)
        return [
            Candidate(hit.record.unit_id, hit.record.org_id, hit.distance_km, hit.stale)
            for hit in result.hits
            if hit.record.org_id
        ]


def prepare_candidates(ctx: PlacementContext) -> None:
    """Let the finder refresh what it reads before a unit of work opens (no-op for most finders)."""
    prepare = getattr(ctx.candidates, "prepare", None)
    if callable(prepare):
        prepare()
