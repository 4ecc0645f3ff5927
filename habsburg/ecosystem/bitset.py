"""A growable set of non-negative integers kept as packed bits (one bit per possible member).

The scrapers' near-duplicate filters remember every original document they ever kept: a set
over the whole store's row ids, so its size grows with the web (``scaled(baseline, 100)``: three
scrapers × 204 M rows). One bit per row instead of numpy's one byte per boolean keeps that to
25 MB per 200 M rows.
"""

from __future__ import annotations

import numpy as np


class BitSet:
    """Members ``0 .. capacity - 1`` as bits (bit ``i % 8`` of byte ``i // 8``, little-endian).

    ``contains(ids)`` and ``add(ids)`` take integer arrays (repeats allowed); ``grow(n)`` makes
    room for ids below ``n`` (capacity at least doubles, so growing costs amortised O(1) per id).
    """

    def __init__(self, capacity: int = 0) -> None:
        self._bytes = np.zeros((max(int(capacity), 0) + 7) // 8, dtype=np.uint8)

    @classmethod
    def from_bools(cls, flags: np.ndarray) -> BitSet:
        """The set of positions where ``flags`` is true (checkpoints written before packing)."""
        out = cls()
        out._bytes = np.packbits(np.asarray(flags, dtype=bool), bitorder="little")
        return out

    @property
    def capacity(self) -> int:
        """Ids below this can be tested and added."""
        return 8 * self._bytes.size

    @property
    def nbytes(self) -> int:
        return self._bytes.nbytes

    def grow(self, n: int) -> None:
        """Make room for ids ``0 .. n - 1`` (new ones are not members)."""
        if n > self.capacity:
            grown = np.zeros(max((n + 7) // 8, 2 * self._bytes.size), dtype=np.uint8)
            grown[: self._bytes.size] = self._bytes
            self._bytes = grown

    def copy(self) -> BitSet:
        """An independent copy."""
        out = BitSet()
        out._bytes = self._bytes.copy()
        return out

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Whether each id is a member (ids must be below :attr:`capacity`)."""
        ids = np.asarray(ids)
        bits = np.take(self._bytes, ids >> 3) >> (ids & 7).astype(np.uint8)
        return (bits & 1).astype(bool)

    def add(self, ids: np.ndarray) -> None:
        """Make every id a member (ids must be below :attr:`capacity`)."""
        ids = np.asarray(ids)
        if ids.size:
            np.bitwise_or.at(self._bytes, ids >> 3, np.left_shift(1, ids & 7).astype(np.uint8))

    def __len__(self) -> int:
        """Number of members."""
        return int(np.unpackbits(self._bytes).sum())

    def to_bools(self, n: int | None = None) -> np.ndarray:
        """Membership of ids ``0 .. n - 1`` (default: the whole capacity) as booleans."""
        n = self.capacity if n is None else n
        return np.unpackbits(self._bytes, count=n, bitorder="little").astype(bool)
