"""Audit tables: the append-only event log (RFC 9162 Merkle leaves), its stored tree nodes and
signed checkpoints, and the auditors' working tables (break-the-glass reviews, accounting
suspensions).

``audit_leaf``, ``audit_patient``, ``audit_node`` and ``audit_checkpoint`` are append-only: migration
0003 adds triggers that refuse UPDATE, DELETE and TRUNCATE on them (PostgreSQL and SQLite), except
the sequencer's one-time assignment of a leaf's log index and hash.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from gateway.db.tables import _pk

_Index = BigInteger().with_variant(Integer(), "sqlite")


class AuditLeafRow(SQLModel, table=True):
    """One audit event: its canonical bytes, its place in the log and the fields auditors search.

    An event is inserted in the transaction of the access it records (``seq`` orders inserts, with
    no lock held); the sequencer later gives committed events their gap-free log ``idx`` and the
    RFC 9162 leaf hash of ``{"event": <body>, "index": idx}``. Setting those two columns, once,
    is the only change the append-only triggers allow. Every other column is derived from ``body``
    and can be re-derived (``gateway audit verify --deep``).
    """

    __tablename__ = "audit_leaf"
    __table_args__ = (
        Index("ix_audit_leaf_recorded", "recorded"),
        Index("ix_audit_leaf_kind", "kind", "seq"),
        Index("ix_audit_leaf_agency", "agency", "recorded"),
        Index(
            "ix_audit_leaf_pending",
            "seq",
            postgresql_where=text("idx IS NULL"),
            sqlite_where=text("idx IS NULL"),
        ),
    )

    seq: int | None = Field(
        default=None, sa_column=Column(_Index, primary_key=True, autoincrement=True)
    )
    idx: int | None = Field(default=None, sa_column=Column(_Index, nullable=True, unique=True))
    event_id: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    recorded: float = Field(sa_column=Column(Float, nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    leaf_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary(32), nullable=True))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    action: str = Field(sa_column=Column(String(1), nullable=False))
    outcome: str = Field(sa_column=Column(String(2), nullable=False))
    agency: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    client_id: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    username: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    purpose: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    disclosure: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    recipient: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    what: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AuditPatientRow(SQLModel, table=True):
    """The patients an event names (entity role 1), for accounting and patient search."""

    __tablename__ = "audit_patient"
    __table_args__ = (Index("ix_audit_patient_lookup", "patient", "seq"),)

    seq: int = Field(sa_column=Column(_Index, primary_key=True, autoincrement=False))
    patient: str = Field(sa_column=Column(String(80), primary_key=True))


class AuditNodeRow(SQLModel, table=True):
    """A perfect subtree hash (RFC 9162 §2.1), stored when a checkpoint covers it.

    Level 0 rows are leaf hashes copied at checkpoint time: an independent record that lets
    verification name the exact leaf that changed after it was checkpointed.
    """

    __tablename__ = "audit_node"

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(_Index, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class AuditCheckpointRow(SQLModel, table=True):
    """A signed checkpoint (C2SP tlog-checkpoint note) of the log at ``size`` leaves."""

    __tablename__ = "audit_checkpoint"

    size: int = Field(sa_column=Column(_Index, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: float = Field(sa_column=Column(Float, nullable=False))


class BtgReviewRow(SQLModel, table=True):
    """An auditor's review of one break-the-glass event (45 CFR 164.312(a)(2)(ii))."""

    __tablename__ = "audit_btg_review"

    seq: int = Field(
        sa_column=Column(
            _Index, ForeignKey("audit_leaf.seq"), primary_key=True, autoincrement=False
        )
    )
    reviewer: str = Field(sa_column=Column(String(128), nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    reviewed_at: float = Field(sa_column=Column(Float, nullable=False))


class AccountingSuspensionRow(SQLModel, table=True):
    """A law-enforcement or health-oversight suspension of accounting (45 CFR 164.528(a)(2))."""

    __tablename__ = "audit_accounting_suspension"
    __table_args__ = (Index("ix_audit_suspension_patient", "patient", "until"),)

    pk: int | None = _pk()
    patient: str = Field(sa_column=Column(String(80), nullable=False))
    recipient: str = Field(sa_column=Column(String(64), nullable=False))
    until: float = Field(sa_column=Column(Float, nullable=False))
    requested_by: str = Field(sa_column=Column(Text, nullable=False))
    written: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    statement: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_by: str = Field(sa_column=Column(String(128), nullable=False))
    created_at: float = Field(sa_column=Column(Float, nullable=False))


APPEND_ONLY_TABLES = ("audit_leaf", "audit_patient", "audit_node", "audit_checkpoint")
