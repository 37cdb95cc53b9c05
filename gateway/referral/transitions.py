"""The referral state machine as data: who may move a referral's Task from which status to which.

FHIR Workflow Task states (STANDARDS.md "Referral and placement workflow")::

    requested ──received──> received ──accept──> accepted ──book──> in-progress ──complete──> completed
        │                      │                    │                                  (outcome)
        ├──────accept──────────┘                    └──complete (outcome, no appointment)──┘
        ├──reject (reason)──> rejected   (from requested or received)
        ├──cancel (reason)──> cancelled  (from any open state)
        └──forward (to)──> requested     (re-routed to another organisation or team; from
                                          requested or received)

Actors: the referring agency, the receiving organisation (the Task's owner) and the gateway itself
(cancelling when the referrer revokes its ServiceRequest). Everything not listed is refused (409).
"""

from __future__ import annotations

from enum import StrEnum

from gateway.placement.transitions import IllegalTransition


class Actor(StrEnum):
    """Who asks for a transition."""

    REFERRER = "referrer"
    RECEIVER = "receiver"
    GATEWAY = "gateway"


class State(StrEnum):
    """A referral's state: its Task.status."""

    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({State.REJECTED, State.COMPLETED, State.CANCELLED})
AWAITING_ANSWER = frozenset({State.REQUESTED, State.RECEIVED})
OPEN = frozenset(State) - TERMINAL

_F, _T, _G = Actor.REFERRER, Actor.RECEIVER, Actor.GATEWAY
_S = State
RULES: dict[tuple[State, State], frozenset[Actor]] = {
    (_S.REQUESTED, _S.RECEIVED): frozenset({_T}),
    (_S.REQUESTED, _S.ACCEPTED): frozenset({_T}),
    (_S.RECEIVED, _S.ACCEPTED): frozenset({_T}),
    (_S.REQUESTED, _S.REJECTED): frozenset({_T}),
    (_S.RECEIVED, _S.REJECTED): frozenset({_T}),
    (_S.ACCEPTED, _S.IN_PROGRESS): frozenset({_T}),
    (_S.IN_PROGRESS, _S.COMPLETED): frozenset({_T}),
    (_S.ACCEPTED, _S.COMPLETED): frozenset({_T}),
    (_S.REQUESTED, _S.CANCELLED): frozenset({_F, _G}),
    (_S.RECEIVED, _S.CANCELLED): frozenset({_F, _G}),
    (_S.ACCEPTED, _S.CANCELLED): frozenset({_F, _G}),
    (_S.IN_PROGRESS, _S.CANCELLED): frozenset({_F, _G}),
}

# Forwarding (gateway/referral/forwarding.py): who may, and from which states.
FORWARDERS = frozenset({_T})
FORWARD_FROM = AWAITING_ANSWER


def state_of(status: object) -> State | None:
    """The state a Task.status shows, None for a status the workflow does not use."""
    try:
        return State(str(status))
    except ValueError:
        return None


def check(actors: frozenset[Actor], current: State, wanted: State) -> None:
    """Refuse (409) unless one of ``actors`` may move a referral from ``current`` to ``wanted``."""
    allowed = RULES.get((current, wanted))
    if allowed is None:
        if current in TERMINAL:
            raise IllegalTransition(f"the referral is already {current.value}; nothing can change")
        raise IllegalTransition(f"a referral cannot go from {current.value} to {wanted.value}")
    if not allowed & actors:
        who = " or ".join(sorted(a.value for a in allowed))
        raise IllegalTransition(
            f"only the {who} may move a referral from {current.value} to {wanted.value}"
        )


def next_states(actors: frozenset[Actor], current: State) -> list[State]:
    """The states ``actors`` may move a referral to from ``current`` (for queues and docs)."""
    return [to for (frm, to), who in RULES.items() if frm == current and who & actors]
