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
