"""The document store's columns: integer types chosen from a scenario's sizes (refusing sizes
they cannot hold), a column with reserved capacity that never wraps a value, the code table of a
float column with few distinct values, and the expected number of documents a scenario publishes
(the reservation)."""

from __future__ import annotations

import contextlib
import mmap
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from habsburg.ecosystem.publishing import adoption_level
from habsburg.scenarios.errors import ScenarioError

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from habsburg.ecosystem.ondisk import FileColumn
    from habsburg.scenarios.schema import Scenario

_INT_TYPES = (np.int8, np.int16, np.int32, np.int64)

#: reservations from this size up are mapped in small pages (see :meth:`Column._allocate`)
SMALL_PAGES_FROM = 1 << 22

#: producer kinds (the store's column ``kind``)
HUMAN, HYBRID, MODEL, FARM, REPOST = 0, 1, 2, 3, 4
KIND_NAMES = ("human", "hybrid", "model", "farm", "repost")


def int_type(
    largest: int,
    widest: npt.DTypeLike = np.int32,
    setting: str = "",
    narrowest: npt.DTypeLike = np.int8,
) -> np.dtype:
    """The narrowest signed integer type (at least ``narrowest``) holding ``-1 .. largest``; a
    :class:`ScenarioError` naming ``setting`` if even ``widest`` cannot."""
    for t in _INT_TYPES:
        if np.dtype(t).itemsize < np.dtype(narrowest).itemsize:
            continue
        if np.dtype(t).itemsize > np.dtype(widest).itemsize:
            break
        if largest <= np.iinfo(t).max:
            return np.dtype(t)
    raise ScenarioError(
        f"{setting or 'a size'} = {largest:,} is too large for the document store "
        f"(at most {np.iinfo(widest).max:,})"
    )


@dataclass(frozen=True)
class ColumnTypes:
    """Integer types of the store's columns (defaults: the wide types, for stores built without
    a scenario)."""

    step: np.dtype = np.dtype(np.int32)
    site: np.dtype = np.dtype(np.int32)
    producer: np.dtype = np.dtype(np.int32)
    model: np.dtype = np.dtype(np.int32)
    concept: np.dtype = np.dtype(np.int32)
    fact: np.dtype = np.dtype(np.int32)
    value: np.dtype = np.dtype(np.int16)
    error: np.dtype = np.dtype(np.int32)
    row: np.dtype = np.dtype(np.int64)
    tokens: np.dtype = np.dtype(np.int32)
    #: a fact claim is stored as one code, ``fact × values + value`` (:func:`claim_type`)
    claim: np.dtype = np.dtype(np.int64)
    #: the codes' base: the values a fact can take
    values: int = 1 << 15

    @classmethod
    def for_scenario(cls, sc: Scenario, expected_documents: int = 0) -> ColumnTypes:
        """The narrowest types for scenario ``sc``; refuses sizes the store cannot hold."""
        w = sc.world
        sites = (
            sc.web.sites
            + sum(f.sites for f in sc.farms)
            + sum(s.aggregator_sites for s in sc.scrapers)
        )
        producers = max(sc.humans.authors, len(sc.models), len(sc.farms), len(sc.scrapers))
        rows = max(expected_documents, 1) * 4
        tokens = max(
            [sc.humans.tokens_mean, sc.demand.tokens_mean, *(f.tokens_mean for f in sc.farms)]
        )
        return cls(
            step=int_type(sc.steps, np.int16, "the number of months (start .. end)", np.int16),
            site=int_type(sites, np.int32, "web.sites + farm and aggregator sites", np.int16),
            producer=int_type(producers, np.int32, "humans.authors", np.int16),
            model=int_type(len(sc.models), np.int8, "the number of [[models]]"),
            concept=int_type(w.concepts, np.int32, "world.concepts", np.int16),
            fact=int_type(w.facts, np.int32, "world.facts", np.int16),
            value=int_type(w.values_per_fact, np.int8, "world.values_per_fact"),
            error=int_type(w.facts * w.values_per_fact, np.int32, "world.facts × values_per_fact"),
            row=int_type(rows, np.int64, "the expected number of documents"),
            # lengths are lognormal (σ = 0.5): 40× the mean is ~7σ; rarer ones widen the column
            tokens=np.dtype(np.uint16) if 40 * tokens < 2**16 else np.dtype(np.int32),
            claim=claim_type(w.facts, w.values_per_fact),
            values=w.values_per_fact,
        )


