"""The fast samplers and linear-time kernels give exactly what the plain methods give."""

import gc

import numpy as np
import pytest
from batches import plain_batch
from hypothesis import given, settings
from hypothesis import strategies as st

from habsburg.ecosystem import sampling
from habsburg.ecosystem.sampling import (
    FEW_OUTCOMES,
    CategoricalSampler,
    CategoricalTable,
    TableCache,
    categorical_by_runs,
    categorical_by_source,
    fill_by_source,
    group_by_key,
    merge_groups,
    ragged_index,
    sample_categorical,
    stable_order,
)
from habsburg.ecosystem.store import DocumentStore
from habsburg.ecosystem.training import dedup_roots, first_of_each


def _plain(probs, u):
    cdf = np.cumsum(probs)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(probs) - 1).astype(np.int32)


@pytest.mark.parametrize("seed", range(6))
def test_guide_table_draws_what_inverse_cdf_draws(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 2000))
    probs = rng.random(k) ** rng.uniform(0.2, 15)
    probs[rng.random(k) < 0.3] = 0.0  # zero-probability outcomes are never drawn
    probs[0] += 1e-3
    cdf = np.cumsum(probs) / probs.sum()
    # uniforms at and next to every CDF boundary, where a table could go wrong
    edges = cdf[:-1]
    u = np.concatenate([rng.random(20_000), edges, np.nextafter(edges, 0), np.nextafter(edges, 1)])
    u = u[(u >= 0) & (u < 1)]
    out = CategoricalTable(probs).draw(u)
    np.testing.assert_array_equal(out, _plain(probs, u))
    np.testing.assert_array_equal(CategoricalTable(probs, guide_factor=16).draw(u), out)
    assert not np.isin(out, np.flatnonzero(probs == 0)).any()


@pytest.mark.parametrize("k", [1, 2, 3, FEW_OUTCOMES, FEW_OUTCOMES + 1, 5000])
def test_every_path_draws_what_inverse_cdf_draws(k):
    """Comparisons (few outcomes), sorted searches (no table yet) and guide tables built from
    one row of a 2-d array all give the plain search's outcomes, at and next to every edge."""
    rng = np.random.default_rng(k)
    probs = rng.random((3, k)) ** 4
    probs[rng.random((3, k)) < 0.4] = 0.0
    probs[:, 0] += 1e-3
    for row, table in zip(probs, CategoricalTable.of_rows(probs), strict=True):
        edges = np.cumsum(row)[:-1] / row.sum()
        u = np.concatenate(
            [rng.random(3000), edges, np.nextafter(edges, 0), np.nextafter(edges, 1)]
        )
        u = u[(u >= 0) & (u < 1)]
        expected = _plain(row, u)
        assert_same = np.testing.assert_array_equal
        assert_same(table.search(u), expected)  # sorted search (>= 256 uniforms)
        assert_same(table.search(u[:10]), expected[:10])  # plain search
        assert_same(table.draw(u), expected)  # a guide table, or comparisons for few outcomes
        assert (table._direct is not None) == (k > FEW_OUTCOMES)
        assert_same(CategoricalTable(row).draw(u), expected)  # the same CDF as one row alone


def test_sample_categorical_keeps_the_random_stream():
    probs = np.arange(1, 501, dtype=float) ** -1.1
    a = sample_categorical(probs, 5000, np.random.default_rng(3))
    b = _plain(probs, np.random.default_rng(3).random(5000))
    np.testing.assert_array_equal(a, b)
    small = sample_categorical(probs, 7, np.random.default_rng(4))  # below the table threshold
    np.testing.assert_array_equal(small, _plain(probs, np.random.default_rng(4).random(7)))


def test_table_cache_rebuilds_when_the_distribution_changes_in_place():
    cache = TableCache(maxsize=2)
    probs = np.array([0.5, 0.5, 0.0])
    first = cache.table(probs)
    assert cache.table(probs) is first
    probs[:] = [0.0, 0.0, 1.0]
    changed = cache.table(probs)
    assert changed is not first
    assert (changed.draw(np.random.default_rng(0).random(10)) == 2).all()


def test_table_cache_forgets_the_tables_of_collected_distributions():
    cache = TableCache(maxsize=8)
    live = [np.full(50, 1.0) for _ in range(3)]
    old = [np.arange(1.0, 51.0) for _ in range(4)]  # a retrained model's former distributions
    for probs in live + old:
        cache.table(probs)
    assert len(cache) == 7
    del old, probs
    gc.collect()
    kept = cache.table(live[0])  # the cache is tidied on its next use
    assert len(cache) == 3 and cache.table(live[0]) is kept
    assert all(cache.table(p) is not None for p in live) and len(cache) == 3


