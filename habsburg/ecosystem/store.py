"""The shared internet's documents as columns: numpy arrays, no per-document objects.

Column types are the narrowest the scenario's sizes allow (:class:`ColumnTypes`: int16 sites and
producers, int8 model ids, int16 concept and fact ids ...); a scenario too large for them is
refused before the run with a :class:`~habsburg.scenarios.errors.ScenarioError` naming the
setting. Capacity is reserved up front from the scenario's expected document count (untouched
pages of a zeroed reservation cost no memory), so columns are copied only if a run outgrows the
estimate. Derived integer columns (tokens, green counts, offsets) widen themselves rather than
overflow. Ragged columns (concept draws, fact claims) are a flat values array plus per-document
offsets into it, kept as a uint16 (concepts) or uint8 (claims, a few per document) per document
relative to a base per block (:class:`~habsburg.ecosystem.columns.RaggedOffsets`). A fact claim is one code,
``fact × values_per_fact + value`` (two bytes while the codes fit: :func:`claim_type`), which is
also the key the learners' counts and the error registry index. A run's claims carry no stored
error id: it is derived from the claim's code through the error registry
(:meth:`DocumentStore.derive_errors_from`). The per-site index crawls use is kept only for the
months crawls can reach.

``step``, ``original`` and ``paraphrase`` are not stored one value per document (to save memory;
results are unchanged): see :mod:`habsburg.ecosystem.compact`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from habsburg.ecosystem.bitset import BitSet
from habsburg.ecosystem.columns import (  # noqa: F401  (kinds, ColumnTypes, int_type re-exported)
    FARM,
    HUMAN,
    HYBRID,
    KIND_NAMES,
    MODEL,
    REPOST,
    Column,
    ColumnTypes,
    RaggedOffsets,
    as_rows,
    claim_type,
    expected_documents,
    int_type,
)
from habsburg.ecosystem.compact import (
    DOCUMENT_COLUMNS,
    CodeTable,
    CompactColumns,
    Reposts,
)
from habsburg.ecosystem.sampling import merge_groups, ragged_index, stable_order

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy.typing as npt
    import pandas as pd

    from habsburg.ecosystem.registry import ErrorRegistry
    from habsburg.scenarios.schema import Scenario

#: documents per pass of the store's counting statistics (bounds their temporaries)
STAT_CHUNK = 1 << 16


#: :class:`Batch` fields of one value per document (or one for all; ``original`` may be None,
#: ``step`` is the append's), and the ragged ones
_PER_DOCUMENT = tuple(c for c in DOCUMENT_COLUMNS if c not in ("step", "original"))
_RAGGED = (
    "concept_lengths",
    "concepts",
    "claim_lengths",
    "claim_facts",
    "claim_values",
    "claim_errors",
)


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

    @classmethod
    def join(cls, batches: list[Batch]) -> Batch:
        """One batch of the documents of ``batches``, in order: appending it stores what
        appending each in turn would (the same rows, ids and values) at one append's cost. A
        per-document field every batch gives as the same scalar stays that scalar."""
        batches = [b for b in batches if len(b.synthetic_fraction)] or batches[:1]
        if len(batches) == 1:  # (an empty batch appends nothing)
            return batches[0]
        sizes = [len(b.synthetic_fraction) for b in batches]

        def per_document(name: str, missing: int | None = None) -> np.ndarray | int | float | None:
            values = [getattr(b, name) for b in batches]
            if all(v is None for v in values):
                return None
            scalars = all(np.ndim(v) == 0 and v is not None for v in values)
            if scalars and all(v == values[0] for v in values):
                return values[0]
            return np.concatenate(
                [
                    np.broadcast_to(np.asarray(missing if v is None else v), (n,))
                    for v, n in zip(values, sizes, strict=True)
                ]
            )

        def flat(name: str) -> np.ndarray:
            return np.concatenate([np.asarray(getattr(b, name)) for b in batches])

        fields: dict[str, Any] = {name: per_document(name) for name in _PER_DOCUMENT}
        fields |= {name: flat(name) for name in _RAGGED}
        fields["original"] = per_document("original", missing=-1)
        fields["style"] = np.concatenate(
            [np.asarray(b.style).reshape(n, -1) for b, n in zip(batches, sizes, strict=True)]
        )
        return cls(**fields)


def _lengths(offsets: RaggedOffsets, rows: slice, n: int) -> np.ndarray:
    """Run lengths (int32) of documents ``rows`` from their ``offsets``: the differences go
    straight into the int32 result (no int64 copy of them)."""
    lo, hi, _ = rows.indices(n)
    ends = offsets.between(lo, max(lo, hi) + 1)
    out = np.empty(ends.size - 1, dtype=np.int32)
    np.subtract(ends[1:], ends[:-1], out=out, casting="unsafe")  # a document's run fits int32
    return out


class DocumentStore(CompactColumns):
    """Columnar store of every document published on the simulated internet.

    Columns: id (implicit row number), step, site, kind, producer, model (-1 if none),
    synthetic_fraction (ground truth), tokens, green (watermark green-token count), style (d floats),
    quality, original (row this document reposts, -1 if original), paraphrase (fraction ε of
    tokens paraphrased or spun), concept draws (ragged) and fact
    claims (ragged: one code per claim for its fact and value; its error id or -1 derived).

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
        }
        self._concept_offsets = RaggedOffsets(
            self._column, "concept_offsets", capacity, *RaggedOffsets.layout_for(concepts_per_doc)
        )
        self._claim_offsets = RaggedOffsets(
            self._column, "claim_offsets", capacity, *RaggedOffsets.layout_for(claims_per_doc)
        )
        n_concepts = int(capacity * concepts_per_doc) + 1024
        n_claims = int(capacity * claims_per_doc) + 1024
        self._concepts = self._column("concepts", t.concept, capacity=n_concepts)
        #: claim codes ``fact × t.values + value`` (:meth:`claims_at` decodes them)
        self._claims = self._column("claims", t.claim, capacity=n_claims)
        #: error ids of the claims, stored until :meth:`derive_errors_from` gives a registry
        self._claim_errors: Column | None = self._column("claim_errors", t.error, capacity=n_claims)
        self._errors: ErrorRegistry | None = None
        self._paraphrase_table: CodeTable | None = CodeTable()
        n_reposts = capacity // 8 + 1024
        self._reposts = Reposts(
            self._column("repost_rows", t.row, capacity=n_reposts, widen=True),
            self._column("repost_originals", t.row, capacity=n_reposts, widen=True),
            self._cols["kind"],
            REPOST,
        )
        self._step_starts: list[int] = []
        self._site_index: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        #: the documents with a wrong fact value, a bit each, set as they are appended (whether a
        #: claim is wrong is fixed once it is published): crawls ask it of every document
        self._wrong_docs = BitSet(capacity)

    def _column(
        self, name: str, dtype: npt.DTypeLike, width: int | None = None, **kw: Any
    ) -> Column:
        """A new column (in memory; :class:`~habsburg.ecosystem.ondisk.OnDiskStore` maps files)."""
        return Column(dtype, width, **kw)

    @classmethod
    def for_scenario(cls, sc: Scenario, months: int | None = None, **kw: Any) -> DocumentStore:
        """The store of a run of scenario ``sc`` (refuses one its types cannot hold), with room
        reserved for its first ``months`` months (default: all; it grows past them). The
        column types are the whole scenario's either way, so the tables are the same."""
        expected = expected_documents(sc)
        h = sc.humans
        return cls(
            sc.world.style_dim,
            capacity=expected if months is None else expected_documents(sc, months),
            types=ColumnTypes.for_scenario(sc, expected),
            site_window=max((s.window_months for s in sc.scrapers), default=1),
            concepts_per_doc=1.2 * h.tokens_mean / h.tokens_per_concept + 1,
            claims_per_doc=1.2 * h.facts_per_doc + 0.5,
            **kw,
        )

    # --- sizes and columns -------------------------------------------------------------------
    def __len__(self) -> int:
        return self._cols["site"].size

    @property
    def id_type(self) -> type[np.signedinteger]:
        """The narrowest type that holds every row id so far: int32 while the store has fewer
        than 2**31 documents (what crawls and training pools keep ids in), else int64."""
        return np.int32 if len(self) <= np.iinfo(np.int32).max else np.int64

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
        """Every claim's fact (a new array: prefer :meth:`claims_at` on the claims needed)."""
        return self.claims_at(slice(None))[0]

    @property
    def claim_values(self) -> np.ndarray:
        """Every claim's value (a new array: prefer :meth:`claims_at`)."""
        return self.claims_at(slice(None))[1]

    def claim_codes(self, claims: np.ndarray | slice) -> np.ndarray:
        """The stored codes ``fact × types.values + value`` of the claims at flat indices
        ``claims`` (an integer array or a slice)."""
        return self._claims.view[claims]

    def claims_at(self, claims: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
        """``(facts, values)`` of the claims at flat indices ``claims``, in the scenario's fact
        and value types."""
        return self._decode(self.claim_codes(claims))

    def _decode(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        facts, values = np.divmod(codes, self.types.values)
        return facts.astype(self.types.fact), values.astype(self.types.value)

    def _claim_code(self, facts: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The codes of claims (fact, value); a value outside ``0 .. types.values - 1`` would not
        decode to itself and is refused (as are facts or values that are not whole numbers)."""
        for name, x in (("fact", facts), ("value", values)):
            if x.dtype.kind not in "iub" and x.size and not np.array_equal(x, np.trunc(x)):
                raise ValueError(f"claim {name}s must be whole numbers, got {x.dtype}")
        facts, values = facts.astype(np.int64, copy=False), values.astype(np.int64, copy=False)
        if values.size and (values.min() < 0 or values.max() >= self.types.values):
            bad = values[(values < 0) | (values >= self.types.values)][0]
            raise ValueError(
                f"claim value {bad} is outside 0 .. {self.types.values - 1} (values_per_fact)"
            )
        if facts.size and facts.min() < 0:
            raise ValueError(f"claim fact {facts.min()} is negative")
        codes = facts * self.types.values  # a new int64 array (the caller's are not changed)
        codes += values
        return codes

    def _registry_keys(self) -> bool:
        """Whether claim codes are the registry's keys (the same base), so they index it."""
        return self._errors is not None and self._errors.n_values == self.types.values

    @property
    def claim_errors(self) -> np.ndarray:
        """Every claim's error id (-1 if its value is true): a new array when the ids are
        derived (prefer :meth:`claim_error_ids` on the claims needed)."""
        return self.claim_error_ids(slice(None))

    @property
    def concept_offsets(self) -> np.ndarray:
        """Where each document's concept draws begin, and their total last (a new int64 array:
        prefer :meth:`concept_lengths` or :meth:`concept_rows`)."""
        return self._concept_offsets.between(0, len(self) + 1)

    @property
    def claim_offsets(self) -> np.ndarray:
        """Where each document's claims begin, and their total last (a new int64 array)."""
        return self._claim_offsets.between(0, len(self) + 1)

    def concept_lengths(self, rows: slice = slice(None)) -> np.ndarray:
        """The number of concept draws of each of documents ``rows`` (a slice; int32)."""
        return _lengths(self._concept_offsets, rows, len(self))

    def claim_lengths(self, rows: slice = slice(None)) -> np.ndarray:
        """The number of fact claims of each of documents ``rows`` (a slice; int32)."""
        return _lengths(self._claim_offsets, rows, len(self))

    def derive_errors_from(self, registry: ErrorRegistry) -> None:
        """Derive claims' error ids from ``registry`` (an
        :class:`~habsburg.ecosystem.registry.ErrorRegistry`) instead of storing them: a claim's
        id is a function of its fact and value, fixed once the value is first published (before
        it is appended). Called on an empty store; saves two bytes or more per claim."""
        if self._claim_errors is not None and self._claim_errors.size:
            raise ValueError("error ids are derived from the start of a run, not midway")
        self._errors, self._claim_errors = registry, None

    def claim_error_ids(self, claims: np.ndarray | slice) -> np.ndarray:
        """Error ids of the claims at flat indices ``claims`` (an integer array or a slice):
        -1 where the value is true."""
        if self._claim_errors is not None:
            return self._claim_errors.view[claims]
        assert self._errors is not None  # (derive_errors_from gave it in their place)
        if self._registry_keys():
            ids = self._errors.key_ids(self.claim_codes(claims))
        else:
            ids = self._errors.claim_ids(*self.claims_at(claims))
        return ids.astype(self.types.error, copy=False)  # the stored column's type

    def claim_owners(self, claims: np.ndarray) -> np.ndarray:
        """The document (int64) of each claim at flat indices ``claims`` (increasing)."""
        return self._claim_offsets.owners(claims)

    def claim_wrong(
        self, claims: np.ndarray | slice, codes: np.ndarray | None = None
    ) -> np.ndarray:
        """Whether each claim at flat indices ``claims`` has a wrong value (``codes``: their
        codes, if already gathered)."""
        if self._claim_errors is not None:
            return self._claim_errors.view[claims] >= 0
        codes = self.claim_codes(claims) if codes is None else codes
        assert self._errors is not None  # (derive_errors_from gave it in their place)
        if self._registry_keys():
            return self._errors.wrong_keys(codes)
        return self._errors.wrong(*self._decode(codes))

    @property
    def n_claims(self) -> int:
        return self._claims.size

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
        if cached is not None and sl.start <= cached[0] < sl.stop and cached[2].size == n_sites + 1:
            # rows appended since (scrapers' reposts): merge them in instead of sorting again
            new_rows, new_starts = self._group_by_site(slice(cached[0], sl.stop), n_sites)
            rows, starts = merge_groups(cached[1], cached[2], new_rows, new_starts)
        else:
            rows, starts = self._group_by_site(sl, n_sites)
        self._site_index[step] = (sl.stop, rows, starts)
        if self.site_window is not None:
            oldest = max(self._site_index) - self.site_window + 1  # (a crawl's months)
            for old in [s for s in self._site_index if s < oldest]:
                del self._site_index[old]
        return rows, starts

    def _group_by_site(self, sl: slice, n_sites: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``sl`` grouped by site, in row order within a site, and each site's start."""
        sites = self.site[sl]
        order = stable_order(sites)
        rows = (sl.start + order).astype(self.types.row)
        return rows, np.searchsorted(sites[order], np.arange(n_sites + 1))

    def share_site_rows(self, step: int, rows: np.ndarray) -> None:
        """Keep the site index of finished month ``step`` as ``rows``: a view of a copy of its
        rows that a caller holds anyway (the internet's buffer of a crawl window's months), so
        the rows are held once."""
        cached = self._site_index.get(step)
        if cached is not None and cached[1].size == rows.size and cached[1].dtype == rows.dtype:
            self._site_index[step] = (cached[0], rows, cached[2])

    def __getstate__(self) -> dict:
        """Checkpoints leave out the site index (a cache, rebuilt on demand)."""
        state = self.__dict__.copy()
        state["_site_index"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        """Checkpoints of stores with one full offset per document, with stored error ids, or
        with a fact and a value column for claims, load (the offsets are re-blocked; stored
        error ids stay stored; facts and values become codes)."""
        super().__setstate__(state)
        state = self.__dict__
        state.setdefault("_errors", None)
        if "_claim_facts" in state:
            self._code_old_claims(state.pop("_claim_facts").view, state.pop("_claim_values").view)
        if "_concept_offsets" not in state:
            for name, per_doc in (("concept_offsets", 8.0), ("claim_offsets", 2.0)):
                old = state["_cols"].pop(name)
                n = old.size - 1
                layout = RaggedOffsets.layout_for(per_doc)
                offsets = RaggedOffsets(self._column, name, n, *layout)
                offsets.extend(old.view[1:].astype(np.int64))
                state[f"_{name}"] = offsets
        if "_wrong_docs" not in state:  # checkpoints from before it was kept
            self._wrong_docs = BitSet(len(self))
            for a in range(0, len(self), STAT_CHUNK):
                rows = np.arange(a, min(a + STAT_CHUNK, len(self)))
                self._wrong_docs.add(rows[self._claims_wrong(rows)])

    def _code_old_claims(self, facts: np.ndarray, values: np.ndarray) -> None:
        """The ``claims`` column of a store pickled with a fact and a value column: codes in
        the registry's base when it derives the error ids (the codes are then its keys)."""
        registry = self._errors
        if registry is not None:
            n_facts, n_values = registry.n_facts, registry.n_values
        else:
            n_facts, n_values = int(facts.max(initial=0)) + 1, self.types.values
        self.types = replace(self.types, claim=claim_type(n_facts, n_values), values=int(n_values))
        self._claims = self._column("claims", self.types.claim, capacity=max(facts.size, 1024))
        self._claims.extend(self._claim_code(facts, values))

    # --- appending ---------------------------------------------------------------------------
    def append(self, batch: Batch, step: int) -> np.ndarray:
        """Append a batch; returns the new rows' ids. Values that do not fit a column's type are
        refused (OverflowError) or widen the column (derived counts), never wrapped."""
        n = len(batch.synthetic_fraction)
        start = len(self)
        if n == 0:
            return np.arange(start, start, dtype=np.int64)

        def full(x: npt.ArrayLike) -> np.ndarray:
            arr = np.asarray(x)
            return np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr

        starts = self._step_starts
        if step < len(starts) - 1:
            raise ValueError(
                f"documents of month index {step} appended after month {len(starts) - 1} began "
                "(the store keeps documents in month order)"
            )
        # refused (a value that would not decode to itself) before any column grows
        claim_codes = self._claim_code(
            np.asarray(batch.claim_facts), np.asarray(batch.claim_values)
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
        original = None if batch.original is None else full(batch.original)
        self._reposts.add(start, original, batch.kind)
        c["style"].extend(np.asarray(batch.style, np.float32).reshape(n, self.style_dim))
        for offsets, lengths, values in (
            (self._concept_offsets, batch.concept_lengths, self._concepts),
            (self._claim_offsets, batch.claim_lengths, self._claims),
        ):
            ends = np.cumsum(lengths, dtype=np.int64)
            ends += values.size
            offsets.extend(ends)
        self._concepts.extend(np.asarray(batch.concepts))
        self._claims.extend(claim_codes)
        if self._claim_errors is not None:
            self._claim_errors.extend(np.asarray(batch.claim_errors))
        first = self._claims.size - claim_codes.size
        wrong = np.flatnonzero(self.claim_wrong(slice(first, self._claims.size), claim_codes))
        self._wrong_docs.grow(start + n)
        self._wrong_docs.add(self.claim_owners(first + wrong))
        return np.arange(start, start + n, dtype=np.int64)

    # --- ragged gathers ----------------------------------------------------------------------
    def concept_rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Concept draws of documents ``ids``: ``(lengths, flat values)``."""
        starts, lengths = self._concept_offsets.spans(ids)
        return lengths, np.take(self.concepts, ragged_index(starts, lengths))

    def claim_rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat claim indices of documents ``ids``: ``(lengths, claim index array)``."""
        starts, lengths = self._claim_offsets.spans(ids)
        return lengths, ragged_index(starts, lengths)

    def has_wrong_claim(self, ids: np.ndarray) -> np.ndarray:
        """Whether each document carries at least one wrong fact value (a bit kept per
        document as it is appended)."""
        return self._wrong_docs.contains(as_rows(ids))

    def _claims_wrong(self, ids: np.ndarray) -> np.ndarray:
        """:meth:`has_wrong_claim` from the documents' claims."""
        starts, lengths = self._claim_offsets.spans(ids)
        wrong = np.flatnonzero(self.claim_wrong(ragged_index(starts, lengths)))
        out = np.zeros(lengths.size, dtype=bool)
        # the document of each wrong claim: the first whose claims end after it
        out[np.searchsorted(np.cumsum(lengths), wrong, side="right")] = True
        return out

    def concept_counts(self, ids: np.ndarray, n_concepts: int) -> np.ndarray:
        """How often each concept is drawn in documents ``ids`` (int64), counted
        :data:`STAT_CHUNK` documents at a time: a ragged gather's flat indices take 8 bytes per
        draw, twice over while they are built (~1 GB for a 100× training set of 5 M documents
        taken whole)."""
        counts = np.zeros(n_concepts, dtype=np.int64)
        for a in range(0, len(ids), STAT_CHUNK):
            _, values = self.concept_rows(ids[a : a + STAT_CHUNK])
            counts += np.bincount(values, minlength=n_concepts)
        return counts

    def claim_counts(
        self, ids: np.ndarray, n_facts: int, n_values: int
    ) -> tuple[np.ndarray, int, int]:
        """The fact claims of documents ``ids``: ``(counts, wrong, total)``, with ``counts[f, v]``
        the claims that fact ``f`` has value ``v`` (int64), ``wrong`` the claims with a wrong
        value; counted :data:`STAT_CHUNK` documents at a time."""
        counts = np.zeros(n_facts * n_values, dtype=np.int64)
        wrong = total = 0
        for claims in self._claim_chunks(ids):
            codes = np.take(self._claims.view, claims)
            keys = codes  # the counts' flat indices when they share the codes' base
            if n_values != self.types.values:
                facts, values = self._decode(codes)
                keys = facts.astype(np.int64) * n_values + values
            counts += np.bincount(keys, minlength=n_facts * n_values)
            wrong += int(np.count_nonzero(self.claim_wrong(claims, codes)))
            total += claims.size
        return counts.reshape(n_facts, n_values), wrong, total

    def wrong_claims(self, ids: np.ndarray) -> tuple[int, int]:
        """``(wrong, total)``: the fact claims of documents ``ids`` with a wrong value, and all
        their claims (a chunk of documents at a time)."""
        wrong = total = 0
        for claims in self._claim_chunks(ids):
            wrong += int(np.count_nonzero(self.claim_wrong(claims)))
            total += claims.size
        return wrong, total

    def _claim_chunks(self, ids: np.ndarray) -> Iterator[np.ndarray]:
        for a in range(0, len(ids), STAT_CHUNK):
            yield self.claim_rows(ids[a : a + STAT_CHUNK])[1]

    def root(self, ids: np.ndarray) -> np.ndarray:
        """The original document each document copies (itself if it is an original), in the
        wider of the ids' and the ``original`` column's integer types."""
        ids = as_rows(ids)
        roots = ids.astype(np.result_type(ids, self._reposts.dtype))  # a copy: most are originals
        where, pos = self._reposts.among(ids)
        roots[where] = self._reposts.originals.view[pos]
        return roots

    def to_frame(self) -> pd.DataFrame:
        """Fixed-width columns as a pandas DataFrame (one row per document)."""
        import pandas as pd

        df = pd.DataFrame({k: self.column(k) for k in DOCUMENT_COLUMNS})
        df.insert(0, "id", np.arange(len(self)))
        df["n_concepts"] = self.concept_lengths()
        df["n_claims"] = self.claim_lengths()
        return df

    def all_columns(self) -> list[Column]:
        """Every column object: fixed-width, offsets, ragged values, and the reposts' originals."""
        cols = [*self._cols.values(), *self._concept_offsets.columns, *self._claim_offsets.columns]
        cols += [self._concepts, self._claims]
        if self._claim_errors is not None:
            cols.append(self._claim_errors)
        return [*cols, *self._reposts.columns]

    @property
    def nbytes(self) -> int:
        """Bytes the documents use (reserved but untouched capacity excluded)."""
        return sum(c.nbytes for c in self.all_columns()) + (len(self) + 7) // 8  # + wrong_docs

    def row_bytes(self) -> tuple[int, int, int, int]:
        """Bytes per document of the fixed-width columns (style and offsets included), per
        concept draw, per fact claim, and per repost (its row and its original's): what the
        column types make a document cost."""
        fixed = sum(c.data[:1].nbytes for c in self._cols.values())
        fixed += sum(o.rel.data.itemsize for o in (self._concept_offsets, self._claim_offsets))
        claim = [self._claims]
        if self._claim_errors is not None:
            claim.append(self._claim_errors)
        repost = sum(c.data.itemsize for c in self._reposts.columns)
        return fixed, self._concepts.data.itemsize, sum(c.data.itemsize for c in claim), repost

    @property
    def reserved_bytes(self) -> int:
        """Bytes reserved (pages are only committed as documents arrive)."""
        return sum(c.data.nbytes for c in self.all_columns())
