"""The one place a training set is built from a model's data policy.

A training set is held as sufficient statistics for the three learners (concept counts, fact
claim counts, style vectors) plus the document ids it used and provenance figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from habsburg.ecosystem.bitset import BitSet
from habsburg.ecosystem.idlists import GapList, decode
from habsburg.ecosystem.learners import Learners, sample_categorical
from habsburg.ecosystem.rawdraws import sorted_sample
from habsburg.ecosystem.registry import ErrorRegistry
from habsburg.ecosystem.store import HUMAN, MODEL, DocumentStore
from habsburg.ecosystem.world import World
from habsburg.scenarios.schema import DataPolicy

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt


@dataclass
class TrainingSet:
    concept_counts: np.ndarray
    fact_counts: np.ndarray
    style: np.ndarray
    doc_ids: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)
    #: share of the training data written by each model id (synthetic-fraction weighted)
    sources: dict[int, float] = field(default_factory=dict)
    #: documents an ``accumulate`` policy carries into the next generation
    accumulated: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: the originals of ``accumulated`` when it is deduplicated (else None)
    accumulated_roots: BitSet | None = None


def _sample(ids: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    if k >= ids.size:
        return ids
    return sorted_sample(ids, k, rng)


#: keys handled per pass by :func:`first_of_each` and :func:`dedup_roots` (bounds temporaries)
_CHUNK = 1 << 18
#: the most ids of crawls :func:`dedup_histories` decodes at once; a crawl of more than a
#: quarter of it is decoded alone, as its own list does (its numpy calls cost little next to
#: its ids, and joining it to others would cost a pass over them: 4-6% slower at 10×)
_GROUP = 1 << 16

#: the fewest styles a generation's style fit takes (an unbiased covariance needs two): a set of
#: one document (a budget of 1, as ``scaled(baseline, 1e-5)`` gives, or a crawl that kept one)
#: gets the human archive's styles as an empty set does; every larger set is fitted as it is
_STYLE_MIN = 2


def claims_per_fact(fact_counts: np.ndarray) -> tuple[float, float]:
    """The claims a training set makes about each fact it mentions (rows of ``fact_counts``, an
    (F, V) array of claim counts, with any claim): their median and 10th percentile (numpy's
    linear interpolation), NaN when it mentions none. A fact's learned value is its most
    claimed one (:attr:`~habsburg.ecosystem.learners.FactLearner.modal_value`), so the thinly
    claimed facts are those a few wrong claims can turn."""
    totals = np.asarray(fact_counts).sum(axis=1)
    mentioned = totals[totals > 0]
    if not mentioned.size:
        return float("nan"), float("nan")
    median, p10 = np.percentile(mentioned, [50, 10])
    return float(median), float(p10)


def _gather_float64(values: np.ndarray, ids: np.ndarray, extra: int = 0) -> np.ndarray:
    """``values[ids]`` (rows of a float32 column) as float64, gathered a chunk at a time into
    an array with ``extra`` more rows left to fill: no float32 copy of every row beside it."""
    out = np.empty((ids.size + extra, *values.shape[1:]), dtype=np.float64)
    for a in range(0, ids.size, _CHUNK):
        b = min(a + _CHUNK, ids.size)
        out[a:b] = np.take(values, ids[a:b], axis=0)
    return out


def _position_bits(n: int) -> int:
    """Bits that hold every position ``0 .. n - 1``."""
    return max(int(n - 1).bit_length(), 1)


def _packed_pairs(
    n: int, shift: int, keys_of: Callable[[int, int], np.ndarray], lo: int = 0
) -> np.ndarray:
    """``pairs[i] = (key_i - lo) << shift | i`` (int64), filled a chunk at a time from
    ``keys_of(a, b)``, the keys of positions ``a .. b - 1``."""
    pairs = np.empty(n, dtype=np.int64)
    for a in range(0, n, _CHUNK):
        block = pairs[a : a + _CHUNK]
        block[...] = keys_of(a, a + block.size)
        if lo:
            block -= lo
        block <<= shift
        block |= np.arange(a, a + block.size, dtype=np.int64)
    return pairs


def _first_of_pairs(
    pairs: np.ndarray,
    shift: int,
    kind: Literal["quicksort", "mergesort", "heapsort", "stable"] = "quicksort",
) -> np.ndarray:
    """Mask of first occurrences from ``pairs[i] = key_i << shift | i`` (int64; sorted in
    place): after one sort each key's pairs are adjacent and its first position comes first,
    so the pair that starts each run of equal keys names a first occurrence. The pairs are
    distinct, so every ``kind`` of sort gives the same mask."""
    pairs.sort(kind=kind)
    n = pairs.size
    low = (1 << shift) - 1
    first = np.zeros(n, dtype=bool)
    previous = None
    for a in range(0, n, _CHUNK):
        block = pairs[a : a + _CHUNK]
        keys = block >> shift
        starts = np.empty(keys.size, dtype=bool)
        starts[0] = previous is None or keys[0] != previous
        np.not_equal(keys[1:], keys[:-1], out=starts[1:])
        first[block[starts] & low] = True
        previous = keys[-1]
    return first


def first_of_each(keys: np.ndarray, nearly_sorted: bool = False) -> np.ndarray:
    """Mask of the first occurrence of each value of ``keys``, at a cost that grows with the
    number of keys, never with their range or the store: one sort of (key, position) pairs
    packed into an int64 each (9 bytes per key in all), or a stable argsort when a pair does
    not fit 63 bits. ``nearly_sorted`` keys (long increasing runs) are sorted by timsort,
    which merges the runs (several times faster on them) with a buffer of up to 4 bytes more
    per key; others by numpy's in-place quicksort."""
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = int(keys.min()), int(keys.max())
    shift = _position_bits(n)
    if (hi - lo).bit_length() + shift <= 63:
        pairs = _packed_pairs(n, shift, lambda a, b: keys[a:b], lo)
        return _first_of_pairs(pairs, shift, "stable" if nearly_sorted else "quicksort")
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    first = np.empty(n, dtype=bool)
    first[order] = starts
    return first


