"""Referrals on the program dashboard: the follow-up source and the referral figures.

* :class:`ReferralFollowUps` is the :class:`~gateway.outcomes.followup.FollowUpSource` the dashboard
  uses unless another is installed: a referral completed with the outcome ``seen`` is a follow-up
  contact at its first contact (the appointment kept).
* :func:`referral_figures` puts the numbers of ``GET /referrals/metrics`` into the dashboard's figure
  shape: the period's referrals are read once and
  :func:`gateway.referral.metrics.metrics_of` (what ``/referrals/metrics`` computes) is asked for
  the whole period and for each month, so the two never disagree.

Definitions: docs/outcomes.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from gateway.outcomes.period import Period
from gateway.outcomes.repository import OutcomesRepository
from gateway.referral.metrics import metrics_of
from gateway.referral.repository import ReferralRepository

Cell = dict[str, Any]
# name -> (label, headline measure, unit)
FIGURES: dict[str, tuple[str, str | None, str]] = {
    "referrals": ("Referrals made", "count", "referrals"),
    "referralsByType": ("Referrals by service type", None, "referrals"),
    "referralsBySourceAgency": ("Referrals by referring agency", None, "referrals"),
    "referralAcceptance": ("Referrals accepted", "rate", "share of answered referrals"),
    "referralCompletion": ("Referrals completed", "rate", "share of accepted referrals"),
    "timeToFirstContact": ("Time from referral to first contact", "medianHours", "hours"),
    "referralsOverdue": ("Referrals overdue", "count", "referrals"),
}


class ReferralFollowUps:
    """Follow-up contacts: referrals the receiving service completed with the person seen."""

    definition = (
        "a referral (crisis follow-up, outpatient psychiatry, case management, substance-use "
        "treatment, peer support, housing) completed with the outcome 'seen', the person's first "
        "contact falling within 7 days after the crisis began"
    )

    def follow_ups(
        self, session: Session, patient_ids: Sequence[str], start: float, end: float
    ) -> list[tuple[str, float]]:
        """(Patient id, first contact) of the ``seen`` referrals of these records in
        ``[start, end)``."""
        return OutcomesRepository(session).referrals_seen(patient_ids, start, end)


def _cells(numbers: dict[str, Any]) -> dict[str, Cell]:
    """One month's (or the period's) referral metrics as the cells of each figure."""
    o = numbers["overall"]
    return {
        "referrals": {"count": o["referrals"]},
        "referralsByType": {k: v["referrals"] for k, v in numbers["by_type"].items()},
        "referralsBySourceAgency": {
            k: v["referrals"] for k, v in numbers["by_source_agency"].items()
        },
        "referralAcceptance": {
            "referrals": o["referrals"],
            "answered": o["accepted"] + o["rejected"],
            "accepted": o["accepted"],
            "rate": o["acceptance_rate"],
        },
        "referralCompletion": {
            "accepted": o["accepted"],
            "completed": o["completed"],
            "seen": o["seen"],
            "rate": o["completion_rate"],
        },
        "timeToFirstContact": {"seen": o["seen"], "medianHours": o["median_first_contact_hours"]},
        "referralsOverdue": {"count": o["overdue"]},
    }


def _every_key(total: Cell, by_month: dict[str, Cell]) -> tuple[Cell, dict[str, Cell]]:
    """Every key (service type, agency) in every cell, zero where none, sorted."""
    keys = sorted(set(total).union(*by_month.values()))
    return {k: total.get(k, 0) for k in keys}, {
        m: {k: c.get(k, 0) for k in keys} for m, c in by_month.items()
    }


def referral_figures(
    session: Session, period: Period, now: float
) -> dict[str, tuple[str, Cell, dict[str, Cell]]]:
    """name -> (label, total, byMonth) of the referrals made in the period and each month, as of
    ``now`` (overdue: still unanswered past the urgency's time limit at ``now``)."""
    rows = ReferralRepository(session).between(period.start, period.end)
    whole = _cells(metrics_of(rows, period.start, period.end, now))
    monthly: dict[str, dict[str, Cell]] = {}
    for m in period.months:
        mine = [r for r in rows if m.start <= r.created_at < m.end]
        monthly[m.label] = _cells(metrics_of(mine, m.start, m.end, now))
    out: dict[str, tuple[str, Cell, dict[str, Cell]]] = {}
    for name, (label, _headline, _unit) in FIGURES.items():
        total, by_month = whole[name], {m: cells[name] for m, cells in monthly.items()}
        if FIGURES[name][1] is None:
            total, by_month = _every_key(total, by_month)
        out[name] = (label, total, by_month)
    return out
