"""Lists of increasing row ids kept as gaps: what scrapers hold of every crawl they ever kept.

A crawl's kept documents are distinct and sorted, and the gap between neighbours is small next
to the row ids themselves (a few hundred rows at every scale). Kept as its first id and its
gaps in the narrowest unsigned type that holds them (uint16 almost always), a crawl costs two
bytes per document instead of four (or eight past 2**31 rows). A run that retrains on all crawls
ever (``accumulate_subsample``) holds every crawl for the whole run: 40 MB at 10×, 0.4 GB at
100×, halved this way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt


class GapList:
    """An increasing integer array as ``first`` and the gaps between neighbours (uint16 or
    uint32; an array that is not increasing, or whose gaps need more, is kept as it is).
    ``ids()`` gives the array back exactly, in its integer type."""

    __slots__ = ("dtype", "first", "gaps", "last", "raw")

    dtype: np.dtype
    first: int
    #: the last id (0 for an empty list)
    last: int
    #: the gaps, or None when the ids are kept as they are (``raw``; one of the two is None)
    gaps: np.ndarray | None
    raw: np.ndarray | None

    def __init__(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids)
        self.dtype = ids.dtype
        self.first, self.gaps, self.raw = 0, None, None
        self.last = int(ids[-1]) if ids.size else 0
        gaps = np.diff(ids)
        if ids.size == 0 or (gaps.size and (gaps.min() < 0 or gaps.max() >= 2**32)):
            self.raw = ids.copy()
            return
        self.first = int(ids[0])
        widest = int(gaps.max()) if gaps.size else 0
        self.gaps = gaps.astype(np.uint16 if widest < 2**16 else np.uint32)

    def __len__(self) -> int:
        if self.raw is not None:
            return self.raw.size
        assert self.gaps is not None
        return self.gaps.size + 1

    @property
    def nbytes(self) -> int:
        kept = self.raw if self.raw is not None else self.gaps
        assert kept is not None
        return kept.nbytes

    def ids(self, out: np.ndarray | None = None) -> np.ndarray:
        """The ids (written into ``out``, of this list's length, if given)."""
        if out is None:
            out = np.empty(len(self), dtype=self.dtype)
        if self.raw is not None:
            out[...] = self.raw
        else:
            assert self.gaps is not None
            out[0] = self.first
            # summed in the ids' own type: every partial sum is below the last id
            np.cumsum(self.gaps, dtype=out.dtype, out=out[1:])
            out[1:] += out.dtype.type(self.first)
        return out


def joined(lists: Iterable[GapList], dtype: npt.DTypeLike | None = None) -> np.ndarray:
    """The ids of ``lists`` one after another, in one array of ``dtype`` (default: the type
    that holds all of theirs; no per-list copies beyond one list's gaps summed)."""
    lists = list(lists)
    if dtype is None:
        dtype = np.result_type(*(g.dtype for g in lists)) if lists else np.int64
    out = np.empty(sum(len(g) for g in lists), dtype=dtype)
    at = 0
    for g in lists:
        g.ids(out[at : at + len(g)])
        at += len(g)
    return out


def decode(lists: Sequence[GapList], pad: Sequence[int] | None = None) -> np.ndarray:
    """The ids of ``lists`` one after another (:func:`joined`), in a fixed number of numpy
    calls whatever the number of lists: their gaps laid out one after another, each list's
    first id entered as its step from the last id before it, and summed once, in the ids' own
    type (every partial sum is an id; a list kept as it is, ``raw``, adds the one numpy call of
    its differences). ``pad``: after each list's ids, that many copies of the last id so far
    (to line the ids up with another layout a list at a time, such as a mask packed to whole
    bytes per list)."""
    pad = [0] * len(lists) if pad is None else pad
    dtype = np.result_type(*(g.dtype for g in lists)) if lists else np.int64
    slot = np.zeros(1, dtype)  # (each list's first place, filled in after the layout)
    filler = np.zeros(max(pad, default=0), dtype)
    pieces: list[np.ndarray] = []
    starts: list[int] = []
    steps: list[int] = []
    at = last = 0
    for g, extra in zip(lists, pad, strict=True):
        n = len(g)
        if n:
            if g.raw is None:
                assert g.gaps is not None
                first, gaps = g.first, g.gaps
            else:
                first, gaps = int(g.raw[0]), np.diff(g.raw)
            starts.append(at)
            steps.append(first - last)
            pieces += [slot, gaps]
            at, last = at + n, g.last
        if extra:
            pieces.append(filler[:extra])
            at += extra
    if not pieces:
        return np.zeros(0, dtype)
    # (gaps and steps fit the ids' type: each lies between two of its values' differences)
    out = np.concatenate(pieces, dtype=dtype, casting="unsafe")
    out[starts] = steps
    return np.cumsum(out, out=out)
