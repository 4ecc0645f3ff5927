"""The error registry's growable columns and its running cascade statistics, against brute force
over the whole adoption history (what the model's reporters computed every month before)."""

import pickle

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from habsburg.ecosystem.registry import ADOPTION_COLUMNS, ERROR_COLUMNS, ErrorRegistry
from habsburg.ecosystem.store import HUMAN, MODEL

N_FACTS, N_VALUES = 12, 5

# one call: (error ids a model now believes, model, generation, step)
calls = st.lists(
    st.tuples(
        st.lists(st.integers(-1, 40), max_size=12),
        st.integers(0, 9),
        st.integers(0, 5),
        st.integers(0, 130),
    ),
    max_size=25,
)


def _registry(seed: int = 0) -> ErrorRegistry:
    """A registry with every wrong value of its facts registered, origins mixed."""
    rng = np.random.default_rng(seed)
    reg = ErrorRegistry(N_FACTS, N_VALUES, rng.integers(0, N_VALUES, N_FACTS))
    facts = np.repeat(np.arange(N_FACTS), N_VALUES)
    values = np.tile(np.arange(N_VALUES), N_FACTS)
    half = facts.size // 2
    reg.register(facts[:half], values[:half], MODEL, 3, 3, step=1)
    reg.register(facts[half:], values[half:], HUMAN, 7, -1, step=2)
    return reg


def _brute_force(reg: ErrorRegistry) -> tuple[int, int]:
    """The two statistics recomputed from every adoption ever recorded."""
    a = reg.adoptions_array()
    if not a.size:
        return 0, 0
    pairs = np.unique(a[:, :2], axis=0)  # (error, model) pairs
    return int(np.bincount(pairs[:, 0]).max()), int(a[:, 4].sum())


@settings(max_examples=60, deadline=None)
@given(calls)
def test_running_cascade_statistics_equal_brute_force(recorded):
    reg = _registry()
    total_cross = 0
    for ids, model, generation, step in recorded:
        ids = np.unique(np.asarray(ids, dtype=np.int64))  # as adopt_beliefs passes them
        ids = ids[ids < len(reg)]
        total_cross += reg.record_adoptions(ids, model, generation, step)
        assert (reg.largest_cascade_models, reg.cross_model_adoptions) == _brute_force(reg)
    assert reg.cross_model_adoptions == total_cross
    assert reg.n_adoptions == len(reg.adoptions_frame())


@settings(max_examples=30, deadline=None)
@given(calls)
def test_a_pickled_registry_goes_on_counting_the_same(recorded):
    """A checkpoint's registry, unpickled mid-run, continues exactly as the live one."""
    live, half = _registry(), len(recorded) // 2
    for ids, model, generation, step in recorded[:half]:
        live.record_adoptions(np.unique(np.array(ids, dtype=np.int64)), model, generation, step)
    copy = pickle.loads(pickle.dumps(live))
    for ids, model, generation, step in recorded[half:]:
        for reg in (live, copy):
            reg.record_adoptions(np.unique(np.array(ids, dtype=np.int64)), model, generation, step)
    assert (copy.largest_cascade_models, copy.cross_model_adoptions) == (
        live.largest_cascade_models,
        live.cross_model_adoptions,
    )
    pd.testing.assert_frame_equal(copy.adoptions_frame(), live.adoptions_frame())
    pd.testing.assert_frame_equal(copy.to_frame(), live.to_frame())


def test_a_registry_pickled_in_the_old_list_layout_is_restored_and_recounted():
    """Registries pickled before the columns were growable (lists of arrays, adoption tuples)."""
    reg = _registry()
    reg.record_adoptions(np.array([0, 1, 40]), model=2, generation=1, step=9)  # 0, 1: model 3
    reg.record_adoptions(np.array([1, 40]), model=5, generation=1, step=10)
    reg.record_adoptions(np.array([1]), model=6, generation=2, step=11)
    state = dict(reg.__dict__)
    state["_cols"] = {k: [reg.column(k)[:10].copy(), reg.column(k)[10:].copy()] for k in reg._cols}
    state["_adoptions"] = [tuple(int(x) for x in row) for row in reg.adoptions_array()]
    for key in ("_adopters", "_largest_cascade", "_cross_total"):
        del state[key]
    old = ErrorRegistry.__new__(ErrorRegistry)
    old.__setstate__(state)
    assert (old.largest_cascade_models, old.cross_model_adoptions) == (3, 4)
    assert (reg.largest_cascade_models, reg.cross_model_adoptions) == (3, 4)
    pd.testing.assert_frame_equal(old.to_frame(), reg.to_frame())
    pd.testing.assert_frame_equal(old.adoptions_frame(), reg.adoptions_frame())
    assert {k: old.column(k).dtype for k in ERROR_COLUMNS} == {
        k: np.dtype(t) for k, t in ERROR_COLUMNS.items()
    }


def test_columns_and_adoptions_are_read_only_views_with_their_types():
    reg = _registry()
    reg.record_adoptions(np.array([2, 5]), model=1, generation=0, step=4)
    origin = reg.column("origin_model")
    assert origin.dtype == np.int32 and len(origin) == len(reg) == N_FACTS * (
        N_VALUES - 1
    )  # the wrong values
    assert not origin.flags.writeable and not reg.adoptions_array().flags.writeable
    assert list(reg.adoptions_frame().columns) == list(ADOPTION_COLUMNS)
    assert reg.adoptions_array().tolist() == [[2, 1, 0, 4, 1], [5, 1, 0, 4, 1]]
    empty = ErrorRegistry(2, 2, np.zeros(2, np.int64))
    assert empty.adoptions_array().shape == (0, 5) and empty.to_frame().empty
    assert (empty.largest_cascade_models, empty.cross_model_adoptions) == (0, 0)