def claim_type(facts: int, values: int) -> np.dtype:
    """The type of a claim's code ``fact × values + value``: two bytes while ``facts × values``
    codes fit an unsigned 16-bit integer (a byte less than an int16 fact beside an int8 value),
    else a 32-bit integer (a :class:`ScenarioError` past that)."""
    if facts * values <= 1 << 16:
        return np.dtype(np.uint16)
    return int_type(facts * values - 1, np.int32, "world.facts × values_per_fact", np.int32)


#: the types a ``widen`` column switches to when its values outgrow it, narrowest first
WIDER = tuple(np.dtype(t) for t in (np.uint16, np.int32, np.int64))


def _holds(dtype: np.dtype, lo: int, hi: int) -> bool:
    info = np.iinfo(dtype)
    return info.min <= lo and hi <= info.max


class Column:
    """A 1-d or 2-d numpy column with reserved capacity; integer columns marked ``widen`` switch
    to the narrowest wider type of :data:`WIDER` that holds a value instead of overflowing
    (others raise). Subclasses change where the data lives by overriding :meth:`_allocate`
    (:mod:`habsburg.ecosystem.ondisk`)."""

    def __init__(
        self,
        dtype: npt.DTypeLike,
        width: int | None = None,
        capacity: int = 1024,
        widen: bool = False,
    ):
        self.size = 0
        self.widen = widen
        self.data = self._allocate(
            np.dtype(dtype), (capacity,) if width is None else (capacity, width)
        )

    def _allocate(self, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        """A zeroed reservation (untouched pages cost nothing). numpy asks Linux for 2 MB huge
        pages on arrays of 4 MB and more, so each column's partly written last huge page is
        resident ahead of its documents (~20 MB over the store's columns at 10×); a large
        reservation is mapped with that advice reversed, so it grows by 4 kB pages."""
        nbytes = int(np.prod(shape)) * dtype.itemsize
        advice = getattr(mmap, "MADV_NOHUGEPAGE", None)
        if nbytes < SMALL_PAGES_FROM or advice is None:
            return np.zeros(shape, dtype=dtype)
        # private and anonymous (as malloc's are): zero pages until written, copied on fork
        pages = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        with contextlib.suppress(OSError):  # a kernel without huge pages refuses the advice
            pages.madvise(advice)
        return np.frombuffer(pages, dtype=dtype).reshape(shape)

    def _resize(self, dtype: np.dtype, capacity: int) -> None:
        grown = self._allocate(dtype, (capacity, *self.data.shape[1:]))
        grown[: self.size] = self.data[: self.size]
        self.data = grown

    def _fit(self, values: np.ndarray, bounds: tuple[int, int] | None = None) -> None:
        """Make sure ``values`` fit this integer column's type (widening or refusing); ``bounds``
        (their least and greatest value) spares the two passes that find them."""
        dt = self.data.dtype
        if dt.kind not in "iu" or values.size == 0 or np.can_cast(values.dtype, dt):
            return
        if bounds is not None:
            lo, hi = bounds
        elif values.ndim == 1 and values.strides[0] == 0:  # a broadcast scalar
            lo = hi = int(values[0])
        else:
            lo, hi = int(values.min()), int(values.max())
        if _holds(dt, lo, hi):
            return
        if not self.widen:
            raise OverflowError(f"value {hi if hi > np.iinfo(dt).max else lo} does not fit {dt}")
        # the narrowest wider type that holds them (a byte column first widens to uint16)
        wide = next(
            (t for t in WIDER if t.itemsize > dt.itemsize and _holds(t, lo, hi)), np.dtype(np.int64)
        )
        self._resize(wide, len(self.data))

    def extend(self, values: np.ndarray, bounds: tuple[int, int] | None = None) -> None:
        """Append ``values`` (``bounds``: their least and greatest value, if known)."""
        n = len(values)
        self._fit(values, bounds)
        need = self.size + n
        if need > len(self.data):
            self._resize(self.data.dtype, max(need, int(1.5 * len(self.data))))
        self.data[self.size : need] = values
        self.size = need

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.size]

    @property
    def nbytes(self) -> int:
        """Bytes the column's documents use (the reserved tail is untouched, hence unpaged)."""
        return self.view.nbytes

    def __getstate__(self) -> dict:  # checkpoints hold the used part only
        return {"data": self.view.copy(), "size": self.size, "widen": self.widen}


