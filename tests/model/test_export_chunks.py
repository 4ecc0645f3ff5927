"""error_claims streamed in row groups without an array of every wrong claim: the chunks are
the in-memory table's rows, in order, ``size`` at a time."""

import itertools
import platform
from types import SimpleNamespace

import numpy as np
import pytest
from batches import plain_batch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracing import resident

from habsburg.ecosystem.registry import ErrorRegistry
from habsburg.ecosystem.store import DocumentStore
from habsburg.model import export
from habsburg.model.export import error_claim_chunks, error_claim_rows


def _claims_store(share: float, derived: bool, rng) -> tuple[DocumentStore, np.ndarray]:
    """700 documents of 0-3 claims each, appended in batches, with blocks of 16 documents'
    offsets (many block boundaries); error ids stored, or derived from a registry. Returns the
    store and every claim's document, built naively."""
    store = DocumentStore(style_dim=1, capacity=8, claims_per_doc=4096.0)
    assert store._claim_offsets.shift == 4
    registry = ErrorRegistry(50, 4, rng.integers(0, 4, 50))
    if derived:
        store.derive_errors_from(registry)
    lengths = rng.integers(0, 4, 700)
    cuts = np.sort(rng.choice(np.arange(1, 700), 20, replace=False))
    for month, docs in enumerate(np.split(lengths, cuts)):
        n, k = docs.size, int(docs.sum())
        facts = rng.integers(0, 50, k)
        truth = registry.true_values[facts]
        values = np.where(rng.random(k) < share, (truth + 1) % 4, truth)
        errors = registry.register(facts, values, 0, 0, -1, month)
        store.append(
            plain_batch(
                n,
                claim_lengths=docs,
                claim_facts=facts,
                claim_values=values,
                claim_errors=errors,
            ),
            month,
        )
    return store, np.repeat(np.arange(700), lengths)


@pytest.mark.parametrize("derived", [False, True])
@pytest.mark.parametrize("share", [0.0, 0.05, 0.3, 1.0])
@pytest.mark.parametrize(("size", "block"), [(7, 5), (100, 1000), (3, 1), (64, 64)])
def test_error_claim_chunks_are_the_rows_in_row_groups(share, size, block, derived):
    store, owner = _claims_store(share, derived, np.random.default_rng(0))
    errors = store.claim_errors
    claims, docs = error_claim_rows(store)
    np.testing.assert_array_equal(claims, np.flatnonzero(errors >= 0))
    np.testing.assert_array_equal(docs, owner[claims])
    assert (claims.size > 0) == (share > 0)
    chunks = list(error_claim_chunks(store, size, block))
    sizes = [c.size for c, _ in chunks]
    assert (sizes[:-1] == [size] * (len(sizes) - 1) and 0 < sizes[-1] <= size) or sizes == [0]
    assert sum(sizes) == claims.size
    np.testing.assert_array_equal(np.concatenate([c for c, _ in chunks]), claims)
    np.testing.assert_array_equal(np.concatenate([d for _, d in chunks]), docs)
    assert chunks[0][0].dtype == claims.dtype and chunks[0][1].dtype == docs.dtype


def test_derived_error_ids_are_the_registered_ones():
    stored, _ = _claims_store(0.3, False, np.random.default_rng(1))
    derived, _ = _claims_store(0.3, True, np.random.default_rng(1))
    assert derived._claim_errors is None and stored._claim_errors is not None
    assert derived.claim_errors.dtype == stored.claim_errors.dtype
    assert derived.claim_errors.tolist() == stored.claim_errors.tolist()
    assert (stored.claim_errors >= 0).mean() > 0.2
    ids = np.random.default_rng(2).integers(0, 700, 300)
    assert derived.has_wrong_claim(ids).tolist() == stored.has_wrong_claim(ids).tolist()
    assert derived.wrong_claims(ids) == stored.wrong_claims(ids)
    assert derived.row_bytes()[2] == stored.row_bytes()[2] - stored.claim_errors.itemsize


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(0, 30), max_size=25),  # documents per month
    st.integers(1, 12),  # size
    st.integers(0, 14),  # least
)
def test_documents_row_groups_hold_whole_months_or_part_of_one(months, size, least):
    from habsburg.model.export import month_row_groups

    bounds = np.concatenate([[0], np.cumsum(months, dtype=np.int64)])
    store = SimpleNamespace(month_bounds=lambda: bounds)
    groups = month_row_groups(store, size, least)
    n = int(bounds[-1])
    if n == 0:
        assert groups == [slice(0, 0)]
        return
    rows = np.concatenate([np.arange(g.start, g.stop) for g in groups])
    np.testing.assert_array_equal(rows, np.arange(n))  # every row once, in order
    month = np.searchsorted(bounds, rows, side="right") - 1
    starts = set(bounds.tolist())
    for g in groups:
        held = set(month[g.start : g.stop].tolist())
        assert g.stop > g.start
        if len(held) > 1:  # several months: whole ones, together no more than size
            assert g.start in starts and g.stop in starts and g.stop - g.start <= size
        else:  # part of one month: split only because the month is bigger than size
            whole = g.start in starts and g.stop in starts
            assert whole or (months[held.pop()] > size and g.stop - g.start <= size)
    # a group of whole months closes early only to stay within size, or before a split month
    made_whole = [g.start in starts and g.stop in starts for g in groups]
    pairs = zip(itertools.pairwise(groups), itertools.pairwise(made_whole), strict=True)
    for (g, h), (gw, hw) in pairs:
        if gw and hw:
            first = int(bounds[month[h.start] + 1]) - h.start  # the next group's first month
            assert g.stop - g.start >= least or g.stop - g.start + first > size


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_heap_gives_freed_heap_pages_back():
    """Freed memory below a live allocation stays in the C heap (the heap can only shrink from
    its top) until ``trim_heap``; pyarrow's system pool does not release it."""
    import pyarrow as pa

    blocks = [bytearray(4000) for _ in range(25_000)]  # ~100 MB of malloc's heap, written
    keep = bytearray(4000)  # allocated after them: the freed blocks lie below it
    del blocks
    before = resident("VmRSS") / 2**20
    pa.system_memory_pool().release_unused()
    assert resident("VmRSS") / 2**20 > before - 20  # (what the export relied on before)
    assert export.trim_heap()
    assert resident("VmRSS") / 2**20 < before - 60
    assert len(keep) == 4000
