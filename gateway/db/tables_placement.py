"""Tables of the placement workflow and of notifications.

Placement (the FHIR ServiceRequest + Task resources stay the record; these rows are the workflow's
own bookkeeping, written in the same transaction as the resources):

* ``placement_request``: one row per placement request (parent Task). Every transition of a request
  first locks this row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers), which is
  what makes "the first acceptance wins" hold across gateway processes.
* ``placement_offer``: one row per child Task (one facility unit asked).
* ``placement_unit_beds``: the authoritative free-bed counter per unit (HealthcareService); it is
  only ever decremented with ``UPDATE … SET free = free - 1 WHERE free > 0`` and a CHECK keeps it
  from going below zero.
* ``placement_bed_hold``: the bed an acceptance reserved, until it is used or released.

Notifications (transactional outbox):

* ``notify_subscription``: a rest-hook Subscription, its per-subscriber signing secret, its counters
  (``seq`` orders every message, ``events_since_start`` counts event notifications) and the delivery
  lease a worker takes (claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
* ``notify_outbox``: one message per subscription (handshake, heartbeat, event-notification) with its
  signed-at-send payload, delivery status and attempts; rows are kept after delivery.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from gateway.db.tables import _pk

_Big = BigInteger().with_variant(Integer(), "sqlite")


def _request_fk() -> int:
    return Field(
        sa_column=Column(
            _Big, ForeignKey("placement_request.pk", ondelete="CASCADE"), nullable=False
        )
    )


class PlacementRequestRow(SQLModel, table=True):
    """A placement request: its phase, escalation state, hold deadline and milestone times."""

    __tablename__ = "placement_request"
    __table_args__ = (
        Index("ux_placement_request_task", "task_id", unique=True),
        Index("ix_placement_request_sr", "service_request_id"),
        Index("ix_placement_request_created", "created_at"),
        Index("ix_placement_request_escalate", "next_escalation_at"),
        Index("ix_placement_request_alert", "hold_alert_at"),
    )

    pk: int | None = _pk()
    task_id: str = Field(max_length=64)
    service_request_id: str = Field(max_length=64)
    patient_id: str | None = Field(default=None, max_length=64)
    requester: str = Field(max_length=64)  # Organization id (= agency id in the registry)
    phase: str = Field(max_length=16)  # transitions.Phase
    wave: int = 0
    radius_km: float | None = None
    next_escalation_at: float | None = None
    exhausted: bool = False
    hold_expires_at: float | None = None  # the involuntary hold's legal deadline
    hold_alert_at: float | None = None  # when to alert; cleared once alerted
    criteria: str = Field(sa_column=Column(Text, nullable=False))  # JSON: near, n
    level_of_care: str | None = Field(default=None, max_length=64)
    age_band: str | None = Field(default=None, max_length=16)
    sex: str | None = Field(default=None, max_length=16)
    payer: str | None = Field(default=None, max_length=128)
    accepted_task_id: str | None = Field(default=None, max_length=64)
    accepted_org: str | None = Field(default=None, max_length=64)
    accepted_unit: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=64)  # why cancelled or failed
    created_at: float
    first_response_at: float | None = None
    accepted_at: float | None = None
    arrived_at: float | None = None
    completed_at: float | None = None
    closed_at: float | None = None
    updated_at: float


class PlacementOfferRow(SQLModel, table=True):
    """One facility unit asked: the child Task and its answer."""

    __tablename__ = "placement_offer"
    __table_args__ = (
        Index("ux_placement_offer_task", "task_id", unique=True),
        Index("ix_placement_offer_request", "request_pk"),
        Index("ix_placement_offer_org", "org_id", "state"),
        Index("ix_placement_offer_asked", "asked_at"),
    )

    pk: int | None = _pk()
    request_pk: int = _request_fk()
    task_id: str = Field(max_length=64)
    org_id: str = Field(max_length=64)
    unit_id: str = Field(max_length=64)
    wave: int = 0
    state: str = Field(max_length=16)  # requested | received | accepted | rejected | cancelled
    reason: str | None = Field(default=None, max_length=64)  # decline reason code
    distance_km: float | None = None
    census_stale: bool = False
    asked_at: float
    responded_at: float | None = None
    closed_at: float | None = None


class PlacementUnitBedsRow(SQLModel, table=True):
    """The free-bed counter of one unit, reconciled with census reports (see docs)."""

    __tablename__ = "placement_unit_beds"
    __table_args__ = (
        CheckConstraint("free >= 0", name="ck_placement_unit_beds_free"),
        Index("ix_placement_unit_beds_org", "org_id"),
    )

    unit_id: str = Field(sa_column=Column(String(64), primary_key=True))
    org_id: str = Field(max_length=64)
    free: int
    reported_free: int | None = None
    reported_at: float | None = None
    updated_at: float


class PlacementBedHoldRow(SQLModel, table=True):
    """The bed an acceptance reserved: ``held`` until ``used`` (admission) or ``released``."""

    __tablename__ = "placement_bed_hold"
    __table_args__ = (
        Index("ux_placement_bed_hold_request", "request_pk", unique=True),
        Index("ix_placement_bed_hold_due", "state", "expires_at"),
        Index("ix_placement_bed_hold_unit", "unit_id", "state"),
    )

    pk: int | None = _pk()
    request_pk: int = _request_fk()
    task_id: str = Field(max_length=64)
    org_id: str = Field(max_length=64)
    unit_id: str = Field(max_length=64)
    bed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    tracked: bool = True  # the unit's counter was decremented (and must be given back)
    state: str = Field(max_length=16)  # held | used | released
    created_at: float
    expires_at: float | None = None
    closed_at: float | None = None
    reason: str | None = Field(default=None, max_length=64)


class NotifySubscriptionRow(SQLModel, table=True):
    """A rest-hook subscription to one topic, for one agency."""

    __tablename__ = "notify_subscription"
    __table_args__ = (
        Index("ix_notify_subscription_topic", "topic", "agency"),
        Index("ix_notify_subscription_due", "next_attempt_at"),
    )

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    agency: str = Field(max_length=64)
    client_id: str = Field(max_length=128)
    topic: str = Field(max_length=64)
    endpoint: str = Field(sa_column=Column(Text, nullable=False))
    headers: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list
    content: str = Field(max_length=16)  # empty | id-only | full-resource
    secret: str = Field(max_length=128)
    status: str = Field(max_length=16)  # requested | active | error | off
    heartbeat_seconds: int | None = None
    seq: int = Field(default=0, sa_column=Column(_Big, nullable=False, default=0))
    events_since_start: int = Field(default=0, sa_column=Column(_Big, nullable=False, default=0))
    delivered_seq: int = Field(default=0, sa_column=Column(_Big, nullable=False, default=0))
    failures: int = 0
    next_attempt_at: float
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: float | None = None
    last_sent_at: float | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: float
    updated_at: float


class NotifyOutboxRow(SQLModel, table=True):
    """One message to one subscriber, written in the transaction of the change it reports."""

    __tablename__ = "notify_outbox"
    __table_args__ = (
        Index("ux_notify_outbox_event", "event_id", unique=True),
        Index("ux_notify_outbox_seq", "subscription_id", "seq", unique=True),
        Index("ix_notify_outbox_pending", "subscription_id", "status"),
    )

    pk: int | None = _pk()
    event_id: str = Field(max_length=64)  # the receiver's idempotency key
    subscription_id: str = Field(
        sa_column=Column(
            String(64),
            ForeignKey("notify_subscription.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    seq: int = Field(sa_column=Column(_Big, nullable=False))
    event_number: int = Field(default=0, sa_column=Column(_Big, nullable=False, default=0))
    kind: str = Field(max_length=24)  # handshake | heartbeat | event-notification
    topic: str = Field(max_length=64)
    focus: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=16)  # pending | delivered
    attempts: int = 0
    created_at: float
    last_attempt_at: float | None = None
    delivered_at: float | None = None
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
