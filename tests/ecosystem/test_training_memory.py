"""The lean retrain path (narrow pools, chunked dedup, np.take gathers) builds exactly the
training sets the plain wide-integer code built, and draws the same random numbers."""

import copy
import weakref
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinyscenario import tiny_scenario
from tracing import traced_peak

from habsburg.agents.generative import GenerativeModel
from habsburg.agents.scraper import Scraper
from habsburg.ecosystem import training
from habsburg.ecosystem.columns import REPOST, Column
from habsburg.ecosystem.idlists import GapList, decode, joined
from habsburg.ecosystem.training import (
    FirstCopies,
    build_training_set,
    dedup_histories,
    dedup_roots,
    first_of_each,
)
from habsburg.model.model import EcosystemModel


def _plain_first(keys):
    first = np.zeros(keys.size, dtype=bool)
    first[np.unique(keys, return_index=True)[1]] = True
    return first


@pytest.mark.parametrize("seed", range(4))
def test_first_of_each_in_chunks_is_the_first_occurrence(monkeypatch, seed):
    monkeypatch.setattr(training, "_CHUNK", 7)  # many chunks, duplicates across their borders
    rng = np.random.default_rng(seed)
    keys = rng.integers(100, 100 + int(rng.integers(5, 60)), size=int(rng.integers(1, 200)))
    for k in (keys, keys.astype(np.int32), np.sort(keys)):
        for nearly_sorted in (False, True):
            assert (first_of_each(k, nearly_sorted) == _plain_first(k)).all()


def test_roots_and_dedup_keep_the_pool_type_and_values(run):
    store = run.internet.store
    rng = np.random.default_rng(1)
    ids = rng.integers(0, len(store), size=5000)
    ids[::7] = np.flatnonzero(store.original >= 0)[: ids[::7].size]  # plenty of reposts
    orig = store.original[ids]
    plain = np.where(orig >= 0, orig, ids)
    assert store.root(ids).tolist() == plain.tolist()
    assert store.root(ids.astype(np.int32)).dtype == np.int32
    wide, narrow = dedup_roots(store, ids), dedup_roots(store, ids.astype(np.int32))
    assert narrow.dtype == np.int32 and narrow.tolist() == wide.tolist()
    assert wide.tolist() == ids[_plain_first(plain)].tolist()


def test_has_wrong_claim_matches_a_per_claim_count(run):
    store = run.internet.store
    ids = np.random.default_rng(2).integers(0, len(store), size=3000)
    lengths, claims = store.claim_rows(ids)
    assert (lengths == 0).any()  # documents without claims are in the sample
    owner = np.repeat(np.arange(ids.size), lengths)
    plain = np.bincount(owner, weights=store.claim_errors[claims] >= 0, minlength=ids.size) > 0
    assert plain.any() and (store.has_wrong_claim(ids) == plain).all()
    assert store.has_wrong_claim(np.zeros(0, np.int64)).size == 0


def test_narrow_pools_build_the_same_training_sets_and_draws(run):
    """Every model's next training set from a 32-bit pool equals the one from a 64-bit pool,
    and leaves the random generator in the same state."""
    checked = 0
    for agent in run.agents_by_type[GenerativeModel]:
        policy = agent.config.data
        since = 0 if policy.mode == "accumulate_subsample" else agent.last_retrain_step + 1
        scrapers = [s for s in run.agents_by_type[Scraper] if s.serves(policy)]
        pool = np.concatenate([s.datasets_since(since) for s in scrapers])
        sets, states = [], []
        for rows in (pool.astype(np.int64), pool.astype(np.int32)):
            rng = np.random.default_rng(3)
            sets.append(
                build_training_set(
                    policy,
                    rows,
                    run.internet.store,
                    run.world,
                    rng,
                    previous=agent.accumulated,
                    archive_last_step=run.config.launch_step - 1,
                    facts_per_doc=run.config.humans.facts_per_doc,
                    teacher=agent.teacher(),
                    registry=copy.deepcopy(run.errors),
                    step=run.month,
                )
            )
            states.append(rng.bit_generator.state)
        wide, narrow = sets
        assert states[0] == states[1]
        for name in ("concept_counts", "fact_counts", "style", "doc_ids", "accumulated"):
            assert np.array_equal(getattr(wide, name), getattr(narrow, name)), name
        assert narrow.doc_ids.dtype == np.int64  # the set's ids stay 64-bit
        assert wide.stats == narrow.stats and wide.sources == narrow.sources
        checked += pool.size > 0
    assert checked >= 2


