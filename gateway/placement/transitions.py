"""The placement state machine as data: who may move a request or an offer from which state to which.

Two levels (FHIR Workflow, Task state machine; STANDARDS.md "Referral and placement workflow"):

* an **offer** is one child Task, owned by the facility asked: ``requested`` → ``received`` →
  ``accepted`` | ``rejected``; the gateway cancels open offers when another facility wins or the
  request ends.
* a **request** is the parent Task. Its phase is carried by ``Task.status`` plus ``businessStatus``::

      open (requested) ──accept──> reserved (accepted/bed-reserved) ──> transport (accepted/
      transport-arranged) ──> en-route (in-progress/en-route) ──> arrived (in-progress/arrived)
      ──> completed (completed/admitted)
      any phase before completed ──> cancelled | failed

  After acceptance the accepted child Task mirrors the parent's phase, so the facility follows (and
  moves) the placement on its own Task.

Actors: the requesting agency, the facility that owns the child Task (for request phases: the
facility that accepted) and the gateway itself (cascades, timers). Everything not listed is refused.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.fhir.errors import Conflict


class Actor(StrEnum):
    """Who asks for a transition."""

    REQUESTER = "requester"
    FACILITY = "facility"
    GATEWAY = "gateway"


class Phase(StrEnum):
    """The phase of a placement request."""

    OPEN = "open"
    RESERVED = "reserved"
    TRANSPORT = "transport"
    EN_ROUTE = "en-route"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class OfferState(StrEnum):
    """The state of one offer (child Task) until it is accepted."""

    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


TERMINAL_PHASES = frozenset({Phase.COMPLETED, Phase.CANCELLED, Phase.FAILED})
OPEN_OFFERS = frozenset({OfferState.REQUESTED, OfferState.RECEIVED})

# (Task.status, businessStatus code) that shows each phase on the parent and the accepted child.
PHASE_TASK: dict[Phase, tuple[str, str | None]] = {
    Phase.OPEN: ("requested", None),
    Phase.RESERVED: ("accepted", "bed-reserved"),
    Phase.TRANSPORT: ("accepted", "transport-arranged"),
    Phase.EN_ROUTE: ("in-progress", "en-route"),
    Phase.ARRIVED: ("in-progress", "arrived"),
    Phase.COMPLETED: ("completed", "admitted"),
    Phase.CANCELLED: ("cancelled", None),
    Phase.FAILED: ("failed", None),
}
_TASK_PHASE = {value: phase for phase, value in PHASE_TASK.items()}

R, F, G = Actor.REQUESTER, Actor.FACILITY, Actor.GATEWAY
_RF, _RFG = frozenset({R, F}), frozenset({R, F, G})

REQUEST_RULES: dict[tuple[Phase, Phase], frozenset[Actor]] = {
    (Phase.OPEN, Phase.RESERVED): frozenset({G}),  # only through a facility's acceptance
    (Phase.RESERVED, Phase.TRANSPORT): frozenset({R}),
    (Phase.TRANSPORT, Phase.EN_ROUTE): frozenset({R}),
    (Phase.EN_ROUTE, Phase.ARRIVED): _RF,
    (Phase.ARRIVED, Phase.COMPLETED): frozenset({F}),
    # The requester may call the placement off at any point before admission.
    (Phase.OPEN, Phase.CANCELLED): frozenset({R}),
    (Phase.RESERVED, Phase.CANCELLED): frozenset({R}),
    (Phase.TRANSPORT, Phase.CANCELLED): frozenset({R}),
    (Phase.EN_ROUTE, Phase.CANCELLED): frozenset({R}),
    (Phase.ARRIVED, Phase.CANCELLED): frozenset({R}),
    # Either party reports failure once a bed is reserved; the gateway does when the reserved bed
    # is not used in time (escalation.run_due), which can only happen before arrival.
    (Phase.RESERVED, Phase.FAILED): _RFG,
    (Phase.TRANSPORT, Phase.FAILED): _RFG,
    (Phase.EN_ROUTE, Phase.FAILED): _RFG,
    (Phase.ARRIVED, Phase.FAILED): _RF,
}

_O = OfferState
OFFER_RULES: dict[tuple[OfferState, OfferState], frozenset[Actor]] = {
    (_O.REQUESTED, _O.RECEIVED): frozenset({F}),
    (_O.REQUESTED, _O.ACCEPTED): frozenset({F}),
    (_O.RECEIVED, _O.ACCEPTED): frozenset({F}),
    (_O.REQUESTED, _O.REJECTED): frozenset({F}),
    (_O.RECEIVED, _O.REJECTED): frozenset({F}),
    (_O.REQUESTED, _O.CANCELLED): frozenset({G}),
    (_O.RECEIVED, _O.CANCELLED): frozenset({G}),
}

# Why a facility declines (Task.statusReason on a rejected child Task).
DECLINE_REASONS: dict[str, str] = {
    "no-bed": "No bed available",
    "clinical-exclusion": "Clinical exclusion",
    "payer": "Payer not accepted",
    "acuity-too-high": "Acuity too high for this unit",
    "security": "Security needs cannot be met",
    "other": "Other",
}


class IllegalTransition(Conflict):
    """409: the transition is not in the table for this actor (or not at all)."""


def phase_of(status: str | None, business: str | None) -> Phase | None:
    """The phase a Task's ``status`` + ``businessStatus`` code shows, None if it shows none.

    ``requested``, ``completed``, ``cancelled`` and ``failed`` need no business status;
    ``accepted`` without one reads as ``reserved``; ``in-progress`` needs ``en-route`` or ``arrived``.
    """
    if status in ("requested", "completed", "cancelled", "failed"):
        return {
            "requested": Phase.OPEN,
            "completed": Phase.COMPLETED,
            "cancelled": Phase.CANCELLED,
            "failed": Phase.FAILED,
        }[str(status)]
    if status == "accepted" and business is None:
        return Phase.RESERVED
    return _TASK_PHASE.get((str(status), business))


def offer_state_of(status: str | None) -> OfferState | None:
    """The offer state a child Task's status shows (before acceptance)."""
    try:
        return OfferState(str(status))
    except ValueError:
        return None