def _first_copies(store: DocumentStore, ids: np.ndarray, kept_roots: BitSet) -> np.ndarray:
    """Mask of the ids that are the first copy of their original: neither an earlier id in
    ``ids`` nor ``kept_roots`` has it; the originals of those ids are added to ``kept_roots``.

    A chunk of ids at a time, in order: the roots of the chunk are looked up, the first of
    each root within the chunk is found by :func:`first_of_each` (crawls are of increasing
    ids, so their roots come in long increasing runs), and it is kept unless ``kept_roots``
    (an earlier chunk, or whatever came before ``ids``) has that root."""
    keep = np.empty(ids.size, dtype=bool)
    for a in range(0, ids.size, _CHUNK):
        roots = store.root(ids[a : a + _CHUNK])
        new = first_of_each(roots, nearly_sorted=True)
        new &= ~kept_roots.contains(roots)
        kept_roots.add(roots[new])
        keep[a : a + roots.size] = new
    return keep


def dedup_roots(store: DocumentStore, ids: np.ndarray) -> np.ndarray:
    """Keep one copy per original: the first in ``ids`` (order and integer type kept).

    Memory: the mask of kept ids (1 byte per id), one bit per row of the store in a
    :class:`~habsburg.ecosystem.bitset.BitSet` of the originals kept so far (only pages where
    roots fall are touched) and a chunk's temporaries; no array of every root or pair. Time:
    linear in ``ids`` plus a sort of each chunk (:func:`_first_copies`)."""
    if ids.size == 0:
        return ids
    return ids[_first_copies(store, ids, BitSet(len(store)))]