def test_known_bounds_widen_or_refuse_like_measured_ones():
    col = Column(np.int16, capacity=4, widen=True)
    col.extend(np.array([1, 70_000]), bounds=(1, 70_000))
    assert col.view.dtype == np.int32 and col.view.tolist() == [1, 70_000]
    strict = Column(np.int8, capacity=4)
    with pytest.raises(OverflowError):
        strict.extend(np.array([1, 300]), bounds=(1, 300))
    strict.extend(np.broadcast_to(np.int64(-1), (3,)))  # a broadcast scalar: no passes
    assert strict.view.tolist() == [-1, -1, -1]


def test_first_of_each_memory_grows_with_the_keys_not_their_range(monkeypatch):
    """One int64 (key, position) pair and one flag per key: ~9 bytes per key whatever the
    range, plus a chunk's temporaries. A scratch array over the range (what it used before)
    takes 4 bytes per value of the range, 16 bytes per key here."""
    monkeypatch.setattr(training, "_CHUNK", 1 << 12)
    rng = np.random.default_rng(5)
    n = 400_000
    keys = rng.integers(0, 4 * n, size=n).astype(np.int32)
    first, peak = traced_peak(first_of_each, keys)
    assert (first == _plain_first(keys)).all()
    assert peak < 10.5 * n


def test_first_of_each_falls_back_to_a_stable_sort_for_keys_too_wide_to_pack():
    keys = np.array([2**62, 0, 2**62, -(2**62), 0, 5], dtype=np.int64)  # span: 63 bits
    assert first_of_each(keys).tolist() == [True, True, False, True, False, True]


def test_dedup_roots_holds_no_array_of_every_root(run, monkeypatch):
    """Chunk by chunk, with the roots kept so far as one bit per row of the store: the peak is
    the mask (1 byte per id), the kept ids (4), the bits and a chunk's temporaries. Sorting
    (root, position) pairs of the whole pool (what it did before) took 8 bytes more per id,
    a scratch array over the store 24 more."""
    monkeypatch.setattr(training, "_CHUNK", chunk := 1 << 9)
    store = run.internet.store
    n = len(store) // 6
    ids = np.random.default_rng(6).integers(0, len(store), size=n).astype(np.int32)
    kept, peak = traced_peak(dedup_roots, store, ids)
    assert kept.tolist() == ids[_plain_first(store.root(ids))].tolist()
    assert n > 4000 and peak < (1 + 4) * n + len(store) / 8 + 64 * chunk


@pytest.mark.parametrize("seed", range(3))
def test_dedup_roots_across_chunks_keeps_the_first_copy(run, monkeypatch, seed):
    """Copies of one original in different chunks, and in the same chunk: only the first in
    pool order is kept, also when the pool is crawls of increasing ids (long sorted runs)."""
    monkeypatch.setattr(training, "_CHUNK", 1 << 6)
    store = run.internet.store
    rng = np.random.default_rng(seed)
    reposts = np.flatnonzero(store.original >= 0)
    originals = store.original[reposts]
    crawls = [np.sort(rng.choice(len(store), 300, replace=False)) for _ in range(4)]
    crawls.append(rng.permutation(np.concatenate([reposts[:200], originals[:200]])))
    ids = np.concatenate(crawls)
    assert reposts.size >= 200
    kept = dedup_roots(store, ids)
    assert kept.tolist() == ids[_plain_first(store.root(ids))].tolist()