def _describe(phase: Phase) -> str:
    status, business = PHASE_TASK[phase]
    return f"{status}/{business}" if business else status


def check_request(actors: frozenset[Actor], current: Phase, wanted: Phase) -> None:
    """Refuse (409) unless one of ``actors`` may move a request from ``current`` to ``wanted``."""
    allowed = REQUEST_RULES.get((current, wanted))
    if allowed is None:
        if current in TERMINAL_PHASES:
            raise IllegalTransition(f"the placement is already {current.value}; nothing can change")
        raise IllegalTransition(
            f"a placement cannot go from {_describe(current)} to {_describe(wanted)}"
        )
    if not allowed & actors:
        who = " or ".join(sorted(a.value for a in allowed))
        raise IllegalTransition(
            f"only the {who} may move a placement from {_describe(current)} to {_describe(wanted)}"
        )


def check_offer(actors: frozenset[Actor], current: OfferState, wanted: OfferState) -> None:
    """Refuse (409) unless one of ``actors`` may move an offer from ``current`` to ``wanted``."""
    allowed = OFFER_RULES.get((current, wanted))
    if allowed is None:
        raise IllegalTransition(
            f"a placement offer cannot go from {current.value} to {wanted.value}"
        )
    if not allowed & actors:
        who = " or ".join(sorted(a.value for a in allowed))
        raise IllegalTransition(
            f"only the {who} may move an offer from {current.value} to {wanted.value}"
        )


def next_phases(actors: frozenset[Actor], current: Phase) -> list[Phase]:
    """The phases ``actors`` may move a request to from ``current`` (for UIs and docs)."""
    return [to for (frm, to), who in REQUEST_RULES.items() if frm == current and who & actors]
