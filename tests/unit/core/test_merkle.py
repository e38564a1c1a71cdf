"""RFC 6962/9162 Merkle proofs: every inclusion and consistency proof verifies; tampering fails."""

from __future__ import annotations

import hashlib

from shared.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


def recursive_root(hs: list[bytes]) -> bytes:
    """The RFC's definition, written the slow obvious way, to check the fast one."""
    if not hs:
        return hashlib.sha256(b"").digest()
    if len(hs) == 1:
        return hs[0]
    k = 1
    while k * 2 < len(hs):
        k *= 2
    return node_hash(recursive_root(hs[:k]), recursive_root(hs[k:]))


LEAVES = [leaf_hash(f"event-{i}".encode()) for i in range(33)]


def test_root_matches_the_rfc_definition() -> None:
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    for n in range(1, 34):
        assert root_from_leaf_hashes(LEAVES[:n]) == recursive_root(LEAVES[:n])


def test_known_vector_from_rfc_6962_test_data() -> None:
    # Certificate Transparency's reference vectors: leaves "", 0x00, 0x10, ...
    leaves = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ]
    root = root_from_leaf_hashes([leaf_hash(x) for x in leaves])
    assert root.hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def test_every_inclusion_proof_verifies_and_a_wrong_leaf_does_not() -> None:
    for n in range(1, 34):
        root = root_from_leaf_hashes(LEAVES[:n])
        for i in range(n):
            proof = inclusion_proof(LEAVES, i, n)
            assert verify_inclusion(LEAVES[i], i, n, proof, root)
            assert not verify_inclusion(leaf_hash(b"forged"), i, n, proof, root)
            if n > 1:
                assert not verify_inclusion(LEAVES[i], (i + 1) % n, n, proof, root)


def test_every_consistency_proof_verifies_and_a_rewritten_history_does_not() -> None:
    for new in range(1, 34):
        new_root = root_from_leaf_hashes(LEAVES[:new])
        for old in range(1, new + 1):
            old_root = root_from_leaf_hashes(LEAVES[:old])
            proof = consistency_proof(LEAVES, old, new)
            assert verify_consistency(old, new, old_root, new_root, proof), (old, new)
            forged = [*LEAVES[:new]]
            forged[old - 1] = leaf_hash(b"rewritten")
            forged_root = root_from_leaf_hashes(forged)
            if old < new:
                assert not verify_consistency(
                    old, new, old_root, forged_root, consistency_proof(forged, old, new)
                )
