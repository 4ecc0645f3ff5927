"""Sampling without replacement from the shuffle's own draws: numpy's sample, numpy's stream after
it, in memory proportional to the sample."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tracing import traced_peak

from habsburg.ecosystem import rawdraws
from habsburg.ecosystem.rawdraws import raw_draws32, sorted_sample


def _pair(seed: int, spare: bool) -> tuple[np.random.Generator, np.random.Generator]:
    """Two generators in the same state (with a spare half-output kept, or not)."""
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    if spare:
        a.random(1, dtype=np.float32), b.random(1, dtype=np.float32)
    return a, b


def _pcg(rng: np.random.Generator) -> np.random.PCG64:
    """The generator's PCG64 (what the raw draws read)."""
    bits = rng.bit_generator
    assert isinstance(bits, np.random.PCG64)
    return bits


def _same_stream(a: np.random.Generator, b: np.random.Generator) -> bool:
    return a.random(4).tolist() == b.random(4).tolist()


def test_the_fast_paths_are_in_use_with_this_numpy():
    assert rawdraws.RAW_DRAWS32 and rawdraws.TAIL_SHUFFLE


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(10_001, 60_000),
    share=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
    spare=st.booleans(),
)
def test_sorted_sample_is_numpys_sample_and_leaves_numpys_stream(n, share, seed, spare):
    k = n // 50 + 1 + int(share * (n - n // 50 - 2))  # numpy's tail shuffle: k in (n/50, n)
    ids = np.random.default_rng(seed ^ 1).integers(-(2**40), 2**40, n)
    plain, fast = _pair(seed, spare)
    expected = np.sort(plain.choice(ids, size=k, replace=False))
    got = sorted_sample(ids, k, fast)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype
    assert _same_stream(plain, fast)


@pytest.mark.parametrize("window", [1, 3, 1 << 13])
def test_rejected_draws_are_redrawn_as_numpy_does(monkeypatch, window):
    """A million candidates: Lemire's method rejects ~1 draw in 10⁴, so a 200,000 sample redraws
    a few dozen times; checked a draw at a time, a few at a time, and by whole windows."""
    monkeypatch.setattr(rawdraws, "_WINDOW", window)
    n, k = 1_000_000, 200_000
    ids = np.arange(n, dtype=np.int32) * 2
    plain, fast = _pair(11, spare=True)
    expected = np.sort(plain.choice(ids, size=k, replace=False))
    np.testing.assert_array_equal(sorted_sample(ids, k, fast), expected)
    state = fast.bit_generator.state
    assert _same_stream(plain, fast)
    fast.bit_generator.state = state
    # ... having taken more draws than it has steps: redraws happened
    after_k_draws, _ = _pair(11, spare=True)
    raw_draws32(_pcg(after_k_draws), k)
    assert not _same_stream(after_k_draws, fast)


def _numpys_targets(n: int, k: int, rng: np.random.Generator) -> list[int]:
    """numpy's ``random_bounded_uint64(0, i)`` for ``i = n - 1 .. n - k`` (Lemire's method on
    PCG64's 32-bit draws), a draw at a time as its C code does."""
    bits = _pcg(rng)
    out = []
    for i in range(n - 1, n - 1 - k, -1):
        bound = i + 1
        threshold = (2**32 - bound) % bound
        while True:
            spare, draws = raw_draws32(bits, 1)
            x = spare if spare is not None else int(draws[0])
            m = x * bound
            if m & 0xFFFFFFFF >= threshold:
                out.append(m >> 32)
                break
    return out


@pytest.mark.parametrize("window", [1, 2, 7, 1 << 13])
@pytest.mark.parametrize("spare", [False, True])
def test_shuffle_targets_follow_numpys_bounded_draws_through_runs_of_rejections(
    monkeypatch, window, spare
):
    """Ranges near 2³², where Lemire's method rejects ~30% of draws (often several in a row)."""
    monkeypatch.setattr(rawdraws, "_WINDOW", window)
    n, k = 3_000_000_000, 3_000
    reference, fast = _pair(5, spare)
    expected = _numpys_targets(n, k, reference)
    got = rawdraws._shuffle_targets(n, k, _pcg(fast))
    assert got.tolist() == expected
    assert _same_stream(reference, fast)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 400), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_shuffle_tail_is_the_tail_of_the_swaps(n, data, seed):
    """The places' contents are followed through the same draws' swaps on a whole arange."""
    k = data.draw(st.integers(1, n - 1))
    reference, fast = _pair(seed, spare=False)
    targets = rawdraws._shuffle_targets(n, k, _pcg(reference))
    places = np.arange(n)
    for step, j in enumerate(targets):
        i = n - 1 - step
        places[i], places[j] = places[j], places[i]
    got = rawdraws._shuffle_tail(n, k, _pcg(fast))
    assert sorted(got.tolist()) == sorted(places[n - k :].tolist())
    assert np.unique(got).size == k


@pytest.mark.parametrize(
    "n, k, bits",
    [
        (50_000, 999, np.random.PCG64),  # a fiftieth or less: numpy's Floyd sample
        (10_000, 5_000, np.random.PCG64),  # a population numpy never tail-shuffles
        (30_000, 30_000, np.random.PCG64),  # everything: a whole shuffle
        (30_000, 20_000, np.random.MT19937),  # another bit generator
    ],
)
def test_other_samples_are_numpys_own(n, k, bits):
    ids = np.arange(n) * 7
    plain, fast = np.random.Generator(bits(3)), np.random.Generator(bits(3))
    expected = np.sort(plain.choice(ids, size=k, replace=False))
    np.testing.assert_array_equal(sorted_sample(ids, k, fast), expected)
    assert _same_stream(plain, fast)


def test_memory_grows_with_the_sample_not_the_population():
    """numpy's tail shuffle makes an int64 arange of every candidate (32 MB here); the sample's
    steps take ~20 bytes each, and its ids 8 more."""
    n, k = 4_000_000, 100_000
    ids = np.arange(n, dtype=np.int64)
    got, peak = traced_peak(sorted_sample, ids, k, np.random.default_rng(2))
    _, numpys = traced_peak(
        lambda: np.sort(np.random.default_rng(2).choice(ids, size=k, replace=False))
    )
    assert got.size == k
    assert numpys > 8 * n  # (what the bound below would catch)
    assert peak < 40 * k
