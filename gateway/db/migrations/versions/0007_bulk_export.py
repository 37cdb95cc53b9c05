"""bulk data export jobs and files

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_job",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("members", sa.Text(), nullable=True),
        sa.Column("types", sa.Text(), nullable=False),
        sa.Column("since", sa.String(length=40), nullable=True),
        sa.Column("transaction_time", sa.String(length=40), nullable=False),
        sa.Column("request_url", sa.Text(), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("agency", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=64), nullable=True),
        sa.Column("purposes", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("type_index", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.String(length=64), nullable=True),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("exported", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=32), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("completed_at", sa.Float(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_export_job_owner", "export_job", ["client_id", "user_id", "status"])
    op.create_index("ix_export_job_expires", "export_job", ["expires_at"])
    op.create_table(
        "export_file",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rtype", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("audit", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["export_job.id"], ondelete="CASCADE"),
    )
    op.create_index("ux_export_file_job_seq", "export_file", ["job_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_table("export_file")
    op.drop_table("export_job")