class RaggedOffsets:
    """The offsets of a ragged column: ``offsets[i]`` (``i = 0 .. n``, ``offsets[0] = 0``) is
    where document ``i``'s values begin, kept as an int64 base per block of ``2**shift``
    documents (the offset of the block's first document) plus an offset relative to it per
    document: a uint16 (two bytes per document instead of four or eight), or a uint8 for
    columns of a few values per document, in blocks of 32 or more (:meth:`layout_for`). A
    block whose values outgrow the relative type widens the relative column (uint8 to uint16,
    then int32; never wraps). ``shift`` is chosen so that a block's values stay well within the
    relative type's range (:meth:`layout_for`, :meth:`shift_for`).

    ``make(name, dtype, capacity=..., widen=...)`` makes the two columns (in memory, or in
    files for :class:`~habsburg.ecosystem.ondisk.OnDiskStore`)."""

    def __init__(
        self,
        make: Callable[..., Column],
        name: str,
        capacity: int,
        shift: int,
        rel_type: npt.DTypeLike = np.uint16,
    ) -> None:
        self.shift = shift
        self.rel = make(name, np.dtype(rel_type), capacity=capacity + 1, widen=True)
        self.base = make(f"{name}_base", np.int64, capacity=(capacity >> shift) + 2)
        self.extend(np.zeros(1, np.int64))

    @staticmethod
    def shift_for(values_per_document: float) -> int:
        """Block size (log2) for ~16 k values per block: a quarter of uint16's range, so blocks
        of much longer documents than the scenario's mean still fit."""
        per_block = (1 << 14) / max(values_per_document, 1.0)
        return int(np.clip(np.floor(np.log2(per_block)), 4, 16))

    @staticmethod
    def layout_for(values_per_document: float) -> tuple[int, np.dtype]:
        """``(shift, relative type)``, the constructor's last arguments, for a column of up to
        ``values_per_document`` (the store's generous estimate, e.g. ``1.2 × facts_per_doc +
        0.5`` for claims): one byte per document where blocks of at least 32 documents hold at
        most 128 values by that estimate (half of uint8's range: the baseline's claims, 2 per
        document, fill 64 on average; the int64 base per block costs a quarter byte per
        document or less), else two bytes (:meth:`shift_for`)."""
        if values_per_document <= 4.0:
            per_block = 128 / max(values_per_document, 1 / 512)
            return int(np.clip(np.floor(np.log2(per_block)), 5, 16)), np.dtype(np.uint8)
        return RaggedOffsets.shift_for(values_per_document), np.dtype(np.uint16)

    def __len__(self) -> int:
        return self.rel.size

    @property
    def columns(self) -> tuple[Column, Column]:
        return self.rel, self.base

    def extend(self, ends: np.ndarray) -> None:
        """Append offsets ``ends`` (int64, non-decreasing, not below the last one)."""
        s, n, shift = self.rel.size, ends.size, self.shift
        if n == 0:
            return
        first_new_block = (s + (1 << shift) - 1) >> shift  # blocks that start among these rows
        last_block = (s + n - 1) >> shift
        if first_new_block <= last_block:
            starts = np.arange(first_new_block, last_block + 1, dtype=np.int64) << shift
            self.base.extend(ends[starts - s])
        rel = ends - self.base.view[np.arange(s, s + n, dtype=np.int64) >> shift]
        self.rel.extend(rel, bounds=(0, int(rel.max())))

    def at(self, rows: np.ndarray) -> np.ndarray:
        """``offsets[rows]`` (int64) for an integer array ``rows``."""
        rows = np.asarray(rows)
        out = np.take(self.base.view, rows >> self.shift)
        out += np.take(self.rel.view, rows)
        return out

    def __getitem__(self, row: int) -> int:
        row = int(row)
        return int(self.base.view[row >> self.shift]) + int(self.rel.view[row])

    def between(self, lo: int, hi: int) -> np.ndarray:
        """``offsets[lo:hi]`` (int64), adding each block's base to its run in place (no index
        or base array the length of the range): the whole blocks in one broadcast addition,
        the partial ones at either end on their own."""
        hi = max(lo, hi)
        out = self.rel.view[lo:hi].astype(np.int64)
        base, shift = self.base.view, self.shift
        size = 1 << shift
        first, last = -(-lo >> shift), hi >> shift  # blocks first .. last - 1 lie inside
        if first >= last:  # within one block, or across one boundary
            for block in range(lo >> shift, ((hi - 1) >> shift) + 1 if hi > lo else 0):
                a = max(block << shift, lo) - lo
                out[a : ((block + 1) << shift) - lo] += base[block]
            return out
        a, b = (first << shift) - lo, (last << shift) - lo
        out[:a] += base[first - 1] if a else 0
        out[a:b].reshape(-1, size)[...] += base[first:last, None]
        out[b:] += base[last] if b < out.size else 0
        return out

    def spans(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start and length (int64) of documents ``ids``' runs in the ragged column."""
        ids = as_rows(ids)
        starts = self.at(ids)
        return starts, self.at(ids + 1) - starts

    def owners(self, values: np.ndarray) -> np.ndarray:
        """The document (int64) holding each of the ragged column's value indices ``values``
        (increasing): a binary search in the offsets of the documents they span only."""
        values = np.asarray(values, dtype=np.int64)
        if values.size == 0:
            return np.zeros(0, np.int64)
        first, last = self.owner(int(values[0])), self.owner(int(values[-1]))
        offsets = self.between(first, last + 2)
        return first + np.searchsorted(offsets, values, side="right") - 1

    def owner(self, value: int) -> int:
        """The document holding value index ``value`` (the last whose offset is ``<= value``)."""
        block = int(np.searchsorted(self.base.view, value, side="right")) - 1
        lo = block << self.shift
        offsets = self.between(lo, min(lo + (1 << self.shift) + 1, len(self)))
        return lo + int(np.searchsorted(offsets, value, side="right")) - 1

    def release(self, rows: int) -> None:
        """Drop the offsets of documents before ``rows`` from memory (file columns only)."""
        file_column(self.rel).release(rows + 1)
        file_column(self.base).release(rows >> self.shift)


def file_column(col: Column) -> FileColumn:
    """``col``, a column of an :class:`~habsburg.ecosystem.ondisk.OnDiskStore` (made by its
    ``_column``): a :class:`~habsburg.ecosystem.ondisk.FileColumn`."""
    return cast("FileColumn", col)


def expected_documents(sc: Scenario, steps: int | None = None) -> int:
    """A generous estimate of the documents scenario ``sc`` publishes in its first ``steps``
    months (default: all of them; the store's reservation): human output, AI demand and farm
    output along their curves, and every crawl's reposts."""
    steps = sc.steps if steps is None else steps
    total = sc.humans.authors * sc.humans.docs_per_month * steps
    curves = [(sc.demand.adoption, 1.0)] + [(f.output, 1.0) for f in sc.farms]
    for curve, scale in curves:
        start = sc.month_to_step(curve.start, "start")
        total += scale * sum(adoption_level(curve, t - start) for t in range(steps))
    total += sum(s.repost_share * 2 * s.docs_per_crawl for s in sc.scrapers) * steps
    return int(1.1 * total) + 4096


def needles(values: np.ndarray, haystack: np.ndarray, bound: int) -> np.ndarray:
    """``values`` (all within ``0 .. bound``) to search for in the sorted integer ``haystack``,
    in its type when that holds ``bound``: ``np.searchsorted`` converts the haystack to the
    common type of both otherwise, a copy the length of the column at every call."""
    if values.dtype != haystack.dtype and bound <= np.iinfo(haystack.dtype).max:
        return values.astype(haystack.dtype)
    return values


def as_rows(ids: np.ndarray) -> np.ndarray:
    """``ids`` as an integer array (kept in its own integer type: no widening copy)."""
    ids = np.asarray(ids)
    return ids if ids.dtype.kind in "iu" else ids.astype(np.int64)