def test_retraining_frees_the_raw_pool_once_it_is_deduplicated(run, monkeypatch):
    """A raw pool (the crawls since the last retrain, for ``replace``) is gone by the time the
    web budget is sampled: nothing but the deduplication held it. A model on all crawls ever
    (``accumulate_subsample``) makes no raw pool at all: it never calls ``dedup_roots``."""
    seen: list[list] = []  # [a weak reference to a pool, whether it was freed before the draw]
    dedup, sample = training.dedup_roots, training._sample

    def watch_dedup(store, ids):
        seen.append([weakref.ref(ids), None])
        return dedup(store, ids)

    def watch_sample(ids, k, rng):
        if seen and seen[-1][1] is None:
            seen[-1][1] = seen[-1][0]() is None
        return sample(ids, k, rng)

    monkeypatch.setattr(training, "dedup_roots", watch_dedup)
    monkeypatch.setattr(training, "_sample", watch_sample)
    model = copy.deepcopy(run)
    model.step()  # crawls since the last retrains
    modes = []
    for agent in model.agents_by_type[GenerativeModel]:
        if agent.config.data.dedup:
            before = len(seen)
            agent.training_set()
            modes.append((agent.config.data.mode, len(seen) - before))
    assert ("accumulate_subsample", 0) in modes and ("replace", 1) in modes
    assert all(calls == (mode != "accumulate_subsample") for mode, calls in modes)
    assert seen and all(freed for _, freed in seen)


def _increasing_crawl(store, rng):
    """Sorted distinct ids with reposts and their originals among them (or none at all)."""
    if rng.random() < 0.1:
        return GapList(np.zeros(0, np.int32))
    reposts = np.flatnonzero(store.original >= 0)
    picked = rng.choice(reposts, 60)
    ids = [rng.choice(len(store), 200), picked, store.original[rng.choice(reposts, 30)]]
    ids.append(store.original[picked[:20]])
    return GapList(np.unique(np.concatenate(ids)).astype(np.int32))


@pytest.mark.parametrize("seed", range(3))
def test_first_copies_kept_crawl_by_crawl_deduplicate_like_the_whole_pool(run, monkeypatch, seed):
    """``dedup_histories`` from :class:`FirstCopies` kept crawl by crawl equals ``dedup_roots``
    of every crawl of every history one after another, at each point of their growth: copies
    of one original within a crawl, across a history's crawls and across histories (a later
    history's first copy of an original that an earlier history also has is dropped, even
    when the earlier history crawled it later)."""
    monkeypatch.setattr(training, "_CHUNK", 1 << 6)  # several chunks per crawl
    store = run.internet.store
    rng = np.random.default_rng(seed)
    histories: list[tuple[list[GapList], FirstCopies]] = [([], FirstCopies()) for _ in range(3)]
    assert dedup_histories(store, [], np.int32).size == 0
    with pytest.raises(ValueError, match="first copies of 0 crawls for 1"):
        dedup_histories(store, [([_increasing_crawl(store, rng)], FirstCopies())], np.int32)
    for _ in range(5):
        for crawls, firsts in histories:
            for _ in range(int(rng.integers(0, 3))):
                crawls.append(_increasing_crawl(store, rng))
                firsts.extend(store, crawls[-1].ids())
        for k in (1, 2, 3):
            raw = joined([c for crawls, _ in histories[:k] for c in crawls], dtype=np.int32)
            got = dedup_histories(store, histories[:k], np.int32)
            assert got.dtype == np.int32
            assert got.tolist() == dedup_roots(store, raw).tolist()
    # the histories share originals (what the second's lookup against the first drops)
    first, second = (np.unique(store.root(joined(h[0], dtype=np.int64))) for h in histories[:2])
    assert np.intersect1d(first, second).size > 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.booleans(), max_size=40), max_size=10), st.data())