class FirstCopies:
    """:func:`dedup_roots` of a history that only grows at its end (a scraper's crawls, one
    id array per crawl), kept up to date crawl by crawl.

    A first copy stays the first as the history grows (what comes later cannot come before
    it), so each crawl is deduplicated once, against the originals of the crawls before it
    (:attr:`roots`, one bit per store row), and its mask of first copies is kept (one bit per
    crawled id). A model that retrains on all crawls ever (``accumulate_subsample``) then
    sorts only the crawls since the last retrain; its pool is read from the masks
    (:func:`dedup_histories`: a decode and a mask per group of crawls, and for a later scraper
    a root lookup of its first copies), not deduplicated from every crawl ever again."""

    def __init__(self) -> None:
        #: every original the history copies (or is)
        self.roots = BitSet(0)
        self._masks: list[np.ndarray] = []  # one per crawl: its first copies, packed bits
        self._sizes: list[int] = []
        #: the number of first copies in each crawl
        self.kept: list[int] = []

    def __len__(self) -> int:
        """Number of crawls deduplicated so far."""
        return len(self._masks)

    def extend(self, store: DocumentStore, ids: np.ndarray) -> None:
        """Deduplicate the next crawl, ``ids``, against the history before it."""
        self.roots.grow(len(store))
        first = _first_copies(store, np.asarray(ids), self.roots)
        self._masks.append(np.packbits(first, bitorder="little"))
        self._sizes.append(first.size)
        self.kept.append(int(np.count_nonzero(first)))

    def mask(self, crawl: int) -> np.ndarray:
        """Which ids of crawl number ``crawl`` are first copies (booleans)."""
        return np.unpackbits(self._masks[crawl], count=self._sizes[crawl], bitorder="little").view(
            bool
        )

    def padded_masks(self, first: int, stop: int) -> tuple[np.ndarray, list[int]]:
        """:meth:`mask` of crawls ``first`` to ``stop - 1`` one after another, in two numpy
        calls, each followed by the bits that pad it to a whole byte (false), and the number of
        those bits after each crawl (what :func:`~habsburg.ecosystem.idlists.decode` takes as
        ``pad`` to line the crawls' ids up with them)."""
        packed = self._masks[first:stop]
        padding = [8 * m.size - n for m, n in zip(packed, self._sizes[first:stop], strict=True)]
        if not packed:
            return np.zeros(0, dtype=bool), padding
        return np.unpackbits(np.concatenate(packed), bitorder="little").view(bool), padding

    @property
    def nbytes(self) -> int:
        return self.roots.nbytes + sum(m.nbytes for m in self._masks)


def dedup_histories(
    store: DocumentStore, histories: list[tuple[list[GapList], FirstCopies]], dtype: npt.DTypeLike
) -> np.ndarray:
    """``dedup_roots(store, concatenate(every crawl of every history))`` in ``dtype``, from the
    histories' :class:`FirstCopies` (each up to date with its crawls).

    An id is kept when it is the first copy of its original within its own history and no
    earlier history copies that original (the earlier histories' :attr:`FirstCopies.roots`).
    The first history costs its masks; a later one also a root lookup of its first copies. The
    raw pool is never made: the crawls are decoded and masked into the result a group of
    consecutive crawls at a time (up to :data:`_GROUP` ids, or one larger crawl), in a few numpy
    calls a group rather than a few a crawl (a retrain on all crawls ever went through every
    crawl of every history: 7.4 k decodes in a run of 132 months, whatever its scale)."""
    for crawls, firsts in histories:
        if len(firsts) != len(crawls):
            raise ValueError(f"first copies of {len(firsts)} crawls for {len(crawls)} crawls")
    # one array for every history's first copies; a later history's are compacted in place
    out = np.empty(sum(sum(firsts.kept) for _, firsts in histories), dtype=dtype)
    at = 0
    for i, (crawls, firsts) in enumerate(histories):
        start = at
        for a, b in _groups([len(ids) for ids in crawls]):
            if b - a == 1:  # (a large crawl, or the only one: decoded as its list does)
                kept = crawls[a].ids()[firsts.mask(a)]
            else:
                mask, padding = firsts.padded_masks(a, b)
                kept = decode(crawls[a:b], padding)[mask]
            out[at : at + kept.size] = kept
            at += kept.size
        if i:  # looked up in each earlier history's originals (no union of them is made), a
            # chunk at a time: no root of every id, and the ids kept written back behind it
            for _, before in histories[:i]:
                before.roots.grow(len(store))
            write = start
            for a in range(start, at, _CHUNK):
                chunk = out[a : min(a + _CHUNK, at)]
                roots = store.root(chunk)
                earlier = np.zeros(roots.size, dtype=bool)
                for _, before in histories[:i]:
                    earlier |= before.roots.contains(roots)
                new = chunk[~earlier]  # (a copy, taken before anything is written over it)
                out[write : write + new.size] = new
                write += new.size
            at = write
    # (a view: the room of the ids dropped stays with it, until the pool is let go after sampling)
    return out[:at]


