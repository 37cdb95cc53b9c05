"""The matcher as the placement workflow's ``CandidateFinder`` (``workflow_types.CandidateFinder``).

``IndexFinder(get_index(app))`` returns the best ``n`` units within ``max_km`` for the workflow's
``Criteria``, leaving out units already asked. The ServiceRequest adds what it carries (bed type or
level of care from ``code``, reason codes and the needs they imply, the involuntary hold expiry).
It reads the shared unit index, never the caller's session, and writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.placement import profiles as p
from gateway.placement.match_index import UnitIndex
from gateway.placement.match_request import derived_specialties, from_service_request
from gateway.placement.matching import MatchRequest, match

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.placement.workflow_types import Candidate, Criteria


def request_for(criteria: Criteria, n: int, max_km: float, exclude: frozenset[str]) -> MatchRequest:
    """The MatchRequest for one workflow ask."""
    kw: dict[str, Any] = {}
    reasons: list[str] = []
    if isinstance(criteria.service_request, dict):
        kw, reasons = from_service_request(criteria.service_request)
    level = criteria.level_of_care
    if level in p.BED_TYPES:
        kw["bed_type"] = level
    elif level in p.LEVELS_OF_CARE:
        kw["level_of_care"] = level
    if criteria.age is not None:
        kw["age"] = criteria.age
    if criteria.sex in p.SEXES:
        kw["sex"] = criteria.sex
    if criteria.payer in p.PAYERS:
        kw["payer"] = criteria.payer
    if criteria.near is not None:
        kw["origin"] = criteria.near
        kw["max_distance_km"] = max_km
    needs = [need for need, _code in derived_specialties(reasons)]
    return MatchRequest(
        reasons=tuple(reasons), specialties=frozenset(needs), count=n, exclude=exclude, **kw
    )


class IndexFinder:
    """A ``CandidateFinder`` backed by a :class:`UnitIndex`."""

    def __init__(self, index: UnitIndex, clock: Callable[[], float] = time.time) -> None:
        self.index = index
        self.clock = clock

    def __call__(
        self,
        session: Session,
        criteria: Criteria,
        n: int,
        max_km: float,
        exclude: frozenset[str],
    ) -> list[Candidate]:
        from gateway.placement.workflow_types import Candidate

        result = match(
            self.index.snapshot(), request_for(criteria, n, max_km, exclude), self.clock()
        )
        return [
            Candidate(
                unit_id=hit.record.unit_id,
                org_id=hit.record.org_id or "",
                distance_km=hit.distance_km,
                census_stale=hit.stale,
            )
            for hit in result.hits
        ]
