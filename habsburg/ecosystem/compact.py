"""The document store's compact columns: three per-document values that are not stored one per
document, to save memory (every value read back is the one appended).

- ``step`` follows from where each month's rows begin (documents are appended in month order);
- ``paraphrase`` is a one-byte code into a table of the few distinct fractions a run uses
  (:class:`CodeTable`; past 256 of them the column holds float32 values again);
- ``original`` is kept for reposts only, as their rows and the rows they copy (:class:`Reposts`,
  found by binary search).

:class:`CompactColumns` gives :class:`~habsburg.ecosystem.store.DocumentStore` the accessors
(``steps_of``, ``originals_of``, ``paraphrase_of``, ``column``; ``store.step`` etc. still build
the whole column on demand) and converts stores pickled with the old one-value-per-document
columns (:func:`upgrade_layout`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from habsburg.ecosystem.columns import REPOST, Column, as_rows, needles

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from habsburg.ecosystem.columns import ColumnTypes

#: the fixed-width columns of a document, in the order of the ``documents`` table
DOCUMENT_COLUMNS = (
    "step",
    "site",
    "kind",
    "producer",
    "model",
    "synthetic_fraction",
    "tokens",
    "green",
    "quality",
    "original",
    "paraphrase",
)
#: columns derived from the store's compact layout rather than stored per document
DERIVED = ("step", "original", "paraphrase")


class CodeTable:
    """The distinct float32 values of a coded column (one byte per document instead of four),
    in the order they joined: code ``i`` stands for ``values[i]``. Values are told apart by
    their bit pattern, so decoding gives back exactly the float32 that was stored."""

    #: codes a uint8 column can hold
    LIMIT = 256

    def __init__(self) -> None:
        self.values = np.zeros(0, np.float32)
        self._codes: dict[int, int] = {}

    def encode(self, values: np.ndarray) -> np.ndarray | None:
        """uint8 codes of float32 ``values`` (new values join the table); None, leaving the table
        as it was, if they would take it past :data:`LIMIT` distinct values."""
        bits = np.ascontiguousarray(values, np.float32).view(np.uint32)
        if bits.size and (bits == bits[0]).all():  # the common case: one value for a batch
            distinct, inverse = bits[:1], np.zeros(bits.size, np.intp)
        else:
            distinct, inverse = np.unique(bits, return_inverse=True)
        new = [b for b in distinct.tolist() if b not in self._codes]
        if len(self._codes) + len(new) > self.LIMIT:
            return None
        for b in new:
            self._codes[b] = len(self._codes)
        if new:
            self.values = np.array(list(self._codes), np.uint32).view(np.float32)
        lut = np.array([self._codes[b] for b in distinct.tolist()], np.uint8)
        return lut[inverse]


class Reposts:
    """The ``original`` column kept for reposts only (a few percent of documents): their rows,
    increasing (documents are appended in order), and the rows they copy, found by binary
    search. Both columns widen rather than wrap.

    While every repost, and only a repost, has kind ``kind`` in the store's ``kinds`` column (as
    in every run: :attr:`tagged`), a lookup searches only the rows of that kind."""

    def __init__(self, rows: Column, originals: Column, kinds: Column, kind: int) -> None:
        self.rows = rows
        self.originals = originals
        self.kinds = kinds
        self.kind = kind
        self.tagged = True

    @property
    def dtype(self) -> np.dtype:
        """The originals' integer type."""
        return self.originals.data.dtype

    @property
    def columns(self) -> tuple[Column, Column]:
        return self.rows, self.originals

    def add(self, start: int, original: np.ndarray | None, kinds: np.ndarray | int) -> None:
        """Record documents ``start, start + 1, ...`` whose ``original`` is not -1 (None: none
        is a repost); ``kinds``: their kinds (an array, or one for all)."""
        tag = np.asarray(kinds) == self.kind
        if original is None:
            self.tagged &= not tag.any()
            return
        is_copy = original >= 0
        self.tagged &= bool(np.array_equal(np.broadcast_to(tag, is_copy.shape), is_copy))
        copies = np.flatnonzero(is_copy)
        if copies.size:
            rows = start + copies
            self.rows.extend(rows, bounds=(int(rows[0]), int(rows[-1])))
            self.originals.extend(original[copies])

    def among(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``rows`` that are reposts, and the positions of those reposts here."""
        reposts = self.rows.view
        if reposts.size == 0 or rows.size == 0:
            return np.zeros(0, np.intp), np.zeros(0, np.intp)
        bound = self.kinds.size  # rows are documents of the store
        if self.tagged:  # a one-byte gather finds them; a binary search only for those
            where = np.flatnonzero(np.take(self.kinds.view, rows) == self.kind)
            return where, np.searchsorted(reposts, needles(rows[where], reposts, bound))
        pos = np.searchsorted(reposts, needles(rows, reposts, bound))
        np.minimum(pos, reposts.size - 1, out=pos)
        where = np.flatnonzero(reposts[pos] == rows)
        return where, pos[where]

    def originals_of(self, rows: np.ndarray) -> np.ndarray:
        """The row each of ``rows`` copies, -1 for originals."""
        out = np.full(rows.shape, -1, self.dtype)
        where, pos = self.among(rows)
        out[where] = self.originals.view[pos]
        return out

    def originals_between(self, lo: int, hi: int) -> np.ndarray:
        """:meth:`originals_of` rows ``lo .. hi - 1`` (their reposts are a run of reposts)."""
        out = np.full(max(hi - lo, 0), -1, self.dtype)
        a, b = np.searchsorted(self.rows.view, [lo, hi])
        out[self.rows.view[a:b] - lo] = self.originals.view[a:b]
        return out

    def count_before(self, row: int) -> int:
        """How many reposts precede document ``row``."""
        return int(np.searchsorted(self.rows.view, row))


class CompactColumns:
    """Accessors of the derived columns, mixed into the document store (which holds
    ``_step_starts``, ``_cols["paraphrase"]``, ``_paraphrase_table`` and ``_reposts``)."""

    # what the store defines (annotations only: no class attributes)
    _cols: dict[str, Column]
    _reposts: Reposts
    _step_starts: list[int]
    _paraphrase_table: CodeTable | None
    types: ColumnTypes

    if TYPE_CHECKING:

        def __len__(self) -> int: ...

        def _column(
            self, name: str, dtype: npt.DTypeLike, width: int | None = None, **kw: Any
        ) -> Column: ...

    @property
    def step(self) -> np.ndarray:
        """Every document's month index (a new array: prefer :meth:`steps_of`)."""
        return self.steps_of(slice(None))

    @property
    def original(self) -> np.ndarray:
        """Every document's original (-1 if none; a new array: prefer :meth:`originals_of`)."""
        return self.originals_of(slice(None))

    @property
    def paraphrase(self) -> np.ndarray:
        """Every document's paraphrased fraction (a new array: prefer :meth:`paraphrase_of`)."""
        return self.paraphrase_of(slice(None))

    @property
    def original_type(self) -> np.dtype:
        """The integer type :meth:`originals_of` returns (the store's row type, or wider)."""
        return self._reposts.dtype

    def column(self, name: str, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """Column ``name`` (one of :data:`DOCUMENT_COLUMNS`, or ``style``) at ``rows`` (a slice or
        an integer array), stored and derived columns alike."""
        if name == "step":
            return self.steps_of(rows)
        if name == "original":
            return self.originals_of(rows)
        if name == "paraphrase":
            return self.paraphrase_of(rows)
        return self._cols[name].view[rows]

    def month_bounds(self) -> np.ndarray:
        """Where each month's rows begin, and the number of rows last (int64, non-decreasing):
        month ``k`` is rows ``bounds[k] .. bounds[k + 1] - 1``."""
        return np.array([*self._step_starts, len(self)], dtype=np.int64)

    def steps_of(self, rows: slice | np.ndarray) -> np.ndarray:
        """The month index of documents ``rows`` (a slice or integer array), from where each
        month's rows begin (a contiguous slice: each month's index repeated over its rows, with
        no array of row numbers)."""
        if isinstance(rows, slice):
            lo, hi, stride = rows.indices(len(self))
            if stride == 1:
                bounds = np.clip(self.month_bounds(), lo, max(lo, hi))
                runs = np.diff(bounds)
                months = np.flatnonzero(runs)
                return np.repeat(months.astype(self.types.step), runs[months])
        steps = np.searchsorted(self._step_starts, self._rows(rows), side="right") - 1
        return steps.astype(self.types.step)

    def originals_of(self, rows: slice | np.ndarray) -> np.ndarray:
        """The row each of documents ``rows`` reposts, -1 for originals."""
        if isinstance(rows, slice):
            lo, hi, stride = rows.indices(len(self))
            if stride == 1:
                return self._reposts.originals_between(lo, hi)
        return self._reposts.originals_of(self._rows(rows))

    def paraphrase_of(self, rows: slice | np.ndarray) -> np.ndarray:
        """The paraphrased fraction (float32) of documents ``rows``."""
        codes = self._cols["paraphrase"].view[rows]
        table = self._paraphrase_table
        return codes if table is None else table.values[codes]

    def _rows(self, rows: slice | np.ndarray) -> np.ndarray:
        if isinstance(rows, slice):
            return np.arange(*rows.indices(len(self)))
        return as_rows(rows)

    def _append_paraphrase(
        self, values: np.ndarray, full: Callable[[npt.ArrayLike], np.ndarray]
    ) -> None:
        table = self._paraphrase_table
        if table is not None:
            codes = table.encode(values.reshape(-1))
            if codes is not None:
                self._cols["paraphrase"].extend(full(codes[0]) if values.ndim == 0 else codes)
                return
            # more distinct values than codes: back to one float32 per document
            old = self._cols["paraphrase"]
            plain = self._column("paraphrase_values", np.float32, capacity=len(old.data))
            plain.extend(table.values[old.view])
            self._cols["paraphrase"] = plain
            self._paraphrase_table = None
        self._cols["paraphrase"].extend(full(values))

    def __setstate__(self, state: dict) -> None:
        """Checkpoints written with full ``step``/``original``/``paraphrase`` columns load in
        the compact layout."""
        self.__dict__.update(state)
        if "_reposts" not in state:
            upgrade_layout(self)


def upgrade_layout(store: CompactColumns) -> None:
    """Convert a store unpickled from a checkpoint with one ``step``, ``original`` and
    ``paraphrase`` value per document to the compact layout (same values)."""
    cols = store._cols
    step, original, paraphrase = (cols.pop(k) for k in DERIVED)
    if step.size and not np.array_equal(store.steps_of(slice(0, step.size)), step.view):
        raise ValueError("checkpoint store: its step column disagrees with its month starts")
    n = original.size
    store._reposts = Reposts(
        Column(store.types.row, capacity=n // 8 + 1024, widen=True),
        Column(original.data.dtype, capacity=n // 8 + 1024, widen=True),
        cols["kind"],
        REPOST,
    )
    store._reposts.add(0, original.view, cols["kind"].view)
    store._paraphrase_table = CodeTable()
    cols["paraphrase"] = Column(np.uint8, capacity=len(paraphrase.data))
    store._append_paraphrase(paraphrase.view, np.asarray)  # (the view itself: no copy)
    store._cols = {k: cols[k] for k in DOCUMENT_COLUMNS if k in cols} | {
        k: v for k, v in cols.items() if k not in DOCUMENT_COLUMNS
    }
