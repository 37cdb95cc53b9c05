"""What the placement workflow is given: a clock, a way to find candidate units, its settings.

The matcher is not part of the workflow. Anything with the :class:`CandidateFinder` signature can be
plugged in (the facility matcher in ``gateway/placement/matching*.py`` once it lands; a fixed list in
tests). Times are epoch seconds from an injected :class:`Clock`, so timers are testable without
sleeping.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from gateway.placement.workflow_sharing import Reducer, reduce_service_request


class Clock(Protocol):
    """The current time in epoch seconds."""

    def now(self) -> float: ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()


@dataclass
class ManualClock:
    """A clock that only moves when told to (tests, simulations)."""

    t: float = 1_750_000_000.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


@dataclass(frozen=True, slots=True)
class Criteria:
    """What the matcher needs to know about a request (derived from the ServiceRequest)."""

    service_request: dict[str, Any]
    level_of_care: str | None = None
    age: int | None = None
    sex: str | None = None
    payer: str | None = None
    near: tuple[float, float] | None = None  # (latitude, longitude) of the patient


@dataclass(frozen=True, slots=True)
class Candidate:
    """One unit the matcher proposes: the HealthcareService and the Organization that owns it."""

    unit_id: str
    org_id: str
    distance_km: float | None = None
    census_stale: bool = False  # the unit's bed report was overdue when it was matched


class CandidateFinder(Protocol):
    """The best ``n`` units within ``max_km`` for ``criteria``, excluding units in ``exclude``.

    Called inside the request's transaction (``session``) with the units already asked for this
    request in ``exclude``; returns them best first. Must not write.
    """

    def __call__(
        self,
        session: Session,
        criteria: Criteria,
        n: int,
        max_km: float,
        exclude: frozenset[str],
    ) -> list[Candidate]: ...


def no_candidates(
    session: Session, criteria: Criteria, n: int, max_km: float, exclude: frozenset[str]
) -> list[Candidate]:
    """The finder used until a matcher is wired: asks nobody (requests wait for escalation)."""
    return []


DEFAULT_RADII_KM = (50.0, 100.0, 200.0, 400.0)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(frozen=True, slots=True)
class WorkflowConfig:
    """Timers and fan-out; ``from_env`` reads ``GATEWAY_PLACEMENT_*``."""

    top_n: int = 3
    response_seconds: float = 30 * 60  # no acceptance this long after an ask → ask the next
    radii_km: tuple[float, ...] = DEFAULT_RADII_KM  # escalation widens one step at a time
    bed_hold_seconds: float = 4 * 3600  # reserved bed released if the patient has not arrived
    hold_alert_seconds: float = 2 * 3600  # alert this long before an involuntary hold expires

    @classmethod
    def from_env(cls) -> WorkflowConfig:
        radii = os.environ.get("GATEWAY_PLACEMENT_RADII_KM")
        return cls(
            top_n=int(_env_float("GATEWAY_PLACEMENT_TOP_N", 3)),
            response_seconds=60 * _env_float("GATEWAY_PLACEMENT_RESPONSE_MINUTES", 30),
            radii_km=tuple(float(r) for r in radii.split(",")) if radii else DEFAULT_RADII_KM,
            bed_hold_seconds=60 * _env_float("GATEWAY_PLACEMENT_BED_HOLD_MINUTES", 240),
            hold_alert_seconds=60 * _env_float("GATEWAY_PLACEMENT_HOLD_ALERT_MINUTES", 120),
        )

    def radius(self, step: int) -> float:
        return self.radii_km[min(step, len(self.radii_km) - 1)]


@dataclass(slots=True)
class PlacementContext:
    """Everything the workflow needs besides the database session (kept on ``app.state``)."""

    fhir_base: str
    candidates: CandidateFinder = no_candidates
    config: WorkflowConfig = field(default_factory=WorkflowConfig)
    clock: Clock = field(default_factory=SystemClock)
    labeller: Any = None  # the app's DS4P labeller, applied to every resource written
    reduce: Reducer = reduce_service_request  # what a facility sees before it accepts