def _groups(sizes: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs ``(first, stop)`` of the items of ``sizes`` holding at most
    :data:`_GROUP` in all, an item of more than a quarter of that alone, which cover them in
    order."""
    out, first, held = [], 0, 0
    for i, size in enumerate(sizes):
        alone = 4 * size > _GROUP
        if i > first and (alone or held + size > _GROUP):
            out.append((first, i))
            first, held = i, 0
        held += size
        if alone:
            out.append((first, i + 1))
            first, held = i + 1, 0
    if first < len(sizes):
        out.append((first, len(sizes)))
    return out


def _root_statistics(ids: np.ndarray, roots: np.ndarray) -> tuple[int, np.ndarray]:
    """The number of distinct originals ``ids`` copy (or are), and the documents of ``ids``
    that are not the first copy of an original among ``ids`` themselves: their reposts, and
    the repeats of originals. Taking those away leaves the distinct originals present, each
    once, so the originals' claims are those of all ``ids`` less those of these few (a pass over
    the reposts and repeats, not over nearly the whole set). Sorts only the originals, which
    come as a few sorted runs (the web's sample, the reservoir's)."""
    original = roots == ids  # an original is its own root
    kept = np.sort(ids[original], kind="stable")  # (merges the runs)
    first = np.empty(kept.size, dtype=bool)
    first[:1] = True
    np.not_equal(kept[1:], kept[:-1], out=first[1:])
    present = kept[first]
    # the originals the reposts copy that are not themselves in the set
    copied = np.unique(roots[~original])
    at = np.minimum(np.searchsorted(present, copied), max(present.size - 1, 0))
    absent = np.count_nonzero(present[at] != copied) if present.size else copied.size
    others = np.concatenate([ids[~original], kept[~first]])
    return present.size + int(absent), others


@dataclass(frozen=True)
class Teacher:
    """A deployed model whose outputs are distilled into the student's training set."""

    index: int
    learners: Learners


