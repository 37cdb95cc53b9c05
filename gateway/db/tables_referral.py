"""Tables of the referral workflow (the FHIR ServiceRequest + Task resources stay the record).

* ``referral``: one row per referral (one ServiceRequest and its Task): who referred, who receives
  (the organisation, and the team queue inside it when the directory named one), the state, the
  urgency's response deadline, the shift the referral waits for when the team is off duty, and the
  milestone times the metrics read. Every transition first locks this row (``SELECT … FOR UPDATE``
  on PostgreSQL; SQLite serialises writers), so two people answering at once cannot both win.
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from gateway.db.tables import _pk


class ReferralRow(SQLModel, table=True):
    """A referral: routing, state, deadlines and milestone times (epoch seconds)."""

    __tablename__ = "referral"
    __table_args__ = (
        Index("ux_referral_task", "task_id", unique=True),
        Index("ux_referral_sr", "service_request_id", unique=True),
        Index("ix_referral_receiver", "receiver", "state"),
        Index("ix_referral_patient", "patient_id", "receiver"),
        Index("ix_referral_respond_by", "state", "respond_by"),
        Index("ix_referral_shift", "shift_flag_at"),
        Index("ix_referral_created", "created_at"),
    )

    pk: int | None = _pk()
    task_id: str = Field(max_length=64)
    service_request_id: str = Field(max_length=64)
    patient_id: str | None = Field(default=None, max_length=64)
    referrer: str = Field(max_length=64)  # the referring agency (= its Organization id)
    receiver: str | None = Field(default=None, max_length=64)  # receiving agency; None: unrouted
    team: str | None = Field(default=None, max_length=64)  # HealthcareService id of the team queue
    service_type: str = Field(max_length=32)  # codes.SERVICE_TYPES
    source: str = Field(max_length=16)  # fhir | api | hl7v2 | police-rms | console | ingest
    routed_by: str = Field(max_length=16)  # addressed | directory | triage | unrouted
    urgency: str = Field(max_length=16)  # request-priority: stat | asap | urgent | routine
    state: str = Field(max_length=16)  # transitions.State
    outcome: str | None = Field(default=None, max_length=32)  # completed: seen | did-not-attend …
    reason: str | None = Field(default=None, max_length=64)  # rejection or cancellation reason
    appointment_id: str | None = Field(default=None, max_length=64)
    crisis_at: float | None = None  # when the crisis happened (the 7-day follow-up measure)
    created_at: float
    visible_at: float  # when the receiving team is (next) on duty
    respond_by: float  # the urgency's time limit, counted from visible_at
    shift_flag_at: float | None = None  # set while waiting for a shift; cleared once flagged
    escalated_at: float | None = None
    received_at: float | None = None
    responded_at: float | None = None  # accepted or rejected
    booked_at: float | None = None
    appointment_at: float | None = None  # the appointment's start
    seen_at: float | None = None  # first contact: the appointment of a "seen" completion
    closed_at: float | None = None
    updated_at: float
