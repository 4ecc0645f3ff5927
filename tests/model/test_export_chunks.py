"""error_claims streamed in row groups without an array of every wrong claim: the chunks are
the in-memory table's rows, in order, ``size`` at a time."""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from habsburg.model.export import error_claim_chunks, error_claim_rows


@pytest.mark.parametrize("share", [0.0, 0.05, 0.3, 1.0])
@pytest.mark.parametrize(("size", "block"), [(7, 5), (100, 1000), (3, 1), (64, 64)])
def test_error_claim_chunks_are_the_rows_in_row_groups(share, size, block):
    rng = np.random.default_rng(0)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(0, 4, 700))])
    errors = np.where(rng.random(int(offsets[-1])) < share, 1, -1).astype(np.int16)
    store = SimpleNamespace(claim_errors=errors, claim_offsets=offsets)
    claims, docs = error_claim_rows(store)
    chunks = list(error_claim_chunks(store, size, block))
    sizes = [c.size for c, _ in chunks]
    assert (sizes[:-1] == [size] * (len(sizes) - 1) and 0 < sizes[-1] <= size) or sizes == [0]
    assert sum(sizes) == claims.size
    np.testing.assert_array_equal(np.concatenate([c for c, _ in chunks]), claims)
    np.testing.assert_array_equal(np.concatenate([d for _, d in chunks]), docs)
    assert chunks[0][0].dtype == claims.dtype and chunks[0][1].dtype == docs.dtype


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
    whole = [g.start in starts and g.stop in starts for g in groups]
    for (g, h), (gw, hw) in zip(itertools.pairwise(groups), itertools.pairwise(whole), strict=True):
        if gw and hw:
            first = int(bounds[month[h.start] + 1]) - h.start  # the next group's first month
            assert g.stop - g.start >= least or g.stop - g.start + first > size
