"""RFC 9162 §2.1: the gateway's tree, proofs and verifiers against published test vectors and an
independent transcription of the RFC (tests/audit/rfc9162.py)."""

from __future__ import annotations

import itertools

import pytest

from gateway.audit import merkle
from tests.audit import rfc9162 as ref

# The Certificate Transparency reference leaves and roots (RFC 6962 test data, also used by
# transparency-dev/merkle), sizes 0 to 8.
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243")]
LEAVES += [bytes.fromhex("5051525354555657"), bytes.fromhex("606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}  # fmt: skip
CONSISTENCY = {
    (2, 8): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}  # fmt: skip

MANY = [bytes([i % 256, i // 256, 7]) for i in range(70)]
MANY_HASHES = [merkle.leaf_hash(d) for d in MANY]


def stored_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every perfect subtree, as the checkpointer stores them."""
    nodes: dict[tuple[int, int], bytes] = {}
    tree = merkle.CompactTree(on_node=lambda level, index, h: nodes.__setitem__((level, index), h))
    tree.extend(merkle.leaf_hash(d) for d in leaves)
    return nodes


def hashes_for(ranges: list[tuple[int, int]], leaves: list[bytes]) -> list[bytes]:
    nodes = stored_nodes(leaves)
    return [merkle.range_hash(a, b, nodes) for a, b in ranges]


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_published_vectors(size: int) -> None:
    hashes = [merkle.leaf_hash(d) for d in LEAVES[:size]]
    assert merkle.root_of(hashes).hex() == ROOTS[size]
    tree = merkle.CompactTree()
    tree.extend(hashes)
    assert tree.root().hex() == ROOTS[size]
    assert ref.mth(LEAVES[:size]).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size"), sorted(INCLUSION))
def test_inclusion_proofs_match_the_published_vectors(index: int, size: int) -> None:
    got = hashes_for(merkle.inclusion_ranges(index, size), LEAVES[:size])
    assert [h.hex() for h in got] == INCLUSION[(index, size)]
    root = bytes.fromhex(ROOTS[size])
    assert merkle.verify_inclusion(index, size, merkle.leaf_hash(LEAVES[index]), got, root)


@pytest.mark.parametrize(("first", "second"), sorted(CONSISTENCY))
def test_consistency_proofs_match_the_published_vectors(first: int, second: int) -> None:
    got = hashes_for(merkle.consistency_ranges(first, second), LEAVES[:second])
    assert [h.hex() for h in got] == CONSISTENCY[(first, second)]
    old, new = bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
    assert merkle.verify_consistency(first, second, old, new, got)


def test_every_inclusion_proof_equals_the_rfc_definition_and_verifies_both_ways() -> None:
    for size in range(1, len(MANY) + 1):
        root = ref.mth(MANY[:size])
        for index in range(size):
            ours = hashes_for(merkle.inclusion_ranges(index, size), MANY[:size])
            assert ours == ref.path(index, MANY[:size]), (index, size)
            leaf = merkle.leaf_hash(MANY[index])
            assert ref.verify_inclusion(index, size, leaf, ours, root)
            assert merkle.verify_inclusion(index, size, leaf, ours, root)


def test_every_consistency_proof_equals_the_rfc_definition_and_verifies_both_ways() -> None:
    for first, second in itertools.combinations(range(1, 41), 2):
        ours = hashes_for(merkle.consistency_ranges(first, second), MANY[:second])
        assert ours == ref.proof(first, MANY[:second]), (first, second)
        old, new = ref.mth(MANY[:first]), ref.mth(MANY[:second])
        assert ref.verify_consistency(first, second, old, new, ours)
        assert merkle.verify_consistency(first, second, old, new, ours)


def test_wrong_proofs_are_rejected() -> None:
    size, index = 37, 12
    root = ref.mth(MANY[:size])
    proof = ref.path(index, MANY[:size])
    leaf = merkle.leaf_hash(MANY[index])
    assert not merkle.verify_inclusion(index + 1, size, leaf, proof, root)
    assert not merkle.verify_inclusion(index, size * 2, leaf, proof, root)
    assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"x"), proof, root)
    assert not merkle.verify_inclusion(index, size, leaf, proof[:-1], root)
    assert not merkle.verify_inclusion(index, size, leaf, [*proof, root], root)
    for i in range(len(proof)):
        bent = [*proof[:i], merkle.leaf_hash(b"bent"), *proof[i + 1 :]]
        assert not merkle.verify_inclusion(index, size, leaf, bent, root)
    old, new = ref.mth(MANY[:13]), ref.mth(MANY[:37])
    cproof = ref.proof(13, MANY[:37])
    assert not merkle.verify_consistency(13, 37, new, new, cproof)
    assert not merkle.verify_consistency(13, 37, old, old, cproof)
    assert not merkle.verify_consistency(12, 37, old, new, cproof)
    assert not merkle.verify_consistency(13, 37, old, new, cproof[:-1])
    assert not merkle.verify_consistency(13, 37, old, new, [])
    assert merkle.verify_consistency(13, 13, old, old, [])
    assert not merkle.verify_consistency(13, 13, old, new, [])


def test_trees_built_in_pieces_join_into_the_same_root() -> None:
    for cut in (0, 1, 5, 16, 33, 64, 70):
        left, right = merkle.CompactRange(0), merkle.CompactRange(cut)
        for h in MANY_HASHES[:cut]:
            left.push(h)
        for h in MANY_HASHES[cut:]:
            right.push(h)
        left.extend_nodes(right.nodes, len(MANY))
        assert left.root() == ref.mth(MANY)


def test_a_tree_resumes_from_its_stored_frontier() -> None:
    nodes = stored_nodes(MANY[:45])
    frontier = [nodes[k] for k in merkle.perfect_cover(0, 45)]
    tree = merkle.CompactTree.at(45, frontier)
    tree.extend(MANY_HASHES[45:])
    assert tree.root() == ref.mth(MANY)
