"""The shared internet's documents as columns: numpy arrays, no per-document objects.

Column types are the narrowest the scenario's sizes allow (:class:`ColumnTypes`: int16 sites and
producers, int8 model ids, int16 concept and fact ids ...); a scenario too large for them is
refused before the run with a :class:`~habsburg.scenarios.errors.ScenarioError` naming the
setting. Capacity is reserved up front from the scenario's expected document count (untouched
pages of a zeroed reservation cost no memory), so columns are copied only if a run outgrows the
estimate. Derived integer columns (tokens, green counts, offsets) widen themselves rather than
overflow. Ragged columns (concept draws, fact claims) are a flat values array plus per-document
offsets into it. The per-site index crawls use is kept only for the months crawls can reach.

Three columns are not stored one value per document, to save memory (results are unchanged):
``step`` follows from where each month's rows begin (documents are appended in month order);
``paraphrase`` is a one-byte code into a table of the few distinct fractions a run uses (a
float32 column again past 256 of them); ``original`` is kept for reposts only, as their rows and
the rows they copy (a binary search finds them). :meth:`DocumentStore.column` (and
``steps_of``, ``originals_of``, ``paraphrase_of``) read them for any rows; ``store.step`` etc.
still give the whole column, built on demand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from habsburg.ecosystem.columns import (  # noqa: F401  (ColumnTypes, int_type re-exported)
    CodeTable,
    Column,
    ColumnTypes,
    expected_documents,
    int_type,
)

#: producer kinds (column ``kind``)
HUMAN, HYBRID, MODEL, FARM, REPOST = 0, 1, 2, 3, 4
KIND_NAMES = ("human", "hybrid", "model", "farm", "repost")
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


@dataclass
class Batch:
    """A batch of new documents to append (all arrays aligned on documents, ragged as lists of
    lengths + flat values)."""

    site: np.ndarray
    kind: np.ndarray | int
    producer: np.ndarray | int
    model: np.ndarray | int
    synthetic_fraction: np.ndarray
    tokens: np.ndarray
    green: np.ndarray
    style: np.ndarray
    quality: np.ndarray
    concept_lengths: np.ndarray
    concepts: np.ndarray
    claim_lengths: np.ndarray
    claim_facts: np.ndarray
    claim_values: np.ndarray
    claim_errors: np.ndarray
    original: np.ndarray | None = None
    paraphrase: np.ndarray | float = 0.0


class DocumentStore:
    """Columnar store of every document published on the simulated internet.

    Columns: id (implicit row number), step, site, kind, producer, model (-1 if none),
    synthetic_fraction (ground truth), tokens, green (watermark green-token count), style (d floats),
    quality, original (row this document reposts, -1 if original), paraphrase (fraction ε of
    tokens paraphrased or spun), concept draws (ragged) and fact
    claims (ragged: fact, value, error id or -1).

    ``DocumentStore.for_scenario(sc)`` is the store a run uses: narrow types, reserved capacity
    and a site index bounded to the longest crawl window.
    """

    def __init__(
        self,
        style_dim: int,
        capacity: int = 4096,
        types: ColumnTypes | None = None,
        site_window: int | None = None,
        concepts_per_doc: float = 8.0,
        claims_per_doc: float = 2.0,
    ) -> None:
        self.style_dim = style_dim
        t = types or ColumnTypes()
        self.types = t
        #: months of the per-site index kept (None: all)
        self.site_window = site_window
        self._cols = {
            "site": self._column("site", t.site, capacity=capacity),
            "kind": self._column("kind", np.int8, capacity=capacity),
            "producer": self._column("producer", t.producer, capacity=capacity),
            "model": self._column("model", t.model, capacity=capacity),
            "synthetic_fraction": self._column("synthetic_fraction", np.float32, capacity=capacity),
            "tokens": self._column("tokens", t.tokens, capacity=capacity, widen=True),
            "green": self._column("green", t.tokens, capacity=capacity, widen=True),
            "quality": self._column("quality", np.float32, capacity=capacity),
            # codes into _paraphrase_table (float32 values when that is None)
            "paraphrase": self._column("paraphrase", np.uint8, capacity=capacity),
            "style": self._column("style", np.float32, width=style_dim, capacity=capacity),
            "concept_offsets": self._column(
                "concept_offsets", t.offset, capacity=capacity + 1, widen=True
            ),
            "claim_offsets": self._column(
                "claim_offsets", t.offset, capacity=capacity + 1, widen=True
            ),
        }
        self._cols["concept_offsets"].extend(np.zeros(1, t.offset))
        self._cols["claim_offsets"].extend(np.zeros(1, t.offset))
        n_concepts = int(capacity * concepts_per_doc) + 1024
        n_claims = int(capacity * claims_per_doc) + 1024
        self._concepts = self._column("concepts", t.concept, capacity=n_concepts)
        self._claim_facts = self._column("claim_facts", t.fact, capacity=n_claims)
        self._claim_values = self._column("claim_values", t.value, capacity=n_claims)
        self._claim_errors = self._column("claim_errors", t.error, capacity=n_claims)
        self._paraphrase_table: CodeTable | None = CodeTable()
        # reposts only: their rows (increasing) and the rows they copy
        n_reposts = capacity // 8 + 1024
        self._repost_rows = self._column("repost_rows", t.row, capacity=n_reposts, widen=True)
        self._repost_originals = self._column(
            "repost_originals", t.row, capacity=n_reposts, widen=True
        )
        self._step_starts: list[int] = []
        self._site_index: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}

    def _column(self, name: str, dtype, width: int | None = None, **kw) -> Column:
        """A new column (in memory; :class:`~habsburg.ecosystem.ondisk.OnDiskStore` maps files)."""
        return Column(dtype, width, **kw)

    @classmethod
    def for_scenario(cls, sc, **kw) -> DocumentStore:
        """The store of a run of scenario ``sc`` (refuses one its types cannot hold)."""
        expected = expected_documents(sc)
        h = sc.humans
        return cls(
            sc.world.style_dim,
            capacity=expected,
            types=ColumnTypes.for_scenario(sc, expected),
            site_window=max((s.window_months for s in sc.scrapers), default=1),
            concepts_per_doc=1.2 * h.tokens_mean / h.tokens_per_concept + 1,
            claims_per_doc=1.2 * h.facts_per_doc + 0.5,
            **kw,
        )

    # --- sizes and columns -------------------------------------------------------------------
    def __len__(self) -> int:
        return self._cols["site"].size

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("_cols")
        if cols is not None and name in cols:
            return cols[name].view
        raise AttributeError(name)

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
        return self._repost_originals.data.dtype

    def column(self, name: str, rows=slice(None)) -> np.ndarray:
        """Column ``name`` (one of :data:`DOCUMENT_COLUMNS`, or ``style``) at ``rows`` (a slice or
        an integer array), stored and derived columns alike."""
        if name == "step":
            return self.steps_of(rows)
        if name == "original":
            return self.originals_of(rows)
        if name == "paraphrase":
            return self.paraphrase_of(rows)
        return self._cols[name].view[rows]

    def steps_of(self, rows) -> np.ndarray:
        """The month index of documents ``rows`` (a slice or integer array), from where each
        month's rows begin."""
        steps = np.searchsorted(self._step_starts, self._rows(rows), side="right") - 1
        return steps.astype(self.types.step)

    def originals_of(self, rows) -> np.ndarray:
        """The row each of documents ``rows`` reposts, -1 for originals."""
        copies = self._repost_originals
        if isinstance(rows, slice):  # the reposts in a run of rows are a run of reposts
            lo, hi, stride = rows.indices(len(self))
            if stride == 1:
                out = np.full(max(hi - lo, 0), -1, copies.data.dtype)
                a, b = np.searchsorted(self._repost_rows.view, [lo, hi])
                out[self._repost_rows.view[a:b] - lo] = copies.view[a:b]
                return out
        rows = self._rows(rows)
        out = np.full(rows.shape, -1, copies.data.dtype)
        where, pos = self._reposts_among(rows)
        out[where] = copies.view[pos]
        return out

    def paraphrase_of(self, rows) -> np.ndarray:
        """The paraphrased fraction (float32) of documents ``rows``."""
        codes = self._cols["paraphrase"].view[rows]
        table = self._paraphrase_table
        return codes if table is None else table.values[codes]

    def _rows(self, rows) -> np.ndarray:
        if isinstance(rows, slice):
            return np.arange(*rows.indices(len(self)))
        return _as_rows(rows)

    def _reposts_among(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``rows`` that are reposts, and their positions among the reposts."""
        reposts = self._repost_rows.view
        if reposts.size == 0 or rows.size == 0:
            return np.zeros(0, np.intp), np.zeros(0, np.intp)
        pos = np.searchsorted(reposts, rows)
        np.minimum(pos, reposts.size - 1, out=pos)
        where = np.flatnonzero(reposts[pos] == rows)
        return where, pos[where]

    @property
    def concepts(self) -> np.ndarray:
        return self._concepts.view

    @property
    def claim_facts(self) -> np.ndarray:
        return self._claim_facts.view

    @property
    def claim_values(self) -> np.ndarray:
        return self._claim_values.view

    @property
    def claim_errors(self) -> np.ndarray:
        return self._claim_errors.view

    @property
    def n_claims(self) -> int:
        return self._claim_facts.size

    def step_slice(self, first_step: int, last_step: int | None = None) -> slice:
        """Rows published in steps ``first_step .. last_step`` (inclusive). Documents are appended
        in step order, so this is a contiguous slice."""
        starts, n = self._step_starts, len(self)
        first_step = max(first_step, 0)
        lo = starts[first_step] if first_step < len(starts) else n
        if last_step is None or last_step + 1 >= len(starts):
            return slice(lo, n)
        return slice(lo, starts[last_step + 1])

    def begin_step(self, step: int) -> None:
        """Mark where ``step``'s documents begin (steps are begun in increasing order)."""
        while len(self._step_starts) <= step:
            self._step_starts.append(len(self))

    def site_index(self, step: int, n_sites: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``step`` grouped by site: ``(rows, starts)`` with the rows of site ``s`` at
        ``rows[starts[s]:starts[s + 1]]``. Cached for the last ``site_window`` months (what
        crawls can reach); rebuilt while the step is still growing."""
        sl = self.step_slice(step, step)
        cached = self._site_index.get(step)
        if cached is not None and cached[0] == sl.stop:
            return cached[1], cached[2]
        sites = self.site[sl]
        order = np.argsort(sites, kind="stable")
        rows = (sl.start + order).astype(self.types.row)
        starts = np.searchsorted(sites[order], np.arange(n_sites + 1))
        self._site_index[step] = (sl.stop, rows, starts)
        if self.site_window is not None:
            oldest = max(self._site_index) - self.site_window
            for old in [s for s in self._site_index if s < oldest]:
                del self._site_index[old]
        return rows, starts

    def __getstate__(self) -> dict:
        """Checkpoints leave out the site index (a cache, rebuilt on demand)."""
        state = self.__dict__.copy()
        state["_site_index"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        """Checkpoints written with full ``step``/``original``/``paraphrase`` columns load in
        the compact layout."""
        self.__dict__.update(state)
        if "_repost_rows" not in state:
            upgrade_layout(self)

    # --- appending ---------------------------------------------------------------------------
    def append(self, batch: Batch, step: int) -> np.ndarray:
        """Append a batch; returns the new rows' ids. Values that do not fit a column's type are
        refused (OverflowError) or widen the column (derived counts), never wrapped."""
        n = len(batch.synthetic_fraction)
        start = len(self)
        if n == 0:
            return np.arange(start, start, dtype=np.int64)

        def full(x):
            arr = np.asarray(x)
            return np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr

        starts = self._step_starts
        if step < len(starts) - 1:
            raise ValueError(
                f"documents of month index {step} appended after month {len(starts) - 1} began "
                "(the store keeps documents in month order)"
            )
        if step >= len(starts):
            self.begin_step(step)
        c = self._cols
        c["site"].extend(full(batch.site))
        c["kind"].extend(full(batch.kind))
        c["producer"].extend(full(batch.producer))
        c["model"].extend(full(batch.model))
        c["synthetic_fraction"].extend(full(batch.synthetic_fraction))
        c["tokens"].extend(full(batch.tokens))
        c["green"].extend(full(batch.green))
        c["quality"].extend(full(batch.quality))
        self._append_paraphrase(np.asarray(batch.paraphrase, np.float32), full)
        if batch.original is not None:
            self._append_originals(start, full(batch.original))
        c["style"].extend(np.asarray(batch.style, np.float32).reshape(n, self.style_dim))
        for name, lengths in (
            ("concept_offsets", batch.concept_lengths),
            ("claim_offsets", batch.claim_lengths),
        ):  # offsets grow: their bounds are the first and the last (no min/max passes)
            ends = np.cumsum(lengths, dtype=np.int64)
            ends += int(c[name].view[-1])
            c[name].extend(ends, bounds=(int(ends[0]), int(ends[-1])))
        self._concepts.extend(np.asarray(batch.concepts))
        self._claim_facts.extend(np.asarray(batch.claim_facts))
        self._claim_values.extend(np.asarray(batch.claim_values))
        self._claim_errors.extend(np.asarray(batch.claim_errors))
        return np.arange(start, start + n, dtype=np.int64)

    def _append_paraphrase(self, values: np.ndarray, full) -> None:
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

    def _append_originals(self, start: int, original: np.ndarray) -> None:
        copies = np.flatnonzero(original >= 0)
        if copies.size:
            rows = start + copies
            self._repost_rows.extend(rows, bounds=(int(rows[0]), int(rows[-1])))
            self._repost_originals.extend(original[copies])

    # --- ragged gathers ----------------------------------------------------------------------
    def concept_rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Concept draws of documents ``ids``: ``(lengths, flat values)``."""
        return _ragged_gather(self.concept_offsets, self.concepts, ids)

    def claim_rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat claim indices of documents ``ids``: ``(lengths, claim index array)``."""
        starts, lengths = _spans(self.claim_offsets, ids)
        return lengths, _ragged_index(starts, lengths)

    def has_wrong_claim(self, ids: np.ndarray) -> np.ndarray:
        """Whether each document carries at least one wrong fact value."""
        starts, lengths = _spans(self.claim_offsets, ids)
        wrong = np.flatnonzero(np.take(self.claim_errors, _ragged_index(starts, lengths)) >= 0)
        out = np.zeros(lengths.size, dtype=bool)
        # the document of each wrong claim: the first whose claims end after it
        out[np.searchsorted(np.cumsum(lengths), wrong, side="right")] = True
        return out

    def concept_counts(self, ids: np.ndarray, n_concepts: int) -> np.ndarray:
        _, values = self.concept_rows(ids)
        return np.bincount(values, minlength=n_concepts)

    def root(self, ids: np.ndarray) -> np.ndarray:
        """The original document each document copies (itself if it is an original), in the
        wider of the ids' and the ``original`` column's integer types."""
        ids = _as_rows(ids)
        copies = self._repost_originals
        roots = ids.astype(np.result_type(ids, copies.data.dtype))  # a copy: most are originals
        where, pos = self._reposts_among(ids)
        roots[where] = copies.view[pos]
        return roots

    def to_frame(self):
        """Fixed-width columns as a pandas DataFrame (one row per document)."""
        import pandas as pd

        df = pd.DataFrame({k: self.column(k) for k in DOCUMENT_COLUMNS})
        df.insert(0, "id", np.arange(len(self)))
        df["n_concepts"] = np.diff(self.concept_offsets)
        df["n_claims"] = np.diff(self.claim_offsets)
        return df

    def all_columns(self) -> list[Column]:
        """Every column object: fixed-width, ragged values, and the reposts' originals."""
        cols = [*self._cols.values(), self._concepts, self._claim_facts, self._claim_values]
        return [*cols, self._claim_errors, self._repost_rows, self._repost_originals]

    @property
    def nbytes(self) -> int:
        """Bytes the documents use (reserved but untouched capacity excluded)."""
        return sum(c.nbytes for c in self.all_columns())

    def row_bytes(self) -> tuple[int, int, int, int]:
        """Bytes per document of the fixed-width columns (style and offsets included), per
        concept draw, per fact claim, and per repost (its row and its original's): what the
        column types make a document cost."""
        fixed = sum(c.data[:1].nbytes for c in self._cols.values())
        claim = sum(c.data.itemsize for c in (self._claim_facts, self._claim_values))
        repost = self._repost_rows.data.itemsize + self._repost_originals.data.itemsize
        return fixed, self._concepts.data.itemsize, claim + self._claim_errors.data.itemsize, repost

    @property
    def reserved_bytes(self) -> int:
        """Bytes reserved (pages are only committed as documents arrive)."""
        return sum(c.data.nbytes for c in self.all_columns())


def upgrade_layout(store: DocumentStore) -> None:
    """Convert a store unpickled from a checkpoint with one ``step``, ``original`` and
    ``paraphrase`` value per document to the compact layout (same values)."""
    cols = store._cols
    step, original, paraphrase = (cols.pop(k) for k in DERIVED)
    if step.size and not np.array_equal(store.steps_of(slice(0, step.size)), step.view):
        raise ValueError("checkpoint store: its step column disagrees with its month starts")
    n = original.size
    store._repost_rows = Column(store.types.row, capacity=n // 8 + 1024, widen=True)
    store._repost_originals = Column(original.data.dtype, capacity=n // 8 + 1024, widen=True)
    store._append_originals(0, original.view)
    store._paraphrase_table = CodeTable()
    cols["paraphrase"] = Column(np.uint8, capacity=len(paraphrase.data))
    store._append_paraphrase(paraphrase.view, lambda x: x)
    store._cols = {k: cols[k] for k in DOCUMENT_COLUMNS if k in cols} | {
        k: v for k, v in cols.items() if k not in DOCUMENT_COLUMNS
    }


def _as_rows(ids) -> np.ndarray:
    """``ids`` as an integer array (kept in its own integer type: no widening copy)."""
    ids = np.asarray(ids)
    return ids if ids.dtype.kind in "iu" else ids.astype(np.int64)


def _spans(offsets: np.ndarray, ids) -> tuple[np.ndarray, np.ndarray]:
    """Start and length (int64) of documents ``ids``' runs in a ragged column."""
    ids = _as_rows(ids)
    starts = np.take(offsets, ids).astype(np.int64)
    return starts, np.take(offsets, ids + 1) - starts


def _ragged_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat indices ``starts[i] .. starts[i]+lengths[i]`` for all i, concatenated (vectorised)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if ends.size else 0
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    index = np.repeat(np.asarray(starts, dtype=np.int64) - ends + lengths, lengths)
    index += np.arange(total, dtype=np.int64)
    return index


def _ragged_gather(offsets: np.ndarray, values: np.ndarray, ids: np.ndarray):
    starts, lengths = _spans(offsets, ids)
    return lengths, np.take(values, _ragged_index(starts, lengths))