def test_fill_by_source_matches_one_masked_pass_per_source():
    rng = np.random.default_rng(5)
    source = rng.integers(0, 30, size=20_000)
    dists = {k: rng.random(300) for k in range(30)}

    def reference(seed):
        g = np.random.default_rng(seed)
        out = np.empty(source.size, np.int32)
        for key in np.unique(source).tolist():
            mask = source == key
            out[mask] = _plain(dists[key], g.random(int(mask.sum())))
        return out

    g = np.random.default_rng(9)
    samplers = {k: CategoricalSampler(p, g) for k, p in dists.items()}
    np.testing.assert_array_equal(fill_by_source(source, samplers), reference(9))
    g = np.random.default_rng(9)  # plain callables work too
    lambdas = {k: (lambda n, p=p: sample_categorical(p, n, g)) for k, p in dists.items()}
    np.testing.assert_array_equal(fill_by_source(source, lambdas), reference(9))


def test_categorical_by_source_draws_what_fill_by_source_draws():
    rng = np.random.default_rng(6)
    source = rng.integers(0, 12, size=30_000)
    probs = rng.random((12, 700)) ** 3
    tables = dict(enumerate(CategoricalTable.of_rows(probs)))
    tables[11] = CategoricalTable(np.array([0.2, 0.0, 0.8]))  # few outcomes
    g, h = np.random.default_rng(2), np.random.default_rng(2)
    samplers = {k: (lambda n, t=t: t.search(h.random(n))) for k, t in tables.items()}
    np.testing.assert_array_equal(
        categorical_by_source(source, tables, g), fill_by_source(source, samplers)
    )
    assert g.random() == h.random()  # the same stream afterwards


def test_group_by_key_lists_positions_in_order():
    keys = np.array([3, -1, 3, 7, -1, 3])
    order, distinct, starts = group_by_key(keys)
    assert distinct.tolist() == [-1, 3, 7]
    groups = [order[starts[i] : starts[i + 1]].tolist() for i in range(len(distinct))]
    assert groups == [[1, 4], [0, 2, 5], [3]]
    narrow = np.array([1, 0, 1, 1, 0])  # a pass per key
    order, distinct, starts = group_by_key(narrow)
    assert distinct.tolist() == [0, 1] and order.tolist() == [1, 4, 0, 2, 3]
    assert starts.tolist() == [0, 2, 5]
    wide = np.array([10**9, 5, 10**9])  # a range too wide for the counting sort
    order, distinct, starts = group_by_key(wide)
    assert distinct.tolist() == [5, 10**9] and order[starts[1] :].tolist() == [0, 2]


@settings(max_examples=80, deadline=None)
@given(
    dtype=st.sampled_from(["int16", "uint16", "int32", "uint32", "int64", "uint64"]),
    high=st.sampled_from([1, 300, 2**16, 2**17 + 5, 2**31 - 1, 2**32 + 7]),
    negative=st.booleans(),
    n=st.integers(0, 3000),
    seed=st.integers(0, 2**32 - 1),
)
def test_stable_order_is_numpys_stable_argsort(dtype, high, negative, n, seed):
    """Radix passes on 16-bit halves give numpy's stable order for every key type and range,
    including keys above 2**16 (two passes) and ranges it must leave to numpy (negative keys,
    keys of 2**32 and more)."""
    info = np.iinfo(dtype)
    lo = max(info.min, -high) if negative else 0
    hi = min(info.max, high)
    keys = np.random.default_rng(seed).integers(lo, hi, n, endpoint=True).astype(dtype)
    np.testing.assert_array_equal(stable_order(keys), np.argsort(keys, kind="stable"))


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 50), n=st.integers(0, 400), m=st.integers(0, 400), seed=st.integers(0, 999))
def test_merged_groups_equal_grouping_everything_at_once(k, n, m, seed):
    """Rows grouped by key, then later rows grouped and merged in: the grouping of all rows."""
    keys = np.random.default_rng(seed).integers(0, k, n + m)

    def grouped(part, offset):
        order = np.argsort(part, kind="stable")
        return offset + order, np.searchsorted(part[order], np.arange(k + 1))

    merged, starts = merge_groups(*grouped(keys[:n], 0), *grouped(keys[n:], n))
    whole, whole_starts = grouped(keys, 0)
    np.testing.assert_array_equal(merged, whole)
    np.testing.assert_array_equal(starts, whole_starts)


