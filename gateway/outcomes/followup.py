"""Extension point: follow-up within 7 days of a crisis.

The figure needs to know when a person was seen again after a crisis (a crisis-team visit, an
outpatient appointment kept, a referral completed). The dashboard counts referrals completed with
the person seen (:class:`gateway.outcomes.referrals.ReferralFollowUps`) unless another
:class:`FollowUpSource` is installed on the application::

    app.state.outcomes_follow_up = OtherFollowUps()

:class:`~gateway.outcomes.service.OutcomesService` given no source reports the figure as not
available.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast

from sqlalchemy.orm import Session

FOLLOW_UP_DAYS = 7
STATE_ATTRIBUTE = "outcomes_follow_up"


class FollowUpSource(Protocol):
    """Where follow-up contacts come from."""

    #: What counts as a follow-up, in a sentence the dashboard shows beside the figure.
    definition: str

    def follow_ups(
        self, session: Session, patient_ids: Sequence[str], start: float, end: float
    ) -> list[tuple[str, float]]:
        """(Patient id, epoch seconds) of every follow-up contact of ``patient_ids`` that happened
        in ``[start, end)``. ``patient_ids`` are every record of the people in crisis (each
        agency's record, joined by the identity links); the dashboard joins them into persons."""
        ...


def installed(state: Any) -> FollowUpSource:
    """The follow-up source installed on an application's state, else the referral source."""
    source = getattr(state, STATE_ATTRIBUTE, None)
    if source is not None and hasattr(source, "follow_ups"):
        return cast(FollowUpSource, source)
    return default_source()


def default_source() -> FollowUpSource:
    """Referrals completed with the person seen (what the dashboard and the CLI count)."""
    from gateway.outcomes.referrals import ReferralFollowUps

    return ReferralFollowUps()
