"""Categorical sampling at (and past) numpy's limit: inverse-CDF draws with a guide table.

Plain inverse-CDF sampling (``cumsum`` + ``searchsorted``) costs O(log K) per draw, with a random
memory access at every level. A guide table (Chen & Asau 1974; Devroye 1986, §III.2.4) splits
``[0, 1)`` into ``m`` equal buckets and stores, for every bucket without a CDF boundary, the one
outcome all its uniforms map to; only uniforms that land in one of the (at most K) buckets holding
a boundary fall back to ``searchsorted``. Every uniform gets exactly the outcome plain inverse-CDF
sampling gives it, so a run's random stream and results are bit-identical to the plain method;
the draws cost O(1) expected instead of O(log K).

Tables are built in O(K + m) and cached per distribution (:class:`TableCache`): a distribution is
rebuilt only when its array is a different object or its contents changed.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

#: buckets per outcome in a guide table (at most 1/GUIDE_FACTOR of the uniforms need a search)
GUIDE_FACTOR = 4
#: margin around bucket edges covering the rounding of ``u * m`` (u has 53-bit resolution)
_EDGE = 1e-9


class CategoricalTable:
    """An inverse-CDF sampler of one categorical distribution over ``0 .. K-1`` (int32 ids).

    ``draw(u)`` maps uniforms to outcomes exactly as ``searchsorted(cdf, u, side="right")``
    does (clamped to K-1); the guide table behind it is built on the first large draw.
    """

    __slots__ = ("_ambiguous", "_buckets", "_direct", "_uses", "cdf", "k")

    def __init__(self, probs: np.ndarray) -> None:
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 1 or p.size == 0:
            raise ValueError(f"probabilities must be a non-empty 1-d array, got shape {p.shape}")
        cdf = np.cumsum(p)
        if not cdf[-1] > 0:
            raise ValueError("probabilities must have a positive, finite sum")
        cdf /= cdf[-1]
        self.cdf = cdf
        self.k = int(p.size)
        self._direct: np.ndarray | None = None
        self._ambiguous: np.ndarray | None = None
        self._buckets = 0
        self._uses = 0

    def search(self, u: np.ndarray) -> np.ndarray:
        """Plain inverse-CDF lookup (the reference method)."""
        ids = np.searchsorted(self.cdf, u, side="right")
        return np.minimum(ids, self.k - 1).astype(np.int32)

    def _build_guide(self) -> None:
        m = GUIDE_FACTOR * self.k
        cdf = self.cdf
        # A bucket is ambiguous when a CDF value lies within _EDGE of it; the others map to the
        # number of CDF values below their left edge.
        lo = np.clip(np.floor((cdf - _EDGE) * m), 0, m - 1).astype(np.int64)
        hi = np.clip(np.floor((cdf + _EDGE) * m), 0, m - 1).astype(np.int64)
        ambiguous = np.zeros(m, dtype=bool)
        ambiguous[lo] = True
        ambiguous[hi] = True
        below = np.clip(np.floor(cdf * m), 0, m).astype(np.int64)
        counts = np.bincount(below, minlength=m + 1)
        direct = np.concatenate([[0], np.cumsum(counts[:m])])[:m]
        self._direct = np.minimum(direct, self.k - 1).astype(np.int32)
        self._ambiguous = ambiguous
        self._buckets = m

    def draw(self, u: np.ndarray) -> np.ndarray:
        """Outcomes of uniforms ``u`` in [0, 1)."""
        u = np.asarray(u, dtype=np.float64)
        if self._direct is None:
            # The table costs about as much as K·GUIDE_FACTOR searches: built for a draw that
            # large, or once the distribution is drawn from again (it is cached).
            self._uses += 1
            if u.size < self.k or (self._uses < 2 and u.size < GUIDE_FACTOR * self.k):
                return self.search(u)
            self._build_guide()
        m = self._buckets
        bucket = (u * m).astype(np.intp)
        np.minimum(bucket, m - 1, out=bucket)
        out = self._direct[bucket]
        hard = np.flatnonzero(self._ambiguous[bucket])
        if hard.size:
            out[hard] = self.search(u[hard])
        return out

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws (consumes exactly ``rng.random(n)``)."""
        return self.draw(rng.random(int(n)))


