"""Crawls kept as gaps give back exactly the ids they were given, in their integer type."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from habsburg.ecosystem.idlists import GapList, decode, joined

_dtypes = st.sampled_from([np.int32, np.int64])


@st.composite
def id_arrays(draw):
    dtype = draw(_dtypes)
    top = np.iinfo(dtype).max
    kind = draw(st.sampled_from(["increasing", "wide gaps", "any"]))
    n = draw(st.integers(0, 60))
    if kind == "any":
        values = draw(st.lists(st.integers(0, top), min_size=n, max_size=n))
        return np.array(values, dtype=dtype)
    gap_top = 2**16 - 1 if kind == "increasing" else min(2**40, top // max(n, 1))
    start = draw(st.integers(0, top // 2))
    gaps = draw(st.lists(st.integers(1, gap_top), min_size=n, max_size=n))
    ids = start + np.cumsum([0, *gaps[:-1]]) if n else np.zeros(0)
    return ids[ids <= top].astype(dtype)


@settings(max_examples=300, deadline=None)
@given(st.lists(id_arrays(), min_size=1, max_size=5))
def test_gap_lists_give_back_their_ids(arrays):
    lists = [GapList(a) for a in arrays]
    for a, g in zip(arrays, lists, strict=True):
        back = g.ids()
        assert back.dtype == a.dtype and np.array_equal(back, a) and len(g) == a.size
        increasing = a.size < 2 or (np.diff(a) > 0).all()
        if increasing and (a.size < 2 or np.diff(a).max() < 2**16):
            assert g.nbytes == 2 * max(a.size - 1, 0)  # two bytes per gap
    together = np.concatenate(arrays)  # (a run's crawls widen to 64 bits past 2**31 rows)
    back = joined(lists)
    assert back.dtype == together.dtype and np.array_equal(back, together)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(id_arrays(), st.integers(0, 7)), max_size=8))
def test_lists_decoded_at_once_are_their_ids_one_after_another(arrays_and_pads):
    """``decode`` (one sum over every list's gaps, in the ids' type) gives what each list
    gives, one after another, in the type :func:`joined` gives them, with ``pad`` copies of the
    last id so far after each list: for lists of gaps, lists kept as they are (not increasing,
    or gaps past 32 bits), empty ones and ids near the top of their type."""
    lists = [GapList(a) for a, _ in arrays_and_pads]
    pad = [p for _, p in arrays_and_pads]
    expected: list[int] = []
    for a, p in arrays_and_pads:
        expected += a.tolist()
        expected += [expected[-1] if expected else 0] * p
    got, plain = decode(lists, pad), decode(lists)
    together = joined(lists) if lists else np.zeros(0, np.int64)
    assert got.dtype == plain.dtype == together.dtype and got.tolist() == expected
    assert np.array_equal(plain, together)


def test_gaps_wider_than_16_bits_take_32_and_unsorted_ids_are_kept_as_they_are():
    wide = GapList(np.array([5, 70_000, 70_001], dtype=np.int64))
    assert (
        wide.gaps is not None
        and wide.gaps.dtype == np.uint32
        and wide.ids().tolist() == [5, 70_000, 70_001]
    )
    unsorted = GapList(np.array([9, 3, 4], dtype=np.int32))
    assert unsorted.raw is not None and unsorted.ids().tolist() == [9, 3, 4]
