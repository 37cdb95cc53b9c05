"""referrals across agencies

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_Big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "referral",
        sa.Column("pk", _Big, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("service_request_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("referrer", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("service_type", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("routed_by", sa.String(length=16), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("appointment_id", sa.String(length=64), nullable=True),
        sa.Column("crisis_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("visible_at", sa.Float(), nullable=False),
        sa.Column("respond_by", sa.Float(), nullable=False),
        sa.Column("shift_flag_at", sa.Float(), nullable=True),
        sa.Column("escalated_at", sa.Float(), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=True),
        sa.Column("responded_at", sa.Float(), nullable=True),
        sa.Column("booked_at", sa.Float(), nullable=True),
        sa.Column("appointment_at", sa.Float(), nullable=True),
        sa.Column("seen_at", sa.Float(), nullable=True),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ux_referral_task", "referral", ["task_id"], unique=True)
    op.create_index("ux_referral_sr", "referral", ["service_request_id"], unique=True)
    op.create_index("ix_referral_receiver", "referral", ["receiver", "state"])
    op.create_index("ix_referral_patient", "referral", ["patient_id", "receiver"])
    op.create_index("ix_referral_respond_by", "referral", ["state", "respond_by"])
    op.create_index("ix_referral_shift", "referral", ["shift_flag_at"])
    op.create_index("ix_referral_created", "referral", ["created_at"])


def downgrade() -> None:
    op.drop_table("referral")
