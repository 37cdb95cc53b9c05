"""``gateway audit verify``: recompute every leaf hash and every checkpointed root, check every
signed checkpoint (C2SP signed-note, Ed25519) and that each is consistent with the previous one
(RFC 9162 §2.1.4), and name the first bad index.

What is caught, and where it is named:

- an entry changed in place: its bytes no longer hash to the stored leaf hash (exact index), or,
  if the stored hash was rewritten too, the signed root stops matching; the level-0 copy of the
  leaf hash taken at checkpoint time then names the exact index;
- an entry deleted, inserted or moved: each leaf ends with ``"index":<i>}`` (see
  :func:`gateway.audit.canonical.leaf_bytes`), so the first position whose entry names another index
  is exact; a gap in the stored indexes is exact;
- truncation: fewer entries than a signed checkpoint covers (the first missing index);
- a forged checkpoint: a note that does not verify under the log's key, or whose stored size and
  root disagree with the signed text, or that is not consistent with its predecessor.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from gateway.audit.canonical import leaf_bytes
from gateway.audit.checkpoint import proof_hashes
from gateway.audit.deep import deep_check
from gateway.audit.errors import BadNote, TamperDetected
from gateway.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_ranges,
    leaf_hash,
    perfect_cover,
    verify_consistency,
)
from gateway.audit.notes import NoteVerifier, open_checkpoint
from gateway.audit.reader import read_leaves
from gateway.audit.report import Problem, Report
from gateway.audit.repository import AuditRepository
from gateway.db.session import Database

_MAX_PROBLEMS_PER_RANGE = 5
_MIN_BLOCK = 1 << 12


@dataclass
class RangeScan:
    start: int
    end: int
    count: int = 0
    problems: list[Problem] = field(default_factory=list)
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)
    marks: dict[int, list[tuple[int, int, bytes]]] = field(default_factory=dict)


def scan_range(url: str, start: int, end: int, marks: Sequence[int]) -> RangeScan:
    """Read leaves ``[start, end)`` from the database at ``url`` and :func:`scan_rows` them."""
    return scan_rows(read_leaves(url, start, end), start, end, marks)


def scan_rows(
    rows: Iterable[tuple[int, bytes, bytes | None]], start: int, end: int, marks: Sequence[int]
) -> RangeScan:
    """Hash leaves ``[start, end)`` into their perfect subtrees, snapshotting them at each mark.

    ``start`` is 0 or a multiple of a power of two at least ``end - start`` (see :func:`_split`),
    so the subtrees are those of a tree of ``end - start`` leaves and merge on the bits of the
    local position, as in RFC 9162 §2.1.1. The leaf at position ``p`` is
    ``{"event": <body>, "index": p}``: a row moved, inserted or renumbered no longer hashes to
    its stored leaf hash, and a deleted row leaves a gap.
    """
    scan = RangeScan(start, end)
    wanted = {m for m in marks if start < m <= end}
    problems = scan.problems
    stack: list[bytes] = []
    pop, push = stack.pop, stack.append
    sha = hashlib.sha256
    pos = start
    for idx, body, stored in rows:
        if idx != pos:
            problems.append(Problem(f"entry {pos} is missing (deleted)", pos))
            break
        h = sha(b'\x00{"event":' + body + b',"index":%d}' % pos).digest()
        if h != stored and len(problems) < _MAX_PROBLEMS_PER_RANGE:
            problems.append(
                Problem(
                    f"entry {pos} was changed, moved or inserted: it no longer hashes to its "
                    "stored leaf hash",
                    pos,
                )
            )
        local = pos - start
        while local & 1:
            h = sha(b"\x01" + pop() + h).digest()
            local >>= 1
        push(h)
        pos += 1
        if pos in wanted:
            scan.marks[pos] = _nodes(start, pos, stack)
    scan.count = pos - start
    if pos != end and not problems:
        problems.append(Problem(f"entries from {pos} to {end - 1} are missing", pos))
    scan.nodes = _nodes(start, pos, stack)
    return scan


def _nodes(start: int, end: int, stack: list[bytes]) -> list[tuple[int, int, bytes]]:
    return [
        (level, index, h)
        for (level, index), h in zip(perfect_cover(start, end), stack, strict=True)
    ]


def _split(total: int, jobs: int) -> list[tuple[int, int]]:
    """Aligned blocks, one per worker: a power-of-two size, each starting on a multiple of it."""
    if jobs <= 1 or total < 2 * _MIN_BLOCK:
        return [(0, total)]
    size = max(1 << (-(-total // jobs) - 1).bit_length(), _MIN_BLOCK)
    return [(a, min(a + size, total)) for a in range(0, total, size)]


def verify_log(
    db: Database, verifier: NoteVerifier, *, jobs: int = 1, deep: bool = False
) -> Report:
    """Verify the whole log in ``db`` against the log key ``verifier``."""
    began = time.perf_counter()
    report = Report()
    with db.unit_of_work() as session:
        repo = AuditRepository(session)
        report.sequenced = repo.size()
        signed = _check_signatures(repo, verifier, report)
    report.checkpoints = len(signed)
    # Read as far as either the log or a signed checkpoint says it goes (truncation shows).
    total = max([report.sequenced, *signed])
    ranges = _split(total, jobs)
    marks = sorted(signed)
    if len(ranges) == 1:
        scans = [scan_range(db.url, 0, total, marks)]
    else:
        with ProcessPoolExecutor(len(ranges)) as pool:
            futures = [pool.submit(scan_range, db.url, a, b, marks) for a, b in ranges]
            scans = [f.result() for f in futures]
    roots = _merge(scans, report)
    report.entries = sum(s.count for s in scans)
    _check_roots(db, signed, roots, report)
    _check_consistency(db, signed, report)
    if deep:
        report.problems += deep_check(db, total)
    report.seconds = time.perf_counter() - began
    return report


def _check_signatures(
    repo: AuditRepository, verifier: NoteVerifier, report: Report
) -> dict[int, bytes]:
    signed: dict[int, bytes] = {}
    for row in repo.checkpoints():
        size = int(row.size)
        try:
            cp = open_checkpoint(row.note, verifier)
        except BadNote as exc:
            report.problems.append(
                Problem(f"checkpoint at size {size} is forged or damaged: {exc}", checkpoint=size)
            )
            continue
        if cp.size != size or cp.root != bytes(row.root):
            report.problems.append(
                Problem(
                    f"checkpoint at size {size}: the stored size or root differs from the signed "
                    f"note (size {cp.size})",
                    checkpoint=size,
                )
            )
            continue
        signed[size] = cp.root
    return signed


def _merge(scans: list[RangeScan], report: Report) -> dict[int, bytes]:
    roots: dict[int, bytes] = {0: EMPTY_ROOT}
    whole = CompactRange(0)
    for scan in scans:
        report.problems += scan.problems
        for size, nodes in scan.marks.items():
            partial = whole.copy()
            partial.extend_nodes(nodes, size)
            roots[size] = partial.root()
        whole.extend_nodes(scan.nodes, scan.end)
    return roots


def _check_roots(
    db: Database, signed: dict[int, bytes], roots: dict[int, bytes], report: Report
) -> None:
    previous = 0
    for size in sorted(signed):
        if roots.get(size) == signed[size]:
            previous = size
            continue
        report.problems.append(_locate(db, previous, size))
        return


def _locate(db: Database, start: int, end: int) -> Problem:
    """Name the first leaf in ``[start, end)`` that differs from its checkpointed level-0 copy."""
    with db.unit_of_work() as session:
        copies = AuditRepository(session).level_zero(start, end)
    pos = start
    for idx, body, _stored in read_leaves(db.url, start, end):
        if idx != pos or leaf_hash(leaf_bytes(body, pos)) != copies.get(pos):
            return Problem(
                f"entry {pos} is not the entry checkpoint {end} signed: it was changed, moved, "
                "inserted or deleted, and its stored hash rewritten to match",
                pos,
                end,
            )
        pos += 1
    if pos < end:
        return Problem(f"entries from {pos} to {end - 1} are missing", pos, end)
    return Problem(
        f"the signed checkpoint at size {end} no longer matches entries {start} to {end - 1}, "
        "and their stored tree was rewritten too: the first bad index is at or after "
        f"{start}",
        start,
        end,
    )


def _check_consistency(db: Database, signed: dict[int, bytes], report: Report) -> None:
    """Each signed checkpoint must be an append-only extension of the one before (RFC 9162
    §2.1.4.2), proven from the stored tree nodes."""
    sizes = [s for s in sorted(signed) if s > 0]
    with db.unit_of_work() as session:
        for first, second in itertools.pairwise(sizes):
            try:
                proof = proof_hashes(session, consistency_ranges(first, second))
            except TamperDetected:
                proof = []
            if not verify_consistency(first, second, signed[first], signed[second], proof):
                report.problems.append(
                    Problem(
                        f"checkpoint at size {second} is not consistent with checkpoint {first}",
                        checkpoint=second,
                    )
                )
                return
