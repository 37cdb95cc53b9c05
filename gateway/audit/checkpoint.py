"""Signing checkpoints (C2SP tlog-checkpoint) and storing the tree nodes they cover.

A checkpoint extends the previous one: it resumes the tree from the stored frontier of the last
checkpoint (which must fold to that checkpoint's signed root), re-hashes every new leaf from its
bytes (and checks the stored hash and the index each leaf names), stores every perfect subtree that
completes, and signs ``<origin>\\n<size>\\n<root>\\n``. It never signs a tree that is not an
append-only extension of what it signed before (C2SP tlog-checkpoint, "Signatures").
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gateway.audit.canonical import leaf_bytes
from gateway.audit.errors import ProofUnavailable, TamperDetected
from gateway.audit.merkle import (
    CompactTree,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    nodes_for,
    perfect_cover,
    range_hash,
)
from gateway.audit.notes import Checkpoint, NoteSigner
from gateway.audit.reader import read_leaves
from gateway.audit.repository import AuditRepository
from gateway.db.session import Database

log = logging.getLogger("gateway.audit")
_FLUSH_NODES = 10_000


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str
    created: bool


def sequence(db: Database) -> int:
    """Give every committed event awaiting one its log index; returns the log size."""
    with db.unit_of_work() as session:
        repo = AuditRepository(session)
        repo.lock_log()
        return repo.sequence()


def create_checkpoint(
    session: Session, signer: NoteSigner, *, url: str | None = None
) -> SignedCheckpoint:
    """Sign a checkpoint of the whole log (or return the latest one if nothing is new).

    Without ``url`` it first sequences what is pending, in this transaction, and reads the new
    leaves through ``session``. With ``url`` it checkpoints what is already sequenced and committed,
    streaming the leaves through :func:`gateway.audit.reader.read_leaves` (much faster for a large
    backlog; sequenced rows never change, so another connection reads exactly the same bytes).
    """
    repo = AuditRepository(session)
    repo.lock_log()
    size = repo.sequence() if url is None else repo.size()
    last = repo.latest_checkpoint()
    prev = int(last.size) if last is not None else 0
    if last is not None and size == prev:
        return SignedCheckpoint(prev, bytes(last.root), last.note, created=False)
    if size < prev:
        raise TamperDetected(f"the log has {size} entries but {prev} were checkpointed", size)
    tree = _resume(repo, prev, None if last is None else bytes(last.root))
    pending: list[dict[str, Any]] = []

    def keep(level: int, index: int, h: bytes) -> None:
        pending.append({"level": level, "idx": index, "hash": h})
        if len(pending) >= _FLUSH_NODES:
            repo.insert_nodes(pending)
            pending.clear()

    tree.on_node = keep
    expected = prev
    rows = repo.leaf_rows(prev, size) if url is None else read_leaves(url, prev, size)
    for idx, body, stored in rows:
        if idx != expected:
            raise TamperDetected(f"leaf {expected} is missing", expected)
        h = leaf_hash(leaf_bytes(bytes(body), idx))
        if stored is None or h != bytes(stored):
            raise TamperDetected(f"leaf {idx} does not match its stored hash", idx)
        tree.push(h)
        expected += 1
    if expected != size:
        raise TamperDetected(f"leaf {expected} is missing", expected)
    repo.insert_nodes(pending)
    root = tree.root()
    note = signer.sign(Checkpoint(signer.name, size, root).text())
    repo.insert_checkpoint(size, root, note, time.time())
    return SignedCheckpoint(size, root, note, created=True)


def _resume(repo: AuditRepository, size: int, root: bytes | None) -> CompactTree:
    keys = perfect_cover(0, size)
    nodes = repo.nodes(keys)
    if any(k not in nodes for k in keys):
        raise TamperDetected(f"stored tree nodes covering the first {size} entries are missing")
    tree = CompactTree.at(size, [nodes[k] for k in keys])
    if root is not None and tree.root() != root:
        raise TamperDetected(f"the stored tree does not fold to the signed root at size {size}")
    return tree


def checkpoint(db: Database, signer: NoteSigner) -> SignedCheckpoint:
    """Sequence pending events, then sign a checkpoint, each in a unit of work of its own."""
    sequence(db)
    with db.unit_of_work() as session:
        return create_checkpoint(session, signer, url=db.url)


def covered_size(session: Session) -> int:
    last = AuditRepository(session).latest_checkpoint()
    return 0 if last is None else int(last.size)


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof for leaf ``index`` in the tree of ``size`` leaves."""
    _check_covered(session, size)
    if not 0 <= index < size:
        raise ProofUnavailable(f"index must be between 0 and {size - 1}", expression="index")
    return proof_hashes(session, inclusion_ranges(index, size))


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof between trees of ``first`` and ``second`` leaves."""
    _check_covered(session, second)
    if not 0 < first <= second:
        raise ProofUnavailable("from must be at least 1 and at most to", expression="from")
    return proof_hashes(session, consistency_ranges(first, second))


def _check_covered(session: Session, size: int) -> None:
    covered = covered_size(session)
    if size > covered or size < 1:
        raise ProofUnavailable(
            f"proofs are served for tree sizes 1 to {covered}, the latest signed checkpoint; "
            "later entries are covered by the next checkpoint",
            expression="size",
        )


def proof_hashes(session: Session, ranges: list[tuple[int, int]]) -> list[bytes]:
    nodes = AuditRepository(session).nodes(nodes_for(ranges))
    try:
        return [range_hash(a, b, nodes) for a, b in ranges]
    except KeyError:
        raise TamperDetected("stored tree nodes needed for the proof are missing") from None


async def run_in_background(
    db: Database, signer: NoteSigner, *, sequence_every: float = 1.0, checkpoint_every: float = 60.0
) -> None:
    """Sequence new events every ``sequence_every`` seconds and sign a checkpoint every
    ``checkpoint_every`` seconds, for as long as the app runs. Every replica may run this: both are
    serialised in the database, and an unchanged log signs nothing new."""
    next_checkpoint = time.monotonic() + checkpoint_every
    while True:
        await asyncio.sleep(sequence_every)
        try:
            if time.monotonic() >= next_checkpoint:
                next_checkpoint = time.monotonic() + checkpoint_every
                await asyncio.to_thread(checkpoint, db, signer)
            else:
                await asyncio.to_thread(sequence, db)
        except TamperDetected as exc:
            log.critical("audit log tampering detected, checkpoint refused: %s", exc)
        except Exception as exc:  # keep the schedule alive through a database outage
            log.error("audit sequencing failed: %s", type(exc).__name__, exc_info=exc)