def test_dedup_keeps_the_first_copy_of_each_original_without_a_store_sized_array():
    store = DocumentStore(style_dim=1, capacity=8)
    n = 6
    store.begin_step(0)
    store.append(
        plain_batch(
            n,
            tokens=np.full(n, 50),
            concept_lengths=np.ones(n, int),
            concepts=np.zeros(n, int),
            original=np.array([-1, -1, 0, 1, 0, -1]),
        ),
        step=0,
    )
    ids = np.array([3, 2, 0, 5, 4, 1, 5])
    # roots: 1, 0, 0, 5, 0, 1, 5 -> first copies at positions 0, 1, 3
    assert dedup_roots(store, ids).tolist() == [3, 2, 5]
    assert first_of_each(np.array([4, 4, 2, 4, 2])).tolist() == [True, False, True, False, False]
    sparse = np.array([10**9, 3, 10**9, 3, 7])  # a range far wider than the keys: sorted instead
    assert first_of_each(sparse).tolist() == [True, True, False, False, True]


@pytest.mark.parametrize("batch", [1 << 21, 300, 37, 1])
def test_runs_are_grouped_like_the_flat_array_they_describe(batch, monkeypatch):
    """Runs drawn key by key, in batches of any size (a key larger than a batch alone), give
    the draws of the flat array and leave the stream where they do."""
    monkeypatch.setattr(sampling, "RUN_DRAWS", batch)
    rng = np.random.default_rng(8)
    lengths = rng.integers(0, 9, size=400)
    first = np.cumsum(lengths) - lengths
    head = np.minimum(rng.integers(0, 4, size=400), lengths)  # each document: a head and a tail
    head_key, tail_key = 10 + rng.integers(0, 3, size=400), rng.integers(0, 6, size=400)
    keys = np.concatenate([head_key, tail_key])
    starts = np.concatenate([first, first + head])
    runs = np.concatenate([head, lengths - head])
    flat = np.repeat(tail_key, lengths)
    flat[
        np.repeat(first, head) + np.arange(head.sum()) - np.repeat(np.cumsum(head) - head, head)
    ] = np.repeat(head_key, head)
    tables = dict(enumerate(CategoricalTable.of_rows(rng.random((13, 50)))))
    by_runs, by_source = np.random.default_rng(1), np.random.default_rng(1)
    np.testing.assert_array_equal(
        categorical_by_runs(keys, starts, runs, tables, by_runs),
        categorical_by_source(flat, tables, by_source),
    )
    assert by_runs.random() == by_source.random()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10**12), st.integers(0, 12) | st.integers(0, 0)), max_size=60)
)
def test_ragged_index_concatenates_each_run(runs):
    """Both ways of building the flat indices (short runs, and long ones with empty runs
    between) give the runs' ranges, concatenated."""
    starts = np.array([s for s, _ in runs], dtype=np.int64)
    lengths = np.array([n for _, n in runs], dtype=np.int64)
    expected = [i for s, n in runs for i in range(s, s + n)]
    got = ragged_index(starts, lengths)
    assert got.dtype == np.int64
    assert got.tolist() == expected


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (np.zeros((0,)), "non-empty 1-d"),
        (np.ones((2, 2)), "non-empty 1-d"),
        (np.zeros(4), "positive, finite sum"),
        (np.array([0.5, np.nan]), "positive, finite sum"),
    ],
)
def test_a_table_refuses_probabilities_it_cannot_sample(probs, message):
    with pytest.raises(ValueError, match=message):
        CategoricalTable(probs)


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (np.ones(3), "non-empty 2-d"),
        (np.ones((2, 0)), "non-empty 2-d"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), "in every row"),
    ],
)
def test_tables_of_rows_refuse_a_row_they_cannot_sample(probs, message):
    with pytest.raises(ValueError, match=message):
        CategoricalTable.of_rows(probs)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(2**40), 2**40), max_size=300),
    st.sampled_from([np.int64, np.int32, np.float64]),
    st.sampled_from(["quicksort", "stable"]),
)
def test_sorted_unique_is_numpys_unique(values, dtype, kind):
    x = np.array(values).astype(dtype) if values else np.zeros(0, dtype)
    got = sampling.sorted_unique(x, kind=kind)
    expect = np.unique(x)
    assert got.dtype == expect.dtype and np.array_equal(got, expect)