def test_first_copies_masks_of_several_crawls_line_up_with_their_padding(crawls, data):
    """``padded_masks(a, b)`` is each crawl's :meth:`FirstCopies.mask` one after another, each
    followed by the false bits that pad it to a whole byte, as many as it says."""
    firsts = FirstCopies()
    for bits in crawls:  # (as extend keeps them)
        mask = np.array(bits, dtype=bool)
        firsts._masks.append(np.packbits(mask, bitorder="little"))
        firsts._sizes.append(mask.size)
        firsts.kept.append(int(mask.sum()))
    a = data.draw(st.integers(0, len(crawls)))
    b = data.draw(st.integers(a, len(crawls)))
    got, padding = firsts.padded_masks(a, b)
    expected: list[bool] = []
    for c, extra in zip(range(a, b), padding, strict=True):
        assert 0 <= extra < 8 and (len(crawls[c]) + extra) % 8 == 0
        expected += firsts.mask(c).tolist() + [False] * extra
    assert got.dtype == bool and got.tolist() == expected


@pytest.mark.parametrize("group", [1 << 12, 1 << 10])
def test_a_history_is_decoded_a_group_of_crawls_at_a_time(run, monkeypatch, group):
    """A retrain on all crawls ever decodes small crawls in groups of up to ``_GROUP`` ids,
    not one by one (40 crawls of ~300 ids: a few groups at 2**12), and a crawl of more than a
    quarter of that alone, as its list decodes it (every crawl at 2**10); the same result."""
    monkeypatch.setattr(training, "_GROUP", group)
    store = run.internet.store
    rng = np.random.default_rng(5)
    crawls, firsts = [], FirstCopies()
    for _ in range(40):
        crawls.append(_increasing_crawl(store, rng))
        firsts.extend(store, crawls[-1].ids())
    raw = joined(crawls, dtype=np.int32)
    sizes = [len(c) for c in crawls]
    groups = training._groups(sizes)
    assert [i for a, b in groups for i in range(a, b)] == list(range(40))  # in order, each once
    together = [(a, b) for a, b in groups if b - a > 1]
    assert all(sum(sizes[a:b]) <= group and 4 * max(sizes[a:b]) <= group for a, b in together)
    if group == 1 << 12:
        assert 0 < len(groups) <= 3 + sum(sizes) // group
    else:  # (every crawl alone but empty ones, which may fall together)
        assert all(sum(sizes[a:b]) == 0 for a, b in together)
        assert all(4 * size > group for size in sizes if size)
    decoded = []

    def counted(*args):
        decoded.append(args)
        return decode(*args)

    monkeypatch.setattr(training, "decode", counted)
    got = dedup_histories(store, [(crawls, firsts)], np.int32)
    assert len(decoded) == len(together) and got.tolist() == dedup_roots(store, raw).tolist()


def test_histories_deduplicate_into_one_array_without_a_root_of_every_id(run, monkeypatch):
    """The pool of all crawls ever is built in one array of the row type, later histories'
    first copies compacted in place a chunk at a time: the peak is that array plus a crawl's
    and a chunk's temporaries. An int64 root of each of a later history's ids and a final
    concatenation of the parts (what it did before) took twice the array and more."""
    monkeypatch.setattr(training, "_CHUNK", chunk := 1 << 9)
    monkeypatch.setattr(training, "_GROUP", 4 * chunk)  # (crawls decoded a few at a time)
    store = run.internet.store
    rng = np.random.default_rng(11)
    histories: list[tuple[list[GapList], FirstCopies]] = [([], FirstCopies()) for _ in range(3)]
    for crawls, firsts in histories:
        for _ in range(40):
            crawls.append(_increasing_crawl(store, rng))
            firsts.extend(store, crawls[-1].ids())
    raw = joined([c for crawls, _ in histories for c in crawls], dtype=np.int32)
    expected = dedup_roots(store, raw)
    got, peak = traced_peak(dedup_histories, store, histories, np.int32)
    assert got.tolist() == expected.tolist()
    kept = sum(sum(f.kept) for _, f in histories)
    largest_crawl = max(c.ids().size for crawls, _ in histories for c in crawls)
    assert kept > 20 * chunk and got.size < kept  # later histories dropped some
    assert peak < 4 * kept + 64 * chunk + 32 * largest_crawl


