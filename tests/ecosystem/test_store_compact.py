"""The store's compact columns (habsburg.ecosystem.compact): step from the month starts,
paraphrase as one-byte codes, originals for reposts only. Every value read back must be the one
appended, exactly as the former one-value-per-document columns held it."""

import mmap
import os
import pickle
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oldlayouts import with_fact_and_value_columns
from tinyscenario import tiny_scenario

from habsburg.ecosystem import columns
from habsburg.ecosystem.columns import Column
from habsburg.ecosystem.compact import CodeTable
from habsburg.ecosystem.store import DOCUMENT_COLUMNS, REPOST, Batch, ColumnTypes, DocumentStore
from habsburg.model.model import EcosystemModel


class RecordingStore(DocumentStore):
    """A store that also keeps the old full columns, as the former store appended them."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.old: dict[str, list[np.ndarray]] = {"step": [], "original": [], "paraphrase": []}

    def append(self, batch: Batch, step: int) -> np.ndarray:
        n = len(batch.synthetic_fraction)
        old_original = Column(self.types.row, capacity=max(n, 1), widen=True)
        old_original.extend(
            np.broadcast_to(np.asarray(-1 if batch.original is None else batch.original), (n,))
        )
        para = Column(np.float32, capacity=max(n, 1))
        para.extend(np.broadcast_to(np.asarray(batch.paraphrase), (n,)))
        self.old["step"].append(np.full(n, step, self.types.step))
        self.old["original"].append(old_original.view)
        self.old["paraphrase"].append(para.view)
        return super().append(batch, step)

    def old_column(self, name: str) -> np.ndarray:
        return np.concatenate(self.old[name])


@pytest.fixture(scope="module")
def recorded():
    model = EcosystemModel(tiny_scenario())
    model.internet.store = RecordingStore.for_scenario(model.config)
    for _ in range(model.config.steps):
        model.step()
    return model.internet.store


def test_derived_columns_equal_the_old_full_columns_bit_for_bit(recorded):
    store = recorded
    assert (store.kind == REPOST).sum() > 20  # the scenario has reposts to look up
    assert np.unique(store.paraphrase).size >= 2  # and paraphrased documents
    rng = np.random.default_rng(3)
    ids = np.sort(rng.choice(len(store), 500, replace=False))
    shuffled = rng.permutation(ids).astype(np.int32)
    for name in ("step", "original", "paraphrase"):
        old = store.old_column(name)
        full = getattr(store, name)
        assert full.dtype == old.dtype and full.tobytes() == old.tobytes(), name
        for rows in (ids, shuffled, slice(100, 400), slice(0, len(store))):
            got = store.column(name, rows)
            assert got.dtype == old.dtype and got.tobytes() == old[rows].tobytes(), name
    assert store.steps_of(np.zeros(0, np.int64)).size == 0
    assert store.originals_of(np.array([], np.int64)).dtype == store.original_type


@settings(max_examples=50, deadline=None)
@given(
    months=st.lists(st.integers(0, 6), min_size=1, max_size=12),
    cut=st.tuples(st.integers(-3, 80), st.integers(-3, 80)),
)
def test_steps_of_a_slice_follow_the_month_starts_with_empty_months(months, cut):
    """A slice's months come from runs of each month's rows: the same as a search of every
    row, with months that published nothing, at either end of the slice, and past the end."""
    store = DocumentStore(1, types=ColumnTypes(step=np.dtype(np.int16)))
    for step, n in enumerate(months):
        store.begin_step(step)
        if n:
            store.append(_doc_batch(n, 0.0), step=step)
    old = np.repeat(np.arange(len(months)), months).astype(np.int16)
    rows = slice(*cut)
    got = store.steps_of(rows)
    assert got.dtype == np.int16 and got.tolist() == old[rows].tolist()
    ids = np.arange(len(store))[rows]
    assert store.steps_of(ids).tolist() == old[ids].tolist()


def test_roots_and_frames_follow_the_old_columns(recorded):
    store = recorded
    old = store.old_column("original")
    ids = np.arange(len(store))
    assert store._reposts.tagged  # in a run only reposts have kind REPOST: found by kind
    np.testing.assert_array_equal(store.root(ids), np.where(old >= 0, old, ids))
    shuffled = np.random.default_rng(5).permutation(ids)
    store._reposts.tagged = False  # the binary search over every id finds the same
    try:
        np.testing.assert_array_equal(store.root(shuffled), np.where(old >= 0, old, ids)[shuffled])
        assert store.originals_of(shuffled).tobytes() == old[shuffled].tobytes()
    finally:
        store._reposts.tagged = True
    frame = store.to_frame()
    assert list(frame.columns[:12]) == ["id", *DOCUMENT_COLUMNS]
    np.testing.assert_array_equal(frame["original"].to_numpy(), old)


def test_paraphrase_costs_one_byte_and_the_original_only_reposts(recorded):
    store = recorded
    fixed, _, _, repost = store.row_bytes()
    assert store._cols["paraphrase"].data.dtype == np.uint8 and "step" not in store._cols
    reposts = int((store.old_column("original") >= 0).sum())
    assert store._reposts.rows.size == reposts < len(store) // 5
    assert repost == 2 * np.dtype(store.types.row).itemsize
    offsets = (store._concept_offsets, store._claim_offsets)
    # 2 bytes for the concepts' offsets, 1 for the claims' (a few per document)
    assert [o.rel.data.dtype for o in offsets] == [np.uint16, np.uint8]
    assert fixed == sum(c.data[:1].nbytes for c in store._cols.values()) + 3


def test_code_table_gives_back_exactly_the_float32_stored():
    table = CodeTable()
    values = np.array([0.0, 0.2, -0.0, 0.36, 0.2, np.float32(1e-40), 0.0], np.float32)
    codes = table.encode(values)
    assert codes is not None and codes.dtype == np.uint8
    assert table.values[codes].tobytes() == values.tobytes()  # -0.0 and a subnormal kept
    assert table.encode(np.arange(300, dtype=np.float32)) is None  # past 256: refused ...
    assert table.values.size == 5  # ... and the table unchanged


def _doc_batch(n, paraphrase, original=None, dim=1):
    return Batch(
        site=np.zeros(n, int),
        kind=REPOST if original is not None else 0,
        producer=0,
        model=-1,
        synthetic_fraction=np.zeros(n),
        tokens=np.full(n, 100),
        green=np.full(n, 20),
        style=np.zeros((n, dim)),
        quality=np.ones(n),
        concept_lengths=np.ones(n, int),
        concepts=np.ones(n, int),
        claim_lengths=np.zeros(n, int),
        claim_facts=np.zeros(0, int),
        claim_values=np.zeros(0, int),
        claim_errors=np.zeros(0, int),
        original=original,
        paraphrase=paraphrase,
    )


def test_many_distinct_fractions_widen_the_column_without_changing_a_value():
    store = DocumentStore(style_dim=1, capacity=8)
    first = np.array([0.0, 0.25, 0.25], np.float64)
    store.append(_doc_batch(3, first), step=0)
    many = np.random.default_rng(1).random(400)
    store.append(_doc_batch(400, many), step=0)
    store.append(_doc_batch(2, 0.4), step=1)
    expected = np.concatenate([first, many, [0.4, 0.4]]).astype(np.float32)
    assert store.paraphrase.dtype == np.float32
    assert store.paraphrase.tobytes() == expected.tobytes()
    assert store._paraphrase_table is None  # a float32 column now


def test_originals_widen_and_out_of_order_months_are_refused():
    types = ColumnTypes(row=np.dtype(np.int32))
    store = DocumentStore(style_dim=1, capacity=8, types=types)
    store.append(_doc_batch(2, 0.0), step=0)
    store.append(_doc_batch(3, 0.0, original=np.array([1, -1, 2**40])), step=2)
    assert store.original.tolist() == [-1, -1, 1, -1, 2**40]
    assert store.original_type == np.int64
    assert not store._reposts.tagged  # a kind-REPOST row without an original: searched
    assert store.root(np.array([4, 2, 3])).tolist() == [2**40, 1, 3]
    assert store.step.tolist() == [0, 0, 2, 2, 2]
    assert store.step_slice(1, 1) == slice(2, 2)  # month 1 published nothing
    with pytest.raises(ValueError, match="month order"):
        store.append(_doc_batch(1, 0.0), step=1)


def _old_layout_state(store: RecordingStore) -> dict:
    """The state a checkpoint of the former store held: full step/original/paraphrase columns,
    a full int32 offset per document, and no error registry."""
    state = store.__getstate__()
    del state["_reposts"], state["_paraphrase_table"], state["old"], state["_errors"]
    del state["_wrong_docs"]  # the bit per document with a wrong claim (kept since 2026-12-02)
    for name in ("concept_offsets", "claim_offsets"):
        full = Column(np.int32, capacity=len(store) + 1, widen=True)
        full.extend(getattr(store, name))
        state["_cols"][name] = full
        del state[f"_{name}"]
    with_fact_and_value_columns(state, store)  # claims as a fact and a value column
    cols = {}
    for name, col in state["_cols"].items():
        if name == "site":
            cols["step"] = Column(store.types.step, capacity=len(store))
            cols["step"].extend(store.old_column("step"))
        if name == "paraphrase":
            cols["original"] = Column(store.types.row, capacity=len(store), widen=True)
            cols["original"].extend(store.old_column("original"))
            col = Column(np.float32, capacity=len(store))
            col.extend(store.old_column("paraphrase"))
        cols[name] = col
    state["_cols"] = cols
    return state


def test_a_checkpoint_with_the_old_columns_loads_in_the_compact_layout(recorded):
    old = DocumentStore.__new__(DocumentStore)
    old.__dict__.update(_old_layout_state(recorded))  # unpickled as the old class would be
    restored = pickle.loads(pickle.dumps(old))
    assert "step" not in restored._cols and restored._paraphrase_table is not None
    for name in ("step", "original", "paraphrase"):
        assert restored.column(name).tobytes() == recorded.old_column(name).tobytes()
    np.testing.assert_array_equal(restored.to_frame(), recorded.to_frame())
    for name in ("concept_offsets", "claim_offsets", "claim_errors", "claim_facts", "claim_values"):
        assert getattr(restored, name).tolist() == getattr(recorded, name).tolist(), name
    assert "_claim_facts" not in vars(restored) and restored.n_claims == recorded.n_claims
    every = np.arange(len(recorded))
    wrong = restored.has_wrong_claim(every)
    assert wrong.any() and (wrong == recorded.has_wrong_claim(every)).all()
    # the restored store goes on appending
    step = int(recorded.step[-1])
    batch = _doc_batch(2, 0.3, original=np.array([0, -1]), dim=restored.style_dim)
    restored.append(batch, step=step)
    assert restored.original[-2:].tolist() == [0, -1] and len(restored) == len(recorded) + 2


def _vm_flags(address: int) -> list[str]:
    """The VmFlags of the mapping of this process that holds ``address`` (Linux smaps)."""
    inside = False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError("no mapping holds the address")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc/self/smaps")
def test_large_reservations_grow_by_small_private_pages():
    """numpy advises huge pages for arrays of 4 MB and more, which keeps up to 2 MB resident
    ahead of each column's documents; a large column reservation reverses that advice (``nh``)
    in a private mapping (not ``sh``: a forked worker must not write into its parent's store),
    and a small one stays an ordinary numpy array. Both read and write as before."""
    big = Column(np.float32, width=8, capacity=1 << 18)
    assert big.data.nbytes >= columns.SMALL_PAGES_FROM
    big.extend(np.arange(16, dtype=np.float32).reshape(2, 8))
    flags = _vm_flags(big.data.ctypes.data)
    assert "hg" not in flags and "sh" not in flags
    if os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled"):  # else: no advice to take
        assert "nh" in flags
    assert big.view.sum() == 120 and big.data[2:].max() == 0
    assert pickle.loads(pickle.dumps(big)).view.tolist() == big.view.tolist()
    small = Column(np.int16, capacity=1024)
    assert small.data.base is None


@pytest.mark.skipif(not hasattr(mmap, "MADV_NOHUGEPAGE"), reason="no huge-page advice here")
def test_a_kernel_refusing_the_page_advice_still_gets_a_column(monkeypatch):
    """A Linux kernel built without huge pages answers the advice with EINVAL: the column is
    the same private zeroed mapping, just unadvised."""

    refused = []

    class Refusing(mmap.mmap):
        def madvise(self, *args):
            refused.append(args)
            raise OSError(22, "Invalid argument")

    monkeypatch.setattr(mmap, "mmap", Refusing)
    col = Column(np.int32, capacity=columns.SMALL_PAGES_FROM)
    col.extend(np.arange(5, dtype=np.int32))
    assert refused == [(mmap.MADV_NOHUGEPAGE,)]
    assert col.view.tolist() == [0, 1, 2, 3, 4] and col.data[5:].max() == 0
