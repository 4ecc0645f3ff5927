"""Categorical sampling at (and past) numpy's limit: inverse-CDF draws with a guide table.

Plain inverse-CDF sampling (``cumsum`` + ``searchsorted``) costs O(log K) per draw, with a random
memory access at every level. A guide table (Chen & Asau 1974; Devroye 1986, §III.2.4) splits
``[0, 1)`` into ``m`` equal buckets and stores, for every bucket without a CDF boundary, the one
outcome all its uniforms map to; only uniforms that land in one of the (at most K) buckets holding
a boundary fall back to ``searchsorted``. Every uniform gets exactly the outcome plain inverse-CDF
sampling gives it, so a run's random stream and results are bit-identical to the plain method;
the draws cost O(1) expected instead of O(log K).

Tables are built in O(K + m) and cached per distribution (:class:`TableCache`): a distribution is
rebuilt only when its array is a different object or its contents changed. A distribution drawn
from too little to pay for a guide table is searched with its uniforms in increasing order (a
binary search over sorted keys predicts its branches: ~3x faster than over random keys), and one
of at most :data:`FEW_OUTCOMES` outcomes by comparing each uniform with its CDF values; both give
exactly what ``searchsorted`` gives.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

#: buckets per outcome in a guide table (at most 1/GUIDE_FACTOR of the uniforms need a search)
GUIDE_FACTOR = 4
#: ... in the table of a cached distribution (built once, drawn from every month)
CACHED_GUIDE_FACTOR = 16
#: margin around bucket edges covering the rounding of ``u * m`` (u has 53-bit resolution)
_EDGE = 1e-9
#: a table is built once a distribution has been drawn from this many times its size (a table
#: costs about as much as K·GUIDE_FACTOR/8 sorted searches)
GUIDE_AFTER = 0.5
#: distributions of at most this many outcomes are drawn by comparisons, without a search
FEW_OUTCOMES = 8
#: searches of at least this many uniforms sort them first
_SORT_FROM = 256
#: key ranges this narrow are grouped by one pass per key instead of a sort
_FEW_KEYS = 4


class CategoricalTable:
    """An inverse-CDF sampler of one categorical distribution over ``0 .. K-1`` (int32 ids).

    ``draw(u)`` maps uniforms to outcomes exactly as ``searchsorted(cdf, u, side="right")``
    does (clamped to K-1); the guide table behind it is built once the distribution has been
    drawn from :data:`GUIDE_AFTER` times its size.
    """

    __slots__ = ("_ambiguous", "_buckets", "_direct", "_drawn", "_factor", "_few", "cdf", "k")

    _few: list[float] | None

    def __init__(self, probs: np.ndarray, guide_factor: int = GUIDE_FACTOR) -> None:
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 1 or p.size == 0:
            raise ValueError(f"probabilities must be a non-empty 1-d array, got shape {p.shape}")
        cdf = np.cumsum(p)
        if not cdf[-1] > 0:
            raise ValueError("probabilities must have a positive, finite sum")
        cdf /= cdf[-1]
        self._set_cdf(cdf, guide_factor)

    def _set_cdf(self, cdf: np.ndarray, guide_factor: int = GUIDE_FACTOR) -> None:
        self.cdf = cdf
        self._factor = int(guide_factor)
        self.k = int(cdf.size)
        self._direct: np.ndarray | None = None
        self._ambiguous: np.ndarray | None = None
        self._buckets = 0
        self._drawn = 0
        # the comparisons count CDF values <= u, which is the search's answer if the CDF is sorted
        self._few = (
            cdf[:-1].tolist()
            if self.k <= FEW_OUTCOMES and bool(np.all(cdf[1:] >= cdf[:-1]))
            else None
        )

    @classmethod
    def of_rows(cls, probs: np.ndarray) -> list[CategoricalTable]:
        """One table per row of a 2-d array, the CDFs of all rows made in one pass (the same
        values row by row: a cumulative sum runs along each row in order)."""
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] == 0:
            raise ValueError(f"probabilities must be a non-empty 2-d array, got shape {p.shape}")
        cdf = np.cumsum(p, axis=1)
        total = cdf[:, -1:].copy()
        if not (total > 0).all():
            raise ValueError("probabilities must have a positive, finite sum in every row")
        cdf /= total
        tables = []
        for row in cdf:
            table = cls.__new__(cls)
            table._set_cdf(row)
            tables.append(table)
        return tables

    def search(self, u: np.ndarray) -> np.ndarray:
        """Plain inverse-CDF lookup (the reference method); many uniforms are looked up in
        increasing order (the same outcomes, several times faster)."""
        u = np.asarray(u, dtype=np.float64)
        if u.size < _SORT_FROM:
            ids = np.searchsorted(self.cdf, u, side="right")
            return np.minimum(ids, self.k - 1).astype(np.int32)
        order = np.argsort(u)
        out = np.empty(u.size, dtype=np.int32)
        out[order] = np.searchsorted(self.cdf, u[order], side="right")
        return np.minimum(out, self.k - 1, out=out)

    def _compare(self, u: np.ndarray) -> np.ndarray:
        """The search of a few-outcome distribution: the number of CDF values <= u among all but
        the last (which is 1, above every uniform: the search's clamp to K-1)."""
        out = np.zeros(u.size, dtype=np.int32)
        assert self._few is not None  # (called only then)
        for value in self._few:
            out += u >= value
        return out

    def _build_guide(self) -> bool:
        """Build the guide table; False (and no table) unless the CDF is sorted and >= 0."""
        k, cdf = self.k, self.cdf
        m = self._factor * k
        if cdf[0] < 0:
            return False
        # Bucket b (uniforms in [b/m, (b+1)/m)) maps to the number of CDF values below its left
        # edge, #{j: floor(cdf[j]·m) < b}: run j of the table spans the buckets from
        # floor(cdf[j-1]·m) + 1 to floor(cdf[j]·m), and the last run is clamped to K-1.
        # (For floats >= 0, a cast to an integer is the floor.)
        below = (cdf * m).astype(np.intp)
        np.minimum(below, m - 1, out=below)
        widths = np.empty(k + 1, dtype=np.intp)
        widths[0] = below[0] + 1
        np.subtract(below[1:], below[:-1], out=widths[1:k])
        widths[k] = m - 1 - below[k - 1]
        if widths.min() < 0:
            return False
        widths[k - 1] += widths[k]
        self._direct = np.repeat(np.arange(k, dtype=np.int32), widths[:k])
        # A bucket within _EDGE of a CDF value is ambiguous (u·m may round across its edge):
        # its uniforms are searched. (_EDGE·m < 1, so (cdf - _EDGE)·m > -1 casts to 0 at least.)
        ambiguous = np.zeros(m, dtype=bool)
        ambiguous[((cdf - _EDGE) * m).astype(np.intp)] = True
        near = ((cdf + _EDGE) * m).astype(np.intp)
        ambiguous[np.minimum(near, m - 1, out=near)] = True
        self._ambiguous = ambiguous
        self._buckets = m
        return True

    def draw(self, u: np.ndarray) -> np.ndarray:
        """Outcomes of uniforms ``u`` in [0, 1)."""
        u = np.asarray(u, dtype=np.float64)
        if self._few is not None:
            return self._compare(u)
        if self._direct is None:
            # A table costs about as much as K·GUIDE_FACTOR/8 sorted searches: built once the
            # distribution has been drawn from GUIDE_AFTER times its size.
            self._drawn += u.size
            if self._drawn < GUIDE_AFTER * self.k or not self._build_guide():
                return self.search(u)
        assert self._direct is not None and self._ambiguous is not None  # (_build_guide made them)
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
        #: references whose arrays were collected (their weakref callback only appends here:
        #: the cache itself changes only in :meth:`table`)
        self._dead: list[weakref.ref] = []
        self._tables: OrderedDict[int, tuple[weakref.ref, np.ndarray, CategoricalTable]] = (
            OrderedDict()
        )

    def table(self, probs: np.ndarray) -> CategoricalTable:
        while self._dead:  # entries whose arrays no longer exist (collected since last call)
            self._forget(self._dead.pop())
        key = id(probs)
        hit = self._tables.get(key)
        if hit is not None:
            ref, values, table = hit
            if ref() is probs and np.array_equal(values, probs):
                self._tables.move_to_end(key)
                return table
        table = CategoricalTable(probs, CACHED_GUIDE_FACTOR)
        try:  # the entry leaves with its array (a retrained model's old distributions)
            ref = weakref.ref(probs, self._dead.append)
        except TypeError:  # not weak-referenceable (a list): not cached
            return table
        self._tables[key] = (ref, np.array(probs, copy=True), table)
        if len(self._tables) > self.maxsize:
            self._tables.popitem(last=False)
        return table

    def _forget(self, ref: weakref.ref) -> None:
        """Drop the entry held by ``ref`` (a retrained model's old distribution), if still there."""
        for key, hit in self._tables.items():
            if hit[0] is ref:
                del self._tables[key]
                return

    def __len__(self) -> int:
        return len(self._tables)


_TABLES = TableCache()


def cached_table(probs: np.ndarray) -> CategoricalTable:
    """The table of a distribution that is drawn from again (a model's decoding distribution):
    kept while the same array holds the same values."""
    return _TABLES.table(probs)


def sample_categorical(probs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` int32 ids drawn from ``probs`` (need not be normalised): inverse-CDF sampling,
    bit-identical to ``searchsorted(cumsum(probs) / sum, rng.random(n))``, with a cached guide
    table once the distribution is drawn from enough to pay for one."""
    if not isinstance(probs, np.ndarray) or len(probs) <= FEW_OUTCOMES:
        return CategoricalTable(probs).sample(n, rng)  # (a new array each time: not cached)
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
    if hi - lo < _FEW_KEYS:  # a pass per key is cheaper than a sort
        parts = [np.flatnonzero(keys == key) for key in range(lo, hi + 1)]
        present = [i for i, part in enumerate(parts) if part.size]
        distinct = (np.array(present) + lo).astype(keys.dtype)
        starts = np.concatenate([[0], np.cumsum([parts[i].size for i in present])])
        return np.concatenate(parts), distinct, starts
    if hi - lo < 2**15:
        # small key range: counting sort (numpy's stable sort on 16-bit keys is a radix sort)
        shifted = (keys - lo).astype(np.int16)
        order = np.argsort(shifted, kind="stable")
        counts = np.bincount(shifted, minlength=hi - lo + 1)
        nonzero = np.flatnonzero(counts)
        distinct = (nonzero + lo).astype(keys.dtype)
        starts = np.concatenate([[0], np.cumsum(counts[nonzero])])
        return order, distinct, starts
    order = stable_order(keys)
    distinct, first = np.unique(keys[order], return_index=True)
    return order, distinct, np.append(first, keys.size)


def sorted_unique(
    values: np.ndarray, kind: Literal["quicksort", "mergesort", "heapsort", "stable"] = "quicksort"
) -> np.ndarray:
    """``np.unique(values)`` by sorting: numpy 2.3+'s hash-based ``unique`` (what it does without
    ``return_index``, ``return_inverse`` or ``return_counts``) is 5-25x slower on many distinct
    integers (1 M int32 ids: 0.9 s against 0.04 s on numpy 2.4)."""
    values = np.sort(values, kind=kind)
    keep = np.empty(values.size, dtype=bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")``, in linear time for keys in ``0 .. 2³² − 1``: numpy
    radix-sorts 16-bit keys but merge-sorts wider ones (n log n: ~2.5x slower on a 100× month's
    1.5 M int32 site ids), so wider keys are sorted by their low, then their high 16 bits."""
    keys = np.asarray(keys)
    if keys.dtype.itemsize <= 2 or keys.size < 2 or keys.dtype.kind not in "iu":
        return np.argsort(keys, kind="stable")
    lo, hi = int(keys.min()), int(keys.max())
    if lo < 0 or hi >= 2**32:
        return np.argsort(keys, kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    if hi >= 2**16:
        order = order[np.argsort((keys[order] >> 16).astype(np.uint16), kind="stable")]
    return order


def merge_groups(
    rows: np.ndarray, starts: np.ndarray, later: np.ndarray, later_starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two groupings by the same ``k`` keys joined, each key's ``rows`` before its ``later``
    ones: ``(merged, merged_starts)`` with key ``s``'s rows at ``merged[merged_starts[s]:
    merged_starts[s + 1]]`` (``starts`` and ``later_starts`` have ``k + 1`` entries). A linear
    pass, with no sort: a row keeps its place among its key's rows, shifted by the later rows
    of smaller keys (and a later row by the earlier rows up to and including its key)."""
    merged = np.empty(rows.size + later.size, dtype=np.result_type(rows.dtype, later.dtype))
    k = starts.size - 1
    merged[np.arange(rows.size) + np.repeat(later_starts[:k], np.diff(starts))] = rows
    merged[np.arange(later.size) + np.repeat(starts[1:], np.diff(later_starts))] = later
    return merged, starts + later_starts


def ragged_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat indices ``starts[i] .. starts[i]+lengths[i]`` for all i, concatenated (vectorised).

    Runs of a few places each: each run's offset repeated, plus the positions. Longer runs (4
    places on average or more): a running sum of steps of 1 that jump from each run's last
    index to the next run's start, about twice as fast.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if ends.size else 0
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    if total < 4 * lengths.size:
        index = np.repeat(starts - ends + lengths, lengths)
        index += np.arange(total, dtype=np.int64)
        return index
    if not lengths.all():  # empty runs take no place, and would share their neighbour's
        keep = lengths > 0
        starts, lengths, ends = starts[keep], lengths[keep], ends[keep]
    step = np.ones(total, dtype=np.int64)
    step[0] = starts[0]
    step[ends[:-1]] = starts[1:] - (starts[:-1] + lengths[:-1] - 1)
    return np.cumsum(step, out=step)


def fill_by_source(
    source: np.ndarray,
    samplers: Mapping[int, Callable[[int], np.ndarray]],
    dtype: npt.DTypeLike = np.int32,
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


def categorical_by_source(
    source: np.ndarray, tables: Mapping[int, CategoricalTable], rng: np.random.Generator
) -> np.ndarray:
    """``out[i]`` drawn from ``tables[source[i]]`` (int32): exactly the draws and random stream of
    :func:`fill_by_source` with one sampler per table, taking all uniforms in one call (the
    uniforms of consecutive sources are consecutive uniforms) and placing them in one pass."""
    return _draw_grouped(*group_by_key(source), tables, rng)


#: positions drawn per batch by :func:`categorical_by_runs` (16 MB of uniforms)
RUN_DRAWS = 1 << 21


def categorical_by_runs(
    keys: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    tables: Mapping[int, CategoricalTable],
    rng: np.random.Generator,
) -> np.ndarray:
    """:func:`categorical_by_source` of the flat source array given as runs (run r: ``keys[r]``
    at positions ``starts[r] .. starts[r] + lengths[r] - 1``; the runs of one key listed in
    increasing position), which is never made: the runs are grouped, not the positions.

    Keys are drawn in turn, consecutive keys together up to :data:`RUN_DRAWS` positions (a
    larger key alone): each batch's uniforms are the next ``rng.random`` of its size, so the
    stream is that of one draw for all, and a 100× month's concept draws make no array of every
    position's uniform or place beside the result."""
    keys, starts, lengths = (np.asarray(a) for a in (keys, starts, lengths))
    keep = lengths > 0
    keys, starts, lengths = keys[keep], starts[keep].astype(np.intp), lengths[keep].astype(np.intp)
    by_key, distinct, run_bounds = group_by_key(keys)
    starts, lengths = starts[by_key], lengths[by_key]
    ends = np.cumsum(lengths)
    out = np.empty(int(ends[-1]) if ends.size else 0, dtype=np.int32)
    runs = run_bounds.tolist()
    first = np.concatenate([[0], ends])[run_bounds].tolist()  # each key's first place
    keys_, i = distinct.tolist(), 0
    while i < len(keys_):
        j = i + 1
        while j < len(keys_) and first[j + 1] - first[i] <= RUN_DRAWS:
            j += 1
        lo, hi = first[i], first[j]
        u = rng.random(hi - lo)
        drawn = np.empty(hi - lo, dtype=np.int32)
        for g in range(i, j):
            drawn[first[g] - lo : first[g + 1] - lo] = tables[keys_[g]].draw(
                u[first[g] - lo : first[g + 1] - lo]
            )
        out[ragged_index(starts[runs[i] : runs[j]], lengths[runs[i] : runs[j]])] = drawn
        i = j
    return out


def _draw_grouped(
    order: np.ndarray,
    distinct: np.ndarray,
    starts: np.ndarray,
    tables: Mapping[int, CategoricalTable],
    rng: np.random.Generator,
) -> np.ndarray:
    u = rng.random(order.size)
    grouped = np.empty(order.size, dtype=np.int32)
    bounds = starts.tolist()
    for i, key in enumerate(distinct.tolist()):
        lo, hi = bounds[i], bounds[i + 1]
        grouped[lo:hi] = tables[key].draw(u[lo:hi])
    out = np.empty(order.size, dtype=np.int32)
    out[order] = grouped
    return out