def test_models_on_every_crawl_deduplicate_from_first_copies(run):
    """The pool of a model on all crawls ever (``accumulate_subsample`` with dedup) is its raw
    pool deduplicated by ``dedup_roots``, in the store's row type, for models of one scraper
    and of two; the scrapers' first copies were kept up to date by the run's retrains."""
    model = copy.deepcopy(run)
    store = model.internet.store
    scrapers = list(model.agents_by_type[Scraper])
    assert all(0 < len(s.first_copies) <= len(s.crawls) for s in scrapers)
    sizes = []
    for agent in model.agents_by_type[GenerativeModel]:
        policy = agent.config.data
        if policy.mode == "accumulate_subsample" and policy.dedup:
            raw = agent._pool(policy)
            got = agent._pool(policy, from_first_copies=True)
            assert got.dtype == raw.dtype == store.id_type
            assert got.tolist() == dedup_roots(store, raw).tolist()
            sizes.append((len(policy.scrapers), got.size, raw.size))
    assert sorted(n for n, _, _ in sizes) == [1, 2] and all(0 < k <= n for _, k, n in sizes)
    # (a scraper's own dedup filter drops most repeats; two scrapers crawl the same documents)
    assert all(k < n for scrapers, k, n in sizes if scrapers == 2)


def test_styles_are_gathered_into_float64_a_chunk_at_a_time(run, monkeypatch):
    """The training set's styles: exactly the store's float32 rows as float64, with room left
    for the sensor and distillation rows, and no float32 copy of every row beside them (which
    would add half the result's size to the peak)."""
    store = run.internet.store
    ids = np.random.default_rng(8).integers(0, len(store), size=len(store) // 3)
    monkeypatch.setattr(training, "_CHUNK", 7)
    small = training._gather_float64(store.style, ids[:50], extra=3)
    assert small.shape == (53, store.style_dim) and small.dtype == np.float64
    assert np.array_equal(small[:50], store.style[ids[:50]].astype(np.float64))
    monkeypatch.setattr(training, "_CHUNK", chunk := 1 << 10)
    out, peak = traced_peak(training._gather_float64, store.style, ids, 0)
    assert np.array_equal(out, store.style[ids].astype(np.float64))
    assert peak < out.nbytes + 64 * chunk * store.style_dim


@pytest.mark.parametrize("seed", range(3))
def test_accumulating_looks_up_only_the_new_documents(run, seed):
    """Generation after generation, ``previous`` (deduplicated, with its originals kept) plus a
    new web sample from a deduplicated pool equals ``dedup_roots`` of the two one after the
    other; the originals kept are exactly those of the result; the caller's are not changed.
    Without ``dedup`` nothing is dropped and no originals are kept."""
    store = run.internet.store
    rng = np.random.default_rng(seed)
    previous, roots = np.zeros(0, np.int64), None
    for generation in range(5):
        crawls = [_increasing_crawl(store, rng) for _ in range(3)]
        pool = dedup_roots(store, joined(crawls, dtype=np.int32))
        parts = [np.sort(rng.choice(pool, min(pool.size, 150), replace=False))]
        if previous.size:  # documents carried already, and reposts of their originals
            parts.append(rng.choice(previous, 20))
            copies = np.flatnonzero(np.isin(store.original, store.root(previous)))
            parts.append(copies[:10])
        # (drawn from a deduplicated pool: distinct originals)
        web = dedup_roots(store, np.concatenate(parts).astype(np.int32))
        before = None if roots is None else roots.to_bools().copy()
        got, got_roots = training._accumulate(store, previous, web, True, roots)
        want = dedup_roots(store, np.concatenate([previous, web]))
        assert got.dtype == want.dtype == np.int64 and got.tolist() == want.tolist()
        assert got_roots is not None
        members = np.flatnonzero(got_roots.to_bools()).tolist()
        assert members == np.unique(store.root(got)).tolist()
        if before is not None:  # the caller's originals are untouched
            assert np.array_equal(roots.to_bools()[: before.size], before)
        assert generation == 0 or got.size < previous.size + web.size  # repeats were dropped
        previous, roots = got, got_roots
    plain, none = training._accumulate(store, previous, previous[:5], False, roots)
    assert none is None and plain.tolist() == previous.tolist() + previous[:5].tolist()


def test_accumulating_models_keep_the_originals_of_what_they_carry(monkeypatch):
    """A model with ``mode = "accumulate"`` carries a deduplicated set and its originals from
    one generation to the next; one restored from a checkpoint that kept no originals builds
    the same training set (and the originals) from its carried documents alone."""
    sc = tiny_scenario()
    for model in sc.models:
        model.data.mode = "accumulate"
    model = EcosystemModel(sc)
    for _ in range(model.config.steps):
        model.step()
    store = model.internet.store
    carried = 0
    for agent in model.agents_by_type[GenerativeModel]:
        if agent.generation < 2:
            continue
        kept = agent.accumulated
        assert kept.tolist() == dedup_roots(store, kept).tolist()  # each original once
        members = np.flatnonzero(agent.accumulated_roots.to_bools()).tolist()
        assert members == np.unique(store.root(kept)).tolist()
        states = []
        for roots in (agent.accumulated_roots, None):
            monkeypatch.setattr(agent, "accumulated_roots", roots)
            rng_state = model.rng.bit_generator.state
            data = agent.training_set()
            model.rng.bit_generator.state = rng_state
            states.append(data)
        with_roots, rebuilt = states
        assert with_roots.accumulated.tolist() == rebuilt.accumulated.tolist()
        assert with_roots.doc_ids.tolist() == rebuilt.doc_ids.tolist()
        assert np.array_equal(
            with_roots.accumulated_roots.to_bools()[: len(store)],
            rebuilt.accumulated_roots.to_bools()[: len(store)],
        )
        carried += kept.size > 0
    assert carried >= 2


@settings(max_examples=200, deadline=None)
@given(
    parents=st.lists(st.integers(0, 40), min_size=1, max_size=60),
    picks=st.lists(st.integers(0, 10_000), max_size=120),
)
def test_root_statistics_leave_each_original_present_once(parents, picks):
    # documents 0 .. n-1: document d copies the original of parents[d] if that comes before it
    root = np.arange(len(parents))
    for d, p in enumerate(parents):
        if p < d:
            root[d] = root[p]
    ids = np.array([x % len(parents) for x in picks], dtype=np.int64)
    roots = root[ids]
    distinct, others = training._root_statistics(ids, roots)
    assert distinct == np.unique(roots).size
    # what the originals' claims are counted over: ids less the others (as multisets)
    kept = Counter(ids.tolist()) - Counter(others.tolist())
    assert sorted(kept.elements()) == np.unique(ids[roots == ids]).tolist()
    assert sum(Counter(others.tolist()).values()) == ids.size - len(kept)


def test_wrong_claims_of_originals_are_those_of_the_set_less_the_others(run):
    store, rng = run.internet.store, np.random.default_rng(3)
    reposts = np.flatnonzero(store.kind == REPOST)
    ids = np.concatenate(
        [rng.choice(len(store), 3000), reposts[:500], store.root(reposts[:500])]
    )  # originals with their reposts, and repeats
    roots = store.root(ids)
    _, others = training._root_statistics(ids, roots)
    _, n_wrong, n_claims = store.claim_counts(
        ids, run.world.config.facts, run.world.config.values_per_fact
    )
    other_wrong, other_claims = store.wrong_claims(np.sort(others))
    plain = store.wrong_claims(np.unique(ids[roots == ids]))
    assert plain == (n_wrong - other_wrong, n_claims - other_claims)
    assert 0 < other_claims < n_claims and plain[0] > 0
