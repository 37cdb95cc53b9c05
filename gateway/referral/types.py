"""What the referral workflow is given: a clock, its settings, the app's labeller.

The clock is the placement workflow's (:mod:`gateway.placement.workflow_types`): epoch seconds from
an injected :class:`Clock`, so deadlines and shifts are tested without sleeping.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from gateway.placement.workflow_types import Clock, SystemClock
from gateway.referral import codes


def _minutes(name: str, default_seconds: float) -> float:
    raw = os.environ.get(name)
    return 60 * float(raw) if raw else default_seconds


@dataclass(frozen=True, slots=True)
class ReferralConfig:
    """Deadlines and routing defaults; ``from_env`` reads ``GATEWAY_REFERRAL_*``."""

    response_seconds: dict[str, float] = field(default_factory=lambda: dict(codes.RESPONSE_SECONDS))
    triage_org: str | None = None  # who receives referrals no rule routes (a coordination hub)
    timezone: str = "UTC"  # hours of services that name no zone of their own
    intake_limit: int = 100  # referrals adopted per timer pass
    timer_seconds: float = 5.0  # how often the timers run (intake, shift flags, escalation)

    @classmethod
    def from_env(cls) -> ReferralConfig:
        limits = {
            u: _minutes(f"GATEWAY_REFERRAL_{u.upper()}_MINUTES", s)
            for u, s in codes.RESPONSE_SECONDS.items()
        }
        return cls(
            response_seconds=limits,
            triage_org=os.environ.get("GATEWAY_REFERRAL_TRIAGE_ORG") or None,
            timezone=os.environ.get("GATEWAY_REFERRAL_TIMEZONE", "UTC"),
            timer_seconds=float(os.environ.get("GATEWAY_REFERRAL_TIMER_SECONDS") or 5.0),
        )

    def limit(self, urgency: str) -> float:
        return self.response_seconds.get(urgency, codes.RESPONSE_SECONDS["routine"])


@dataclass(slots=True)
class ReferralContext:
    """Everything the workflow needs besides the database session (kept on ``app.state``)."""

    fhir_base: str
    config: ReferralConfig = field(default_factory=ReferralConfig)
    clock: Clock = field(default_factory=SystemClock)
    labeller: Any = None  # the app's DS4P labeller, applied to every resource written
    failed_intake: set[int] = field(default_factory=set)  # this process's unadoptable requests
