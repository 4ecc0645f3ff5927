"""The packed bit set behind the scrapers' dedup memory: it answers like a boolean array (and a
Python set), at one bit per possible member."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from habsburg.ecosystem.bitset import BitSet

ids = st.lists(st.integers(0, 5000), max_size=200)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ids, min_size=1, max_size=6), ids)
def test_answers_like_a_boolean_array(batches, probes):
    bits, flags = BitSet(16), np.zeros(16, dtype=bool)
    for batch in batches:  # grow as the store grows, add in batches with repeats
        n = max(batch, default=0) + 1
        bits.grow(n)
        assert bits.capacity >= n
        if bits.capacity > flags.size:  # (new room holds no members)
            flags = np.concatenate([flags, np.zeros(bits.capacity - flags.size, dtype=bool)])
        np.testing.assert_array_equal(bits.contains(np.array(batch, np.int64)), flags[batch])
        bits.add(np.array(batch, dtype=np.int32))
        flags[batch] = True
    probes = [p for p in probes if p < bits.capacity]
    np.testing.assert_array_equal(bits.contains(np.array(probes, np.int64)), flags[probes])
    assert len(bits) == len({i for b in batches for i in b}) == int(flags.sum())
    np.testing.assert_array_equal(bits.to_bools(flags.size), flags)
    np.testing.assert_array_equal(BitSet.from_bools(flags).to_bools(flags.size), flags)


def test_one_bit_per_member_and_amortised_growth():
    bits = BitSet(0)
    sizes = []
    for n in range(1, 100_001, 997):
        bits.grow(n)
        sizes.append(bits.nbytes)
    assert bits.nbytes <= 2 * (100_000 // 8) + 1  # doubling at most overshoots twice
    assert len(set(sizes)) < 20  # grown by doubling, not once per call
    bits.add(np.array([99_999]))
    assert bits.contains(np.array([99_999, 99_998])).tolist() == [True, False]


@settings(max_examples=40, deadline=None)
@given(ids, ids)
def test_a_copy_is_independent(members, more):
    a = BitSet(0)
    a.grow(max(members + more, default=0) + 1)
    a.add(np.array(members, dtype=np.int64))
    b = a.copy()
    b.add(np.array(more, dtype=np.int64))
    assert np.flatnonzero(b.to_bools()).tolist() == sorted(set(members) | set(more))
    assert np.flatnonzero(a.to_bools()).tolist() == sorted(set(members))  # untouched
