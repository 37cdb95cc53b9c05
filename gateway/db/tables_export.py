"""Tables of FHIR Bulk Data export (``$export``): the jobs and their output files.

* ``export_job``: one row per kick-off. Who asked (client, user, agency, role, purposes: the
  sharing guard is rebuilt from these for every file, never from a token, which is not kept),
  what was asked (level, the Group's members, types, ``_since``), the transaction time, where the
  work stands (the type being walked and the last id passed: a job whose process died resumes
  from there) and the lease a runner holds while it works (``lease_owner`` / ``lease_until``).
* ``export_file``: one NDJSON output file, and what its download's AuditEvent names (the
  patients and resources in it, the policies and consents that decided while it was built).

Files go with their job (``ON DELETE CASCADE``): cancelling or expiring a job deletes its output.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel


class ExportJobRow(SQLModel, table=True):
    """One export: its caller, its request, its progress and its lease (times: epoch seconds)."""

    __tablename__ = "export_job"
    __table_args__ = (
        Index("ix_export_job_owner", "client_id", "user_id", "status"),
        Index("ix_export_job_expires", "expires_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    level: str = Field(max_length=8)  # system | patient | group
    group_id: str | None = Field(default=None, max_length=64)
    members: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON ids
    types: str = Field(sa_column=Column(Text, nullable=False))  # JSON list, in export order
    since: str | None = Field(default=None, max_length=40)  # FHIR instant, as validated
    transaction_time: str = Field(max_length=40)  # FHIR instant: nothing later is exported
    request_url: str = Field(sa_column=Column(Text, nullable=False))
    client_id: str = Field(max_length=128)
    user_id: str | None = Field(default=None, max_length=128)
    agency: str | None = Field(default=None, max_length=64)
    role: str | None = Field(default=None, max_length=64)
    purposes: str = Field(max_length=256)  # JSON list of v3-ActReason codes
    status: str = Field(max_length=16)  # accepted | in-progress | completed | failed
    type_index: int = 0
    cursor: str | None = Field(default=None, max_length=64)  # last res_id of the current type
    files: int = 0
    exported: int = 0
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=32)
    lease_until: float | None = None
    error: str | None = Field(default=None, max_length=500)
    created_at: float
    updated_at: float
    completed_at: float | None = None
    expires_at: float


class ExportFileRow(SQLModel, table=True):
    """One output file: NDJSON of one resource type, at most the configured number of lines."""

    __tablename__ = "export_file"
    __table_args__ = (Index("ux_export_file_job_seq", "job_id", "seq", unique=True),)

    id: str = Field(primary_key=True, max_length=36)
    job_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("export_job.id", ondelete="CASCADE"), nullable=False
        )
    )
    seq: int
    rtype: str = Field(max_length=64)
    count: int
    content: str = Field(sa_column=Column(Text, nullable=False))
    audit: str = Field(sa_column=Column(Text, nullable=False))  # JSON: what the download names
    created_at: float