class TableCache:
    """Tables by distribution: reused while the same array holds the same values.

    Keyed by the array's identity (held weakly) and checked against a copy of its values, so an
    array changed in place is never sampled from a stale table. Bounded (least recently used out).
    """

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._tables: OrderedDict[int, tuple[weakref.ref, np.ndarray, CategoricalTable]] = (
            OrderedDict()
        )

    def table(self, probs: np.ndarray) -> CategoricalTable:
        key = id(probs)
        hit = self._tables.get(key)
        if hit is not None:
            ref, values, table = hit
            if ref() is probs and np.array_equal(values, probs):
                self._tables.move_to_end(key)
                return table
        table = CategoricalTable(probs)
        try:
            ref = weakref.ref(probs)
        except TypeError:  # not weak-referenceable (a list): not cached
            return table
        self._tables[key] = (ref, np.array(probs, copy=True), table)
        if len(self._tables) > self.maxsize:
            self._tables.popitem(last=False)
        return table


_TABLES = TableCache()


def sample_categorical(probs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` int32 ids drawn from ``probs`` (need not be normalised): inverse-CDF sampling,
    bit-identical to ``searchsorted(cumsum(probs) / sum, rng.random(n))``, with a cached guide
    table when the draw is large enough to pay for one."""
    n = int(n)
    if not isinstance(probs, np.ndarray) or n < len(probs):
        return CategoricalTable(probs).search(rng.random(n))
    return _TABLES.table(probs).sample(n, rng)


class CategoricalSampler:
    """A distribution bound to a generator: ``sampler(k)`` draws ``k`` ids (the callable
    :func:`fill_by_source` takes), with its table built once."""

    __slots__ = ("rng", "table")

    def __init__(self, probs: np.ndarray, rng: np.random.Generator) -> None:
        self.table = _TABLES.table(probs) if isinstance(probs, np.ndarray) else None
        if self.table is None:
            self.table = CategoricalTable(probs)
        self.rng = rng

    def __call__(self, k: int) -> np.ndarray:
        return self.table.sample(k, self.rng)


def group_by_key(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of ``keys`` grouped by key in one pass: ``(order, distinct, starts)`` with the
    positions holding ``distinct[i]`` at ``order[starts[i]:starts[i + 1]]``, in increasing order
    (a stable radix sort for small keys)."""
    keys = np.asarray(keys)
    if keys.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, keys.dtype), np.zeros(1, np.intp)
    lo, hi = int(keys.min()), int(keys.max())
    if hi - lo < 2**15:
        # small key range: counting sort (numpy's stable sort on 16-bit keys is a radix sort)
        shifted = (keys - lo).astype(np.int16)
        order = np.argsort(shifted, kind="stable")
        counts = np.bincount(shifted, minlength=hi - lo + 1)
        present = np.flatnonzero(counts)
        distinct = (present + lo).astype(keys.dtype)
        starts = np.concatenate([[0], np.cumsum(counts[present])])
        return order, distinct, starts
    order = np.argsort(keys, kind="stable")
    distinct, first = np.unique(keys[order], return_index=True)
    return order, distinct, np.append(first, keys.size)


def fill_by_source(
    source: np.ndarray, samplers: dict[int, Callable[[int], np.ndarray]], dtype=np.int32
) -> np.ndarray:
    """``out[i] = draw from samplers[source[i]]``: the positions are grouped by source in one
    pass, then each source draws its whole share at once (in increasing source order, so the
    random stream is the same as one masked pass per source)."""
    source = np.asarray(source)
    out = np.empty(source.size, dtype=dtype)
    order, distinct, starts = group_by_key(source)
    for i, key in enumerate(distinct.tolist()):
        lo, hi = int(starts[i]), int(starts[i + 1])
        out[order[lo:hi]] = samplers[key](hi - lo)
    return out
