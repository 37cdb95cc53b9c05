"""The state machine table: what is listed is allowed for exactly the actors listed, and nothing else."""

from __future__ import annotations

import itertools

import pytest

from gateway.placement.transitions import (
    OFFER_RULES,
    PHASE_TASK,
    REQUEST_RULES,
    TERMINAL_PHASES,
    Actor,
    IllegalTransition,
    OfferState,
    Phase,
    check_offer,
    check_request,
    next_phases,
    phase_of,
)

ACTOR_SETS = [frozenset({a}) for a in Actor]


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(Phase, Phase)))
def test_request_pairs(current: Phase, wanted: Phase) -> None:
    for actors in ACTOR_SETS:
        allowed = REQUEST_RULES.get((current, wanted), frozenset())
        if allowed & actors:
            check_request(actors, current, wanted)
        else:
            with pytest.raises(IllegalTransition) as info:
                check_request(actors, current, wanted)
            assert info.value.status == 409


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(OfferState, OfferState)))
def test_offer_pairs(current: OfferState, wanted: OfferState) -> None:
    for actors in ACTOR_SETS:
        allowed = OFFER_RULES.get((current, wanted), frozenset())
        if allowed & actors:
            check_offer(actors, current, wanted)
        else:
            with pytest.raises(IllegalTransition):
                check_offer(actors, current, wanted)


def test_the_life_described_in_the_issue() -> None:
    r, f, g = (frozenset({a}) for a in (Actor.REQUESTER, Actor.FACILITY, Actor.GATEWAY))
    assert next_phases(r, Phase.RESERVED) == [Phase.TRANSPORT, Phase.CANCELLED, Phase.FAILED]
    assert next_phases(f, Phase.ARRIVED) == [Phase.COMPLETED, Phase.FAILED]
    assert next_phases(g, Phase.OPEN) == [Phase.RESERVED]  # acceptance happens through the gateway
    for phase in TERMINAL_PHASES:
        assert next_phases(r | f | g, phase) == []
    # Only the facility answers an offer; only the gateway cancels one.
    assert all(
        who == frozenset({Actor.FACILITY})
        for (_, to), who in OFFER_RULES.items()
        if to != OfferState.CANCELLED
    )
    assert all(
        who == frozenset({Actor.GATEWAY})
        for (_, to), who in OFFER_RULES.items()
        if to == OfferState.CANCELLED
    )


def test_task_status_and_business_status_name_each_phase_once() -> None:
    for phase, (status, business) in PHASE_TASK.items():
        assert phase_of(status, business) == phase
    assert phase_of("accepted", None) == Phase.RESERVED
    assert phase_of("completed", None) == Phase.COMPLETED
    assert phase_of("in-progress", None) is None
    assert phase_of("on-hold", None) is None
    assert phase_of("accepted", "en-route") is None
