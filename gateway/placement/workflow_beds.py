"""The free-bed counters the workflow reserves from, and how census reports feed them.

``placement_unit_beds.free`` is the number of beds of a unit (HealthcareService) the gateway may still
reserve. An acceptance takes one (``UPDATE … SET free = free - 1 WHERE free > 0``: never below zero,
however many acceptances race); a reservation that ends unused gives it back.

Reconciling with the census (the bed census engineer's reports): a facility's report at time *t*
already counts the beds it reserved for placements it accepted before *t* (it knew of them), but not
those accepted after *t*. So on each report::

    free = max(0, reported_free - beds still held by acceptances made after t)

:func:`reconcile_census` does exactly that under the counter's row lock; call it in the transaction
that stores the census report. A unit with no counter row is untracked: acceptances there are not
limited (and not counted) until its first report.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.placement.workflow_repository import PlacementRepository


def reconcile_census(
    session: Session,
    unit_id: str,
    org_id: str,
    reported_free: int,
    reported_at: float,
    now: float,
) -> int:
    """Set the unit's counter from a census report made at ``reported_at``; return the new value."""
    repo = PlacementRepository(session)
    repo.set_free_beds(unit_id, org_id, 0, now)  # creates and locks the row before counting holds
    free = max(0, int(reported_free) - repo.holds_since(unit_id, reported_at))
    repo.set_free_beds(
        unit_id, org_id, free, now, reported_free=int(reported_free), reported_at=reported_at
    )
    return free


def set_free_beds(session: Session, unit_id: str, org_id: str, free: int, now: float) -> None:
    """Set the counter outright (operators, tests, the demo)."""
    PlacementRepository(session).set_free_beds(unit_id, org_id, free, now)


def free_beds(session: Session, unit_id: str) -> int | None:
    """The unit's counter, None when it is untracked."""
    return PlacementRepository(session).free_beds(unit_id)
