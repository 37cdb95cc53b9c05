"""RFC 9162 §2.1 Merkle hash trees: hashing, streaming roots, inclusion and consistency proofs.

- Leaf hash ``SHA-256(0x00 || d)``, node hash ``SHA-256(0x01 || left || right)``, the empty tree's
  hash ``SHA-256()`` (§2.1.1).
- A tree of n leaves splits at k, the largest power of two smaller than n. Every range the
  recursion visits is therefore a run of *perfect* subtrees aligned on their own size, so any such
  range hash is a right fold over its :func:`perfect_cover`, and a stored table of perfect subtree
  hashes ("nodes", keyed by level and index) is enough to serve any proof.
- Proofs are generated as lists of leaf ranges (§2.1.3.1 PATH, §2.1.4.1 SUBPROOF); the caller turns
  each range into a hash from whatever storage it has. Verification (§2.1.3.2, §2.1.4.2) follows
  the RFC's bit-walking algorithms, independent of how the proof was produced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()

Node = tuple[int, int]
"""A perfect subtree: (level, index) covers leaves ``[index * 2**level, (index + 1) * 2**level)``."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``MTH({d}) = SHA-256(0x00 || d)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x01 || MTH(left) || MTH(right))``."""
    return _sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_cover(start: int, end: int) -> list[Node]:
    """The aligned perfect subtrees, left to right, whose hashes fold into ``MTH(D[start:end])``.

    Valid for the ranges RFC 9162's recursion produces (``start`` a multiple of the largest power
    of two not exceeding ``end - start``, and in particular ``start = 0``).
    """
    out: list[Node] = []
    pos = start
    while pos < end:
        size = end - pos
        level = size.bit_length() - 1
        # An aligned subtree must also start on a multiple of its own size.
        while pos & ((1 << level) - 1):
            level -= 1
        out.append((level, pos >> level))
        pos += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of a perfect cover's hashes, left to right, into the range hash."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = _sha256(b"\x01" + h + acc).digest()
    return acc


def range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """``MTH(D[start:end])`` from stored perfect-subtree hashes."""
    return fold([nodes[n] for n in perfect_cover(start, end)])


# ---- proofs as ranges (RFC 9162 §2.1.3.1 and §2.1.4.1) ------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form ``PATH(index, D[size])``, leaf to root (§2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = split_point(hi - lo)
        if m < k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m = lo + k, m - k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form ``PROOF(first, D[second])`` (§2.1.4.1)."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        return []
    out: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        out.append((lo, hi))
    out.reverse()
    return out


def nodes_for(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    """Every perfect subtree needed to hash ``ranges``."""
    needed: set[Node] = set()
    for start, end in ranges:
        needed.update(perfect_cover(start, end))
    return needed


# ---- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----------------------------------------------


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show the leaf hash at ``index`` is in the tree ``root``?"""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of size ``second`` an append-only extension of ``first``?"""
    if first < 0 or second < first:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# ---- streaming construction ---------------------------------------------------------------------


@dataclass
class CompactTree:
    """The right edge of a growing tree: one hash per set bit of ``size`` (an O(log n) stack).

    ``push`` appends one leaf hash and merges completed subtrees; ``on_node`` (if set) sees every
    perfect subtree as it completes, leaves included, which is how stored nodes are produced.
    """

    size: int = 0
    stack: list[bytes] = field(default_factory=list)
    on_node: Callable[[int, int, bytes], None] | None = None

    @classmethod
    def at(cls, size: int, frontier: Sequence[bytes], **kw: object) -> CompactTree:
        """Resume from the hashes of ``perfect_cover(0, size)``."""
        if len(frontier) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} frontier hashes")
        return cls(size=size, stack=list(frontier), **kw)  # type: ignore[arg-type]

    def push(self, leaf: bytes) -> None:
        stack, size, emit = self.stack, self.size, self.on_node
        h, level, index = leaf, 0, size
        if emit is not None:
            emit(0, index, h)
        while size & 1:
            h = _sha256(b"\x01" + stack.pop() + h).digest()
            size >>= 1
            level += 1
            index >>= 1
            if emit is not None:
                emit(level, index, h)
        stack.append(h)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.push(leaf)

    def root(self) -> bytes:
        return fold(self.stack)


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """``MTH`` of a stream of leaf hashes in O(log n) memory."""
    stack: list[bytes] = []
    sha = _sha256
    for size, leaf in enumerate(leaf_hashes):
        h, s = leaf, size
        while s & 1:
            h = sha(b"\x01" + stack.pop() + h).digest()
            s >>= 1
        stack.append(h)
    return fold(stack)


@dataclass
class CompactRange:
    """The perfect subtrees covering leaves ``[start, end)``, for building a tree in pieces.

    Each piece of a log (say, one worker's share) pushes its leaves into a range of its own; ranges
    are then joined left to right with :meth:`extend_nodes`, and a range starting at 0 folds into
    the root. Nodes merge only with their aligned left sibling, so any split point works.
    """

    start: int = 0
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)
    end: int = -1

    def __post_init__(self) -> None:
        if self.end < 0:
            self.end = self.start

    def push(self, leaf: bytes) -> None:
        self._add(0, self.end, leaf)
        self.end += 1

    def _add(self, level: int, index: int, h: bytes) -> None:
        nodes = self.nodes
        while nodes:
            top_level, top_index, top_hash = nodes[-1]
            if top_level != level or top_index != index - 1 or top_index & 1:
                break
            nodes.pop()
            h = _sha256(b"\x01" + top_hash + h).digest()
            level, index = level + 1, index >> 1
        nodes.append((level, index, h))

    def extend_nodes(self, nodes: Iterable[tuple[int, int, bytes]], end: int) -> None:
        """Append the nodes of the range that starts where this one ends."""
        for level, index, h in nodes:
            self._add(level, index, h)
        self.end = end

    def copy(self) -> CompactRange:
        return CompactRange(self.start, list(self.nodes), self.end)

    def root(self) -> bytes:
        if self.start != 0:
            raise ValueError("only a range starting at leaf 0 has a root")
        return fold([h for _, _, h in self.nodes])