def build_training_set(
    policy: DataPolicy,
    pool: np.ndarray,
    store: DocumentStore,
    world: World,
    rng: np.random.Generator,
    *,
    previous: np.ndarray,
    archive_last_step: int,
    facts_per_doc: float,
    teacher: Teacher | None = None,
    registry: ErrorRegistry | None = None,
    step: int = 0,
    deduplicated: bool = False,
    previous_roots: BitSet | None = None,
) -> TrainingSet:
    """Assemble the training data of a model's next generation from its data ``policy``.

    ``pool``: the filtered crawls the policy may draw from (``replace``/``accumulate``: crawls
    since the last retrain; ``accumulate_subsample``: all crawls ever), deduplicated by original,
    sampled to the web budget and passed through the verifier; ``accumulate`` adds ``previous``
    (the documents of every earlier generation; the new set's ``accumulated`` replaces it). Then
    the licensed pre-AI human reservoir (human documents published up to ``archive_last_step``;
    with ``dedup``, none that the web part holds, so each original is in the set once), fresh
    sensor (ground-truth) data, and distillation samples from ``teacher`` (whose wrong values
    are registered in ``registry`` as its own, at ``step``). ``deduplicated``: the pool
    is deduplicated already (:func:`dedup_histories`). ``previous_roots``: the originals of
    ``previous`` when it is deduplicated (the last set's ``accumulated_roots``), so only the
    new documents are looked up against it, not every earlier generation's again.
    """
    budget = policy.budget
    n_reservoir = round(policy.human_reservoir * budget)
    n_sensor = round(policy.sensor_fraction * budget)
    n_distill = round(policy.distill_fraction * budget) if policy.distill_from else 0
    n_web = max(0, budget - n_reservoir - n_sensor - n_distill)

    if policy.dedup and pool.size and not deduplicated:
        pool = dedup_roots(store, pool)
    web = _sample(pool, n_web, rng)
    # the pool (all crawls ever, for accumulate_subsample) is not held through the rest: the
    # caller passes it without a name, so this frees it before the styles are gathered
    del pool
    accumulated, accumulated_roots = previous, previous_roots
    if policy.mode == "accumulate":
        web, accumulated_roots = _accumulate(store, previous, web, policy.dedup, previous_roots)
        accumulated = web

    verified_out = 0
    if (policy.verifier_recall > 0 or policy.verifier_false_reject > 0) and web.size:
        has_error = store.has_wrong_claim(web)
        synthetic = store.synthetic_fraction[web] > 0
        p_drop = np.where(has_error, policy.verifier_recall, policy.verifier_false_reject)
        drop = synthetic & (rng.random(web.size) < p_drop)
        verified_out = int(drop.sum())
        web = web[~drop]

    reservoir = np.zeros(0, np.int64)
    if n_reservoir:
        archive = store.step_slice(0, archive_last_step)
        human = store.kind[archive] == HUMAN
        if policy.dedup and web.size:  # each original once: none the web part holds already
            inside = store.root(web) - archive.start
            human[inside[(inside >= 0) & (inside < human.size)]] = False
        candidates = archive.start + np.flatnonzero(human)
        reservoir = _sample(candidates, n_reservoir, rng)

    ids = np.concatenate([web, reservoir])
    K, F, V = world.config.concepts, world.config.facts, world.config.values_per_fact
    # counted a chunk of documents at a time (no flat array of every draw or claim)
    concept_counts = store.concept_counts(ids, K).astype(np.float64)
    fact_counts, n_wrong, n_claims = store.claim_counts(ids, F, V)
    fact_counts = fact_counts.astype(np.float64)
    # Duplication's lift of wrong facts: the wrong-claim share of the whole training set against
    # that of its original documents alone (reposts dropped, each document once). (Before the
    # styles are gathered, so its temporaries and the styles are never held together: no draws.)
    roots = store.root(ids)
    distinct_roots, others = _root_statistics(ids, roots)
    # reposts: copies of another document, whether or not its original is in the set
    repost_share = float((roots != ids).mean()) if ids.size else 0.0
    del roots
    other_wrong, other_claims = store.wrong_claims(np.sort(others))
    del others
    orig_wrong, orig_claims = n_wrong - other_wrong, n_claims - other_claims
    wrong_originals = orig_wrong / orig_claims if orig_claims else 0.0
    wrong_all = n_wrong / n_claims if n_claims else 0.0
    # room for the sensor and distillation rows too, so no vstack copies the web's rows
    extra = n_sensor + (n_distill if teacher is not None else 0)
    style = _gather_float64(store.style, ids, extra)
    mean_concepts = concept_counts.sum() / max(ids.size, 1) if ids.size else 12.0
    mean_claims = n_claims / max(ids.size, 1) if ids.size else facts_per_doc

    if n_sensor:
        concept_counts += rng.multinomial(int(n_sensor * mean_concepts), world.p_human)
        sf = sample_categorical(world.fact_popularity, int(n_sensor * mean_claims), rng)
        np.add.at(fact_counts, (sf, world.true_values[sf]), 1)
        style[ids.size : ids.size + n_sensor] = world.sample_human_style(n_sensor, rng)

    distilled = 0
    if n_distill and teacher is not None:
        distilled = n_distill
        concept_counts += teacher.learners.concepts.sample_counts(
            int(n_distill * mean_concepts), rng
        )
        df = sample_categorical(world.fact_popularity, int(n_distill * mean_claims), rng)
        dv, answered = teacher.learners.facts.sample(df, rng)
        df, dv = df[answered], dv[answered]
        if registry is not None:
            registry.register(df, dv, MODEL, teacher.index, teacher.index, step)
        np.add.at(fact_counts, (df, dv), 1)
        style[ids.size + n_sensor :] = teacher.learners.style.sample(n_distill, rng)

    empty = concept_counts.sum() == 0
    if empty:  # nothing crawled yet: fall back to the human archive
        concept_counts += rng.multinomial(max(1000, int(budget * 12)), world.p_human)
    if empty or len(style) < _STYLE_MIN:  # (or too few styles to fit a covariance)
        style = np.vstack([style, world.sample_human_style(max(10, budget // 10), rng)])

    sf = np.take(store.synthetic_fraction, ids).astype(np.float64)
    model_ids = np.take(store.model, ids)
    total_units = ids.size + n_sensor + distilled
    synthetic_units = sf.sum() + distilled
    sources: dict[int, float] = {}
    if total_units:
        weights = np.bincount(model_ids[model_ids >= 0], weights=sf[model_ids >= 0])
        for mid, w in enumerate(weights):
            if w > 0:
                sources[mid] = float(w / total_units)
        if distilled:  # (only with a teacher)
            assert teacher is not None
            sources[teacher.index] = sources.get(teacher.index, 0.0) + distilled / total_units
    claims_median, claims_p10 = claims_per_fact(fact_counts)
    stats = {
        # the policy's budget: a set smaller than it drew on crawls that held too little
        "budget": int(budget),
        "documents": int(total_units),
        "web_documents": int(web.size),
        "reservoir_documents": int(reservoir.size),
        "sensor_documents": int(n_sensor),
        "distilled_documents": int(distilled),
        "verifier_dropped": verified_out,
        "synthetic_share": float(synthetic_units / total_units) if total_units else 0.0,
        "repost_share": repost_share,
        # repeats: documents whose original (or the same document) already is in the set
        "duplicate_share": 1.0 - distinct_roots / ids.size if ids.size else 0.0,
        "wrong_claim_share": wrong_all,
        "wrong_claim_share_originals": wrong_originals,
        "duplication_error_lift": wrong_all - wrong_originals,
        # what the fact learner is fitted to: the claims about each fact mentioned
        "fact_claims_median": claims_median,
        "fact_claims_p10": claims_p10,
    }
    return TrainingSet(
        concept_counts, fact_counts, style, ids, stats, sources, accumulated, accumulated_roots
    )


def _accumulate(
    store: DocumentStore,
    previous: np.ndarray,
    web: np.ndarray,
    dedup: bool,
    previous_roots: BitSet | None,
) -> tuple[np.ndarray, BitSet | None]:
    """``previous`` followed by ``web``, deduplicated by original when ``dedup``
    (``dedup_roots(concatenate([previous, web]))``), and the originals of the result (None
    without ``dedup``).

    With ``previous_roots`` (``previous`` is deduplicated: every document the first copy of
    its original) ``previous`` is kept whole and only ``web`` is looked up against its
    originals; else the whole concatenation is deduplicated once. Either way by
    :func:`_first_copies`, whose bit set of kept originals is the result's."""
    if not dedup:
        return np.concatenate([previous, web]), None
    if previous_roots is None:
        roots, head, tail = BitSet(len(store)), previous[:0], np.concatenate([previous, web])
    else:
        roots, head, tail = previous_roots.copy(), previous, web  # (the caller's is kept)
        roots.grow(len(store))
    return np.concatenate([head, tail[_first_copies(store, tail, roots)]]), roots
