"""The store's blocked offsets (habsburg.ecosystem.columns.RaggedOffsets): an int64 base per
block plus a uint8 or uint16 offset per document give back exactly the offsets a full int64
column held, whatever the batches, block size and lengths (long documents widen the relative
column)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from habsburg.ecosystem.columns import Column, RaggedOffsets


def _make(name, dtype, capacity, widen=False):
    return Column(dtype, capacity=capacity, widen=widen)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(st.one_of(st.integers(0, 40), st.integers(0, 70_000)), max_size=60), max_size=8
    ),  # batches of document lengths (some long enough to overflow uint16 in a block)
    st.integers(4, 16),  # shift
    st.integers(1, 200),  # capacity (reserved; the columns grow past it)
    st.sampled_from([np.uint8, np.uint16]),  # the relative type it starts with
    st.integers(0, 300),  # a range to read with between()
    st.integers(0, 300),
)
def test_blocked_offsets_equal_the_full_offsets(batches, shift, capacity, rel_type, lo, hi):
    offsets = RaggedOffsets(_make, "x", capacity, shift, rel_type)
    lengths = np.array([v for b in batches for v in b], dtype=np.int64)
    full = np.concatenate([[0], np.cumsum(lengths)])
    total = 0
    for b in batches:
        ends = np.cumsum(np.asarray(b, np.int64)) + total
        offsets.extend(ends)
        total = int(ends[-1]) if len(b) else total
    n = lengths.size
    assert len(offsets) == n + 1
    np.testing.assert_array_equal(offsets.between(0, n + 1), full)
    assert offsets.between(0, n + 1).dtype == np.int64
    lo, hi = min(lo, n + 1), min(hi, n + 1)  # any range: partial and whole blocks, or empty
    np.testing.assert_array_equal(offsets.between(lo, hi), full[lo : max(lo, hi)])
    rng = np.random.default_rng(n)
    ids = rng.integers(0, n + 1, 50)
    np.testing.assert_array_equal(offsets.at(ids), full[ids])
    np.testing.assert_array_equal(offsets.at(ids.astype(np.int32)), full[ids])
    assert [offsets[i] for i in ids[:5]] == full[ids[:5]].tolist()
    if n:
        docs = rng.integers(0, n, 40)
        starts, runs = offsets.spans(docs)
        np.testing.assert_array_equal(starts, full[docs])
        np.testing.assert_array_equal(runs, lengths[docs])
    if total:
        values = np.sort(rng.integers(0, total, 30))
        owner = np.repeat(np.arange(n), lengths)
        np.testing.assert_array_equal(offsets.owners(values), owner[values])
        assert offsets.owner(total - 1) == owner[-1] and offsets.owner(0) == owner[0]
    largest = max((full[i] - full[i >> shift << shift] for i in range(n + 1)), default=0)
    widths: list[type[np.integer]] = [
        np.uint8,
        np.uint16,
        np.int32,
    ]  # widened one step at a time, only if needed
    fits = [t for t in widths[widths.index(rel_type) :] if largest <= np.iinfo(t).max]
    assert offsets.rel.data.dtype == fits[0]


def test_the_block_size_keeps_a_block_within_a_quarter_of_uint16():
    for per_doc in (0.5, 2.0, 12.9, 100.0, 5000.0):
        block = 1 << RaggedOffsets.shift_for(per_doc)
        assert 16 <= block <= 1 << 16
        assert block * per_doc <= 1 << 14 or block == 16
    assert RaggedOffsets.shift_for(12.9) == 10  # the baseline's concepts: 1,024 documents


def test_few_values_per_document_take_one_byte_in_blocks_of_half_its_range():
    for per_doc in (0.001, 0.5, 1.0, 2.9, 4.0):
        shift, rel_type = RaggedOffsets.layout_for(per_doc)
        assert rel_type == np.uint8 and 32 <= 1 << shift <= 1 << 16
        assert (1 << shift) * per_doc <= 128 or shift == 16  # half of uint8's range
    # the baseline's claims (estimate 1.2 × 2 + 0.5 per document): blocks of 32 documents
    assert RaggedOffsets.layout_for(2.9) == (5, np.uint8)
    for per_doc in (4.1, 12.9, 100.0):
        assert RaggedOffsets.layout_for(per_doc) == (RaggedOffsets.shift_for(per_doc), np.uint16)
