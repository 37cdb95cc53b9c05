"""Tables of the ingest and identity domains: MLLP senders, and cross-agency patient links."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel

from gateway.db.tables import _pk


class MllpSenderRow(SQLModel, table=True):
    """An HL7 v2 sender: its sending facility (MSH-4) and the networks it connects from."""

    __tablename__ = "ingest_mllp_sender"
    __table_args__ = (Index("ux_mllp_sender_facility", "facility", unique=True),)

    pk: int | None = _pk()
    facility: str = Field(max_length=180)
    networks: str = Field(sa_column=Column(Text, nullable=False))
    client_id: str = Field(
        sa_column=Column(String(128), ForeignKey("auth_client.client_id"), nullable=False)
    )


class MpiLinkRow(SQLModel, table=True):
    """Two Patient records judged to be one person, or waiting for a person to decide."""

    __tablename__ = "mpi_link"
    __table_args__ = (
        Index("ux_mpi_link_pair", "patient_a", "patient_b", unique=True),
        Index("ix_mpi_link_status", "status"),
        Index("ix_mpi_link_b", "patient_b"),
    )

    pk: int | None = _pk()
    patient_a: str = Field(max_length=64)
    patient_b: str = Field(max_length=64)
    score: float
    status: str = Field(max_length=16)  # linked | review | rejected
    method: str = Field(max_length=16)  # identifier | probabilistic | manual
    decided_by: str | None = Field(default=None, max_length=128)
    created_at: float
    decided_at: float | None = None
