"""The shared internet's documents as columns: growable numpy arrays, no per-document objects.

Fixed-width columns grow by doubling; ragged columns (concept draws, fact claims) are stored as a
flat values array plus per-document offsets into it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: producer kinds (column ``kind``)
HUMAN, HYBRID, MODEL, FARM, REPOST = 0, 1, 2, 3, 4
KIND_NAMES = ("human", "hybrid", "model", "farm", "repost")


class _Column:
    """A growable 1-d or 2-d numpy column."""

    def __init__(self, dtype, width: int | None = None, capacity: int = 1024):
        shape = (capacity,) if width is None else (capacity, width)
        self.data = np.zeros(shape, dtype=dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        n = len(values)
        need = self.size + n
        if need > len(self.data):
            cap = max(need, 2 * len(self.data))
            grown = np.zeros((cap, *self.data.shape[1:]), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : need] = values
        self.size = need

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.size]


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
    """

    def __init__(self, style_dim: int, capacity: int = 4096) -> None:
        self.style_dim = style_dim
        self._cols = {
            "step": _Column(np.int32, capacity=capacity),
            "site": _Column(np.int32, capacity=capacity),
            "kind": _Column(np.int8, capacity=capacity),
            "producer": _Column(np.int32, capacity=capacity),
            "model": _Column(np.int32, capacity=capacity),
            "synthetic_fraction": _Column(np.float32, capacity=capacity),
            "tokens": _Column(np.int32, capacity=capacity),
            "green": _Column(np.int32, capacity=capacity),
            "quality": _Column(np.float32, capacity=capacity),
            "original": _Column(np.int64, capacity=capacity),
            "paraphrase": _Column(np.float32, capacity=capacity),
            "style": _Column(np.float32, width=style_dim, capacity=capacity),
            "concept_offsets": _Column(np.int64, capacity=capacity + 1),
            "claim_offsets": _Column(np.int64, capacity=capacity + 1),
        }
        self._cols["concept_offsets"].extend(np.zeros(1, np.int64))
        self._cols["claim_offsets"].extend(np.zeros(1, np.int64))
        self._concepts = _Column(np.int32, capacity=capacity * 8)
        self._claim_facts = _Column(np.int32, capacity=capacity * 2)
        self._claim_values = _Column(np.int16, capacity=capacity * 2)
        self._claim_errors = _Column(np.int32, capacity=capacity * 2)
        self._step_starts: list[int] = []
        self._site_index: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}

    # --- sizes and columns -------------------------------------------------------------------
    def __len__(self) -> int:
        return self._cols["step"].size

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("_cols")
        if cols is not None and name in cols:
            return cols[name].view
        raise AttributeError(name)

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
        ``rows[starts[s]:starts[s + 1]]``. Cached; rebuilt while the step is still growing."""
        sl = self.step_slice(step, step)
        cached = self._site_index.get(step)
        if cached is not None and cached[0] == sl.stop:
            return cached[1], cached[2]
        sites = self.site[sl]
        order = np.argsort(sites, kind="stable")
        rows = sl.start + order.astype(np.int64)
        starts = np.searchsorted(sites[order], np.arange(n_sites + 1))
        self._site_index[step] = (sl.stop, rows, starts)
        return rows, starts

    # --- appending ---------------------------------------------------------------------------
    def append(self, batch: Batch, step: int) -> np.ndarray:
        """Append a batch; returns the new rows' ids."""
        n = len(batch.synthetic_fraction)
        start = len(self)
        if n == 0:
            return np.arange(start, start, dtype=np.int64)

        def full(x, dtype):
            arr = np.asarray(x, dtype=dtype)
            return np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr

        c = self._cols
        c["step"].extend(np.full(n, step, np.int32))
        c["site"].extend(full(batch.site, np.int32))
        c["kind"].extend(full(batch.kind, np.int8))
        c["producer"].extend(full(batch.producer, np.int32))
        c["model"].extend(full(batch.model, np.int32))
        c["synthetic_fraction"].extend(full(batch.synthetic_fraction, np.float32))
        c["tokens"].extend(full(batch.tokens, np.int32))
        c["green"].extend(full(batch.green, np.int32))
        c["quality"].extend(full(batch.quality, np.float32))
        original = np.full(n, -1, np.int64) if batch.original is None else batch.original
        c["original"].extend(full(original, np.int64))
        c["paraphrase"].extend(full(batch.paraphrase, np.float32))
        c["style"].extend(np.asarray(batch.style, np.float32).reshape(n, self.style_dim))
        last = c["concept_offsets"].view[-1]
        c["concept_offsets"].extend(last + np.cumsum(batch.concept_lengths, dtype=np.int64))
        last = c["claim_offsets"].view[-1]
        c["claim_offsets"].extend(last + np.cumsum(batch.claim_lengths, dtype=np.int64))
        self._concepts.extend(np.asarray(batch.concepts, np.int32))
        self._claim_facts.extend(np.asarray(batch.claim_facts, np.int32))
        self._claim_values.extend(np.asarray(batch.claim_values, np.int16))
        self._claim_errors.extend(np.asarray(batch.claim_errors, np.int32))
        return np.arange(start, start + n, dtype=np.int64)

    # --- ragged gathers ----------------------------------------------------------------------
    def concept_rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Concept draws of documents ``ids``: ``(lengths, flat values)``."""
        return _ragged_gather(self.concept_offsets, self.concepts, ids)

    def claim_rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat claim indices of documents ``ids``: ``(lengths, claim index array)``."""
        offsets = self.claim_offsets
        ids = np.asarray(ids, dtype=np.int64)
        lengths = offsets[ids + 1] - offsets[ids]
        return lengths, _ragged_index(offsets[ids], lengths)

    def has_wrong_claim(self, ids: np.ndarray) -> np.ndarray:
        """Whether each document carries at least one wrong fact value."""
        ids = np.asarray(ids, dtype=np.int64)
        lengths, claim_idx = self.claim_rows(ids)
        owner = np.repeat(np.arange(ids.size), lengths)
        wrong = self.claim_errors[claim_idx] >= 0
        return np.bincount(owner, weights=wrong, minlength=ids.size) > 0

    def concept_counts(self, ids: np.ndarray, n_concepts: int) -> np.ndarray:
        _, values = self.concept_rows(ids)
        return np.bincount(values, minlength=n_concepts)

    def root(self, ids: np.ndarray) -> np.ndarray:
        """The original document each document copies (itself if it is an original)."""
        ids = np.asarray(ids, dtype=np.int64)
        orig = self.original[ids]
        return np.where(orig >= 0, orig, ids)

    def to_frame(self):
        """Fixed-width columns as a pandas DataFrame (one row per document)."""
        import pandas as pd

        cols = {
            k: self._cols[k].view for k in self._cols if k not in ("style",) and "offsets" not in k
        }
        df = pd.DataFrame(cols)
        df.insert(0, "id", np.arange(len(self)))
        df["n_concepts"] = np.diff(self.concept_offsets)
        df["n_claims"] = np.diff(self.claim_offsets)
        return df

    @property
    def nbytes(self) -> int:
        cols = [*self._cols.values(), self._concepts, self._claim_facts, self._claim_values]
        cols.append(self._claim_errors)
        return sum(c.data.nbytes for c in cols)


def _ragged_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat indices ``starts[i] .. starts[i]+lengths[i]`` for all i, concatenated (vectorised)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    row_starts = np.repeat(
        np.asarray(starts, dtype=np.int64) - np.cumsum(lengths) + lengths, lengths
    )
    return row_starts + np.arange(total, dtype=np.int64)


def _ragged_gather(offsets: np.ndarray, values: np.ndarray, ids: np.ndarray):
    ids = np.asarray(ids, dtype=np.int64)
    lengths = offsets[ids + 1] - offsets[ids]
    return lengths, values[_ragged_index(offsets[ids], lengths)]
