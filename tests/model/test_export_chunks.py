"""error_claims streamed in row groups without an array of every wrong claim: the chunks are
the in-memory table's rows, in order, ``size`` at a time."""

from types import SimpleNamespace

import numpy as np
import pytest

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


@pytest.mark.parametrize("size", [1, 3, 1000])
@pytest.mark.parametrize(
    "bounds", [[0, 5, 5, 12, 13, 40], [0, 0, 0], [0], [0, 7], [0, 0, 9, 9, 9, 10]]
)
def test_documents_row_groups_are_months_split_at_most_size(bounds, size):
    from habsburg.model.export import month_row_groups

    store = SimpleNamespace(month_bounds=lambda: np.array(bounds, dtype=np.int64))
    groups = month_row_groups(store, size)
    n = bounds[-1]
    if n == 0:
        assert groups == [slice(0, 0)]
        return
    rows = np.concatenate([np.arange(g.start, g.stop) for g in groups])
    np.testing.assert_array_equal(rows, np.arange(n))  # every row once, in order
    month = np.searchsorted(bounds, rows, side="right") - 1
    for g in groups:
        assert 0 < g.stop - g.start <= size
        assert len(set(month[g.start : g.stop])) == 1  # no group straddles two months
    months_with_rows = int((np.diff(bounds) > 0).sum())
    assert len(groups) >= months_with_rows and (size < 40 or len(groups) == months_with_rows)
