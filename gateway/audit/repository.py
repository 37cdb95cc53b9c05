"""All SQL over the audit tables. Only this module touches the session for audit data."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, or_, select, text, tuple_, update
from sqlalchemy.orm import Session

from gateway.audit.append_sql import append_statement
from gateway.audit.canonical import leaf_bytes
from gateway.audit.copies import insert_copies
from gateway.audit.fields import LeafFields
from gateway.audit.merkle import leaf_hash
from gateway.db.tables_audit import (
    AccountingSuspensionRow,
    AuditCheckpointRow,
    AuditLeafRow,
    AuditNodeRow,
    AuditPatientRow,
    BtgReviewRow,
)

LEAF = AuditLeafRow.__table__  # type: ignore[attr-defined]
PATIENT = AuditPatientRow.__table__  # type: ignore[attr-defined]
NODE = AuditNodeRow.__table__  # type: ignore[attr-defined]
CHECKPOINT = AuditCheckpointRow.__table__  # type: ignore[attr-defined]
REVIEW = BtgReviewRow.__table__  # type: ignore[attr-defined]
SUSPENSION = AccountingSuspensionRow.__table__  # type: ignore[attr-defined]

# pg_advisory_xact_lock key serialising sequencing and checkpointing across gateway processes.
_LOG_LOCK = 0x6761_7564_6974  # "gaudit"
BTG_KIND = "110113/110127"
_PG_SEQUENCE = text(
    "UPDATE audit_leaf AS l SET idx = v.i, leaf_hash = v.h FROM unnest(CAST(:s AS bigint[]), "
    "CAST(:i AS bigint[]), CAST(:h AS bytea[])) AS v(s, i, h) WHERE l.seq = v.s"
)
_NODE_BATCH = 500


@dataclass(frozen=True, slots=True)
class LeafFilter:
    """Auditor search over leaf columns (all optional, combined with AND)."""

    patient: str | None = None
    agent: str | None = None
    agency: str | None = None
    action: str | None = None
    outcome: str | None = None
    purpose: str | None = None
    since: float | None = None
    until: float | None = None


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # ---- appending -----------------------------------------------------------------------------
    def append(self, body: bytes, fields: LeafFields) -> None:
        """Insert an event awaiting its log index, with its patient links. No lock is taken, so
        appends never queue; on PostgreSQL it is one statement."""
        if self.dialect == "postgresql":
            self.session.execute(*append_statement(body, fields))
            return
        seq = self.session.execute(
            insert(LEAF).returning(LEAF.c.seq), {"body": body, **fields.columns()}
        ).scalar_one()
        if fields.patients:
            self.session.execute(
                insert(PATIENT), [{"seq": seq, "patient": p} for p in fields.patients]
            )

    def lock_log(self) -> None:
        """Serialise sequencing and checkpointing (SQLite's BEGIN IMMEDIATE already does)."""
        if self.dialect == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOG_LOCK})

    def sequence(self, batch: int = 5_000, *, copies: bool = True) -> int:
        """Give committed events awaiting an index the next gap-free indexes, in insertion order,
        with their RFC 9162 leaf hashes, and store their AuditEvent resource copies
        (:mod:`gateway.audit.copies`). Call under :meth:`lock_log`; returns the new log size."""
        size = self.size()
        while True:
            pending = self.session.execute(
                select(LEAF.c.seq, LEAF.c.body)
                .where(LEAF.c.idx.is_(None))
                .order_by(LEAF.c.seq)
                .limit(batch)
            ).all()
            if not pending:
                return size
            params = []
            for seq, body in pending:
                params.append({"s": seq, "i": size, "h": leaf_hash(leaf_bytes(bytes(body), size))})
                size += 1
            if self.dialect == "postgresql":
                # One statement for the batch: arrays unnested into the rows to update.
                self.session.execute(
                    _PG_SEQUENCE,
                    {k: [p[k] for p in params] for k in ("s", "i", "h")},
                )
            else:
                self.session.execute(
                    update(LEAF)
                    .where(LEAF.c.seq == bindparam("s"))
                    .values(idx=bindparam("i"), leaf_hash=bindparam("h")),
                    params,
                )
            if copies:
                insert_copies(self.session, [bytes(body) for _, body in pending])

    # ---- reading the log -----------------------------------------------------------------------
    def size(self) -> int:
        """The number of sequenced entries (indexes are gap-free from 0)."""
        value = self.session.execute(select(func.max(LEAF.c.idx))).scalar()
        return 0 if value is None else int(value) + 1

    def pending(self) -> int:
        return int(
            self.session.execute(
                select(func.count()).select_from(LEAF).where(LEAF.c.idx.is_(None))
            ).scalar_one()
        )

    def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """(index, leaf bytes) for sequenced entries in ``[start, end)``."""
        rows = self.session.execute(
            select(LEAF.c.idx, LEAF.c.body)
            .where(LEAF.c.idx >= start, LEAF.c.idx < end)
            .order_by(LEAF.c.idx)
        )
        return [(int(i), leaf_bytes(bytes(b), int(i))) for i, b in rows]

    def leaf_rows(self, start: int, end: int, batch: int = 5000) -> Iterator[Row[Any]]:
        """(idx, body, leaf_hash) in index order, fetched in batches."""
        pos = start
        while pos < end:
            rows = self.session.execute(
                select(LEAF.c.idx, LEAF.c.body, LEAF.c.leaf_hash)
                .where(LEAF.c.idx >= pos, LEAF.c.idx < end)
                .order_by(LEAF.c.idx)
                .limit(batch)
            ).all()
            if not rows:
                return
            yield from rows
            pos = int(rows[-1][0]) + 1

    def event(self, event_id: str) -> Row[Any] | None:
        return self.session.execute(select(LEAF).where(LEAF.c.event_id == event_id)).first()

    def patients_of(self, seqs: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        if not seqs:
            return out
        rows = self.session.execute(
            select(PATIENT.c.seq, PATIENT.c.patient).where(PATIENT.c.seq.in_(list(seqs)))
        )
        for seq, patient in rows:
            out.setdefault(int(seq), []).append(patient)
        return out

    # ---- tree nodes ----------------------------------------------------------------------------
    def nodes(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        wanted = sorted(set(keys))
        out: dict[tuple[int, int], bytes] = {}
        for i in range(0, len(wanted), _NODE_BATCH):
            chunk = wanted[i : i + _NODE_BATCH]
            rows = self.session.execute(
                select(NODE.c.level, NODE.c.idx, NODE.c.hash).where(
                    tuple_(NODE.c.level, NODE.c.idx).in_(chunk)
                )
            )
            out.update({(int(r[0]), int(r[1])): bytes(r[2]) for r in rows})
        return out

    def level_zero(self, start: int, end: int) -> dict[int, bytes]:
        rows = self.session.execute(
            select(NODE.c.idx, NODE.c.hash).where(
                NODE.c.level == 0, NODE.c.idx >= start, NODE.c.idx < end
            )
        )
        return {int(r[0]): bytes(r[1]) for r in rows}

    def insert_nodes(self, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), 5000):
            self.session.execute(insert(NODE), rows[i : i + 5000])

    # ---- checkpoints ---------------------------------------------------------------------------
    def latest_checkpoint(self) -> Row[Any] | None:
        return self.session.execute(
            select(CHECKPOINT).order_by(CHECKPOINT.c.size.desc()).limit(1)
        ).first()

    def checkpoints(self) -> list[Row[Any]]:
        return list(self.session.execute(select(CHECKPOINT).order_by(CHECKPOINT.c.size)))

    def insert_checkpoint(self, size: int, root: bytes, note: str, created_at: float) -> None:
        self.session.execute(
            insert(CHECKPOINT).values(size=size, root=root, note=note, created_at=created_at)
        )

    # ---- auditors' queries ---------------------------------------------------------------------
    def search(self, flt: LeafFilter, *, limit: int, offset: int = 0) -> list[Row[Any]]:
        conds = []
        stmt = select(LEAF)
        if flt.patient:
            stmt = stmt.join(PATIENT, PATIENT.c.seq == LEAF.c.seq)
            conds.append(PATIENT.c.patient == flt.patient)
        if flt.agent:
            conds.append(or_(LEAF.c.client_id == flt.agent, LEAF.c.username == flt.agent))
        for column, value in (
            (LEAF.c.agency, flt.agency),
            (LEAF.c.action, flt.action),
            (LEAF.c.outcome, flt.outcome),
            (LEAF.c.purpose, flt.purpose),
        ):
            if value:
                conds.append(column == value)
        if flt.since is not None:
            conds.append(LEAF.c.recorded >= flt.since)
        if flt.until is not None:
            conds.append(LEAF.c.recorded < flt.until)
        stmt = stmt.where(*conds).order_by(LEAF.c.seq).offset(offset).limit(limit)
        return list(self.session.execute(stmt))

    def disclosures(self, patient: str, since: float, until: float) -> list[Row[Any]]:
        """Disclosure leaves naming ``patient`` recorded in [since, until), oldest first."""
        stmt = (
            select(LEAF)
            .join(PATIENT, PATIENT.c.seq == LEAF.c.seq)
            .where(
                PATIENT.c.patient == patient,
                LEAF.c.disclosure.is_(True),
                LEAF.c.recorded >= since,
                LEAF.c.recorded < until,
            )
            .order_by(LEAF.c.recorded, LEAF.c.seq)
        )
        return list(self.session.execute(stmt))

    def suspensions(
        self, patient: str | None = None, *, active_at: float | None = None
    ) -> list[Row[Any]]:
        conds = []
        if patient is not None:
            conds.append(SUSPENSION.c.patient == patient)
        if active_at is not None:
            conds.append(SUSPENSION.c.until > active_at)
        stmt = select(SUSPENSION).where(*conds).order_by(SUSPENSION.c.created_at)
        return list(self.session.execute(stmt))

    def insert_suspension(self, **values: Any) -> int:
        result = self.session.execute(
            insert(SUSPENSION).values(**values).returning(SUSPENSION.c.pk)
        )
        return int(result.scalar_one())

    def btg_events(self, status: str, *, limit: int, offset: int = 0) -> list[Row[Any]]:
        stmt = (
            select(LEAF, REVIEW.c.reviewer, REVIEW.c.note, REVIEW.c.reviewed_at)
            .outerjoin(REVIEW, REVIEW.c.seq == LEAF.c.seq)
            .where(LEAF.c.kind == BTG_KIND)
        )
        if status == "pending":
            stmt = stmt.where(REVIEW.c.seq.is_(None))
        elif status == "reviewed":
            stmt = stmt.where(REVIEW.c.seq.is_not(None))
        stmt = stmt.order_by(LEAF.c.seq).offset(offset).limit(limit)
        return list(self.session.execute(stmt))

    def review_of(self, seq: int) -> Row[Any] | None:
        return self.session.execute(select(REVIEW).where(REVIEW.c.seq == seq)).first()

    def insert_review(self, seq: int, reviewer: str, note: str, reviewed_at: float) -> None:
        self.session.execute(
            insert(REVIEW).values(seq=seq, reviewer=reviewer, note=note, reviewed_at=reviewed_at)
        )
