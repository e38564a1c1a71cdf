"""RFC 6962 / RFC 9162 Merkle trees: tree hash, inclusion and consistency proofs.

Leaves are ``sha256(0x00 || leaf)``, interior nodes ``sha256(0x01 || left || right)``; a
tree of n leaves splits at the largest power of two below n. Verification follows RFC
9162 section 2.1.3.2 (inclusion) and 2.1.4.2 (consistency), so any third party with a
published checkpoint (size, root) can check a proof without trusting Safepath.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The tree hash over already-hashed leaves, bottom-up in O(n)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    # Pairing left to right and carrying an odd last node up gives the same tree as the
    # RFC's recursive split at the largest power of two.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _subtree(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    return root_from_leaf_hashes(hashes[lo:hi])


def inclusion_proof(hashes: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of the first ``size`` leaf hashes."""
    n = len(hashes) if size is None else size
    if not 0 <= index < n:
        raise IndexError("leaf index outside the tree")

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo <= 1:
            return []
        k = _split(hi - lo)
        if m < k:
            return [*path(m, lo, lo + k), _subtree(hashes, lo + k, hi)]
        return [*path(m - k, lo + k, hi), _subtree(hashes, lo, lo + k)]

    return path(index, 0, n)


def verify_inclusion(
    leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash_
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


def consistency_proof(
    hashes: Sequence[bytes], old_size: int, new_size: int | None = None
) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of the ``new_size`` tree."""
    n = len(hashes) if new_size is None else new_size
    if not 0 < old_size <= n:
        raise ValueError("old size must be in 1..new size")

    def sub(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if complete else [_subtree(hashes, lo, hi)]
        k = _split(hi - lo)
        if m <= k:
            return [*sub(m, lo, lo + k, complete), _subtree(hashes, lo + k, hi)]
        return [*sub(m - k, lo + k, hi, False), _subtree(hashes, lo, lo + k)]

    return sub(old_size, 0, n, True)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    if old_size == new_size:
        return not proof and old_root == new_root
    if not 0 < old_size < new_size:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
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
    return sn == 0 and fr == old_root and sr == new_root
