"""The document store's narrow types, reservation and bounded site index; streamed tables."""

import copy
import pickle

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from batches import plain_batch
from hypothesis import given, settings
from hypothesis import strategies as st
from oldlayouts import with_fact_and_value_columns
from tinyscenario import tiny_scenario
from tracing import traced_peak

from habsburg.ecosystem import store as store_module
from habsburg.ecosystem.columns import claim_type
from habsburg.ecosystem.store import Batch, ColumnTypes, DocumentStore, int_type
from habsburg.model import export
from habsburg.model.model import EcosystemModel
from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.schema import MAX_MODELS, MAX_MONTHS


def _run(store_factory=None, steps=None):
    model = EcosystemModel(tiny_scenario())
    if store_factory is not None:  # nothing is published before the first step
        model.internet.store = store_factory(model.config)
    for _ in range(steps or model.config.steps):
        model.step()
    return model


@pytest.fixture(scope="module")
def narrow_run():
    return _run()


def test_narrow_types_are_chosen_from_the_scenario(narrow_run):
    store = narrow_run.internet.store
    assert store.types.site == np.int8 or store.types.site == np.int16
    assert store.site.dtype.itemsize <= 2 and store.model.dtype == np.int8
    assert store.concepts.dtype == np.int16 and store.claim_values.dtype == np.int8
    assert store.step.dtype == np.int16 and store.tokens.dtype == np.uint16


def test_a_run_derives_its_claims_error_ids_instead_of_storing_them(narrow_run):
    model = narrow_run
    store = model.internet.store
    assert store._claim_errors is None and store._errors is model.errors
    _, _, claim, _ = store.row_bytes()
    # one two-byte code per claim (fact × values_per_fact + value), no error id beside it
    assert claim == store.types.claim.itemsize == 2
    ids = store.claim_errors
    assert ids.dtype == store.types.error and (ids >= 0).sum() > 50
    # the ids every batch carried when published (reposts' included) were counted per error,
    # each document once: the derived ids give the same counts
    wrong = np.flatnonzero(ids >= 0)
    pairs = np.unique(np.stack([store.claim_owners(wrong), ids[wrong]]), axis=1)
    counts = np.bincount(pairs[1], minlength=model.error_documents.size)
    np.testing.assert_array_equal(counts, model.error_documents)
    assert pairs.shape[1] < wrong.size  # (documents repeating a wrong claim: counted once)
    np.testing.assert_array_equal(
        ids, model.errors.error_id(store.claim_facts, store.claim_values).astype(ids.dtype)
    )


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        (lambda sc: setattr(sc.world, "values_per_fact", 300), "world.values_per_fact"),
        (lambda sc: sc.models.extend([copy.deepcopy(sc.models[0])] * 130), "[[models]]"),
        (lambda sc: setattr(sc, "end", "4800-01"), "months"),
    ],
)
def test_a_scenario_too_large_for_the_narrow_types_is_refused(change, setting):
    sc = tiny_scenario()
    change(sc)
    with pytest.raises(ScenarioError, match=setting.replace("[", r"\[").replace("]", r"\]")):
        DocumentStore.for_scenario(sc)


def test_the_schemas_limits_are_the_stores():
    """``schema.MAX_MONTHS`` and ``MAX_MODELS`` restate the widest step and model columns (the
    scenarios layer cannot import the store): the store's types hold a scenario at each limit
    and refuse one a month or a model past it."""
    sc = tiny_scenario()
    year, month = map(int, sc.start.split("-"))
    for extra in (0, 1):
        last = year * 12 + month - 1 + MAX_MONTHS - 1 + extra
        sc.end = f"{last // 12:04d}-{last % 12 + 1:02d}"
        assert sc.steps == MAX_MONTHS + extra
        if extra:
            with pytest.raises(ScenarioError, match="months"):
                ColumnTypes.for_scenario(sc)
        else:
            assert ColumnTypes.for_scenario(sc).step.itemsize == 2
    sc = tiny_scenario()
    for extra in (0, 1):
        sc.models = [copy.deepcopy(sc.models[0]) for _ in range(MAX_MODELS + extra)]
        if extra:
            with pytest.raises(ScenarioError, match="models"):
                ColumnTypes.for_scenario(sc)
        else:
            assert ColumnTypes.for_scenario(sc).model.itemsize == 1


def test_int_type_is_the_narrowest_that_holds_the_size():
    assert int_type(127) == np.int8 and int_type(128) == np.int16
    assert int_type(40_000) == np.int32
    with pytest.raises(ScenarioError, match=r"web\.sites"):
        int_type(2**40, np.int32, "web.sites")


def _one_doc(**over):
    fields = dict(
        site=np.array([3]),
        green=np.array([20]),
        concept_lengths=np.array([1]),
        concepts=np.array([7]),
    )
    return plain_batch(1, **(fields | over))


def test_values_never_wrap_derived_counts_widen_and_sizes_are_refused():
    types = ColumnTypes(site=np.dtype(np.int8), tokens=np.dtype(np.uint16))
    store = DocumentStore(style_dim=1, capacity=4, types=types)
    store.begin_step(0)
    store.append(_one_doc(tokens=np.array([70_000]), green=np.array([65_600])), step=0)
    assert store.tokens.tolist() == [70_000] and store.green.tolist() == [65_600]
    with pytest.raises(OverflowError):
        store.append(_one_doc(site=np.array([300])), step=0)


def test_results_are_identical_with_the_old_wide_columns(narrow_run):
    """Bit for bit: the same run on a store with the former (wide) types."""
    wide = _run(lambda sc: DocumentStore(sc.world.style_dim))
    assert wide.internet.store.site.dtype == np.int32
    a, b = narrow_run.tables(), wide.tables()
    assert list(a) == list(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_dtype=False, obj=name)


def test_capacity_is_reserved_up_front_and_the_site_index_stays_in_the_crawl_window(
    narrow_run,
):
    store = narrow_run.internet.store
    reserved = DocumentStore.for_scenario(narrow_run.config)
    assert len(store.site.base if store.site.base is not None else store.site) >= len(store)
    assert len(reserved._cols["site"].data) >= len(store)  # the estimate covers the run
    window = max(s.window_months for s in narrow_run.config.scrapers)
    assert 0 < len(store._site_index) <= window
    # the finished months a crawl reads are views of the internet's joined buffer: held once
    buffer = narrow_run.internet._recent[narrow_run.month].buffer
    t = narrow_run.month
    past = [store._site_index[t - a][1] for a in range(1, min(window, t + 1))]
    assert len(past) >= 2 and all(rows.base is buffer for rows in past)
    restored = pickle.loads(pickle.dumps(store))
    assert restored._site_index == {} and len(restored) == len(store)
    np.testing.assert_array_equal(restored.concepts, store.concepts)


def test_a_growing_months_site_index_merges_new_rows_as_a_fresh_sort_would(monkeypatch):
    """Rows appended to a month after its site index was built (scrapers' reposts) are merged
    into it, sorting only them, and the index is what sorting the whole month gives."""
    rng = np.random.default_rng(4)
    store = DocumentStore(style_dim=1, capacity=64)
    n_sites = 70_000  # site ids above 2**16: two radix passes
    store.begin_step(0)
    store.append(plain_batch(5, site=rng.integers(0, n_sites, 5)), step=0)
    store.begin_step(1)
    store.append(plain_batch(300, site=rng.integers(0, n_sites, 300)), step=1)
    store.site_index(1, n_sites)
    sorted_sizes = []
    real = store_module.stable_order

    def counted(k):
        sorted_sizes.append(k.size)
        return real(k)

    monkeypatch.setattr(store_module, "stable_order", counted)
    for extra in (40, 1, 0, 7):
        store.append(plain_batch(extra, site=rng.integers(0, n_sites, extra)), step=1)
        rows, starts = store.site_index(1, n_sites)
        sites = store.site[5:]
        order = np.argsort(sites, kind="stable")
        np.testing.assert_array_equal(rows, 5 + order)
        np.testing.assert_array_equal(starts, np.searchsorted(sites[order], np.arange(n_sites + 1)))
    assert sorted_sizes == [40, 1, 7]  # never the whole month again


def test_streamed_tables_equal_the_in_memory_ones(narrow_run, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "CLAIM_ROW_GROUP", 50)
    files = export.write_tables(narrow_run, tmp_path)
    expected = narrow_run.tables()
    claim_groups = pq.ParquetFile(tmp_path / "error_claims.parquet").metadata.num_row_groups
    assert len(expected["error_claims"]) > 100
    assert claim_groups == -(-len(expected["error_claims"]) // 50)
    assert files == [f"{name}.parquet" for name in expected]
    for name in ("documents", "error_claims"):
        got = pd.read_parquet(tmp_path / f"{name}.parquet")
        pd.testing.assert_frame_equal(got, expected[name], check_dtype=False, obj=name)
        assert str(got["kind"].dtype) == "category"
        # columns of distinct values are written plainly, the others dictionary-coded
        meta = pq.ParquetFile(tmp_path / f"{name}.parquet").metadata.row_group(0)
        coded = {
            meta.column(i).path_in_schema: "RLE_DICTIONARY" in meta.column(i).encodings
            for i in range(meta.num_columns)
        }
        distinct = {"id", "document", "synthetic_fraction", "quality"} & set(coded)
        assert distinct and not any(coded[c] for c in distinct)
        assert coded["kind"] and coded["step"]


def test_the_small_tables_are_built_after_the_store_has_streamed(narrow_run, tmp_path, monkeypatch):
    """The store's tables stream first; the others are built only then (a callable), so they
    are not held while the store streams; the files and their order are as before."""
    events = []
    stream = export._stream_store_table

    def recording_stream(store, name, path):
        events.append(name)
        stream(store, name, path)

    def small():
        events.append("small tables built")
        return export.tables(narrow_run, documents=False)

    monkeypatch.setattr(export, "_stream_store_table", recording_stream)
    files = export.write_tables(narrow_run, tmp_path, small)
    assert events == ["documents", "error_claims", "small tables built"]
    assert files == [f"{name}.parquet" for name in narrow_run.tables()]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)


def _dictionary_coded(path) -> dict[str, bool]:
    meta = pq.ParquetFile(path).metadata.row_group(0)
    return {
        meta.column(i).path_in_schema: "RLE_DICTIONARY" in meta.column(i).encodings
        for i in range(meta.num_columns)
    }


def test_small_tables_write_mostly_distinct_numbers_without_dictionaries(
    narrow_run, tmp_path, monkeypatch
):
    """In tables of PLAIN_FROM_ROWS rows or more (lowered here to cover the tiny run), numeric
    columns with more distinct values than half the rows have no Parquet dictionary; the rest
    keep theirs, and every table reads back equal to the one in memory."""
    monkeypatch.setattr(export, "PLAIN_FROM_ROWS", 1)
    export.write_tables(narrow_run, tmp_path)
    expected = narrow_run.tables()
    for name, frame in expected.items():
        if name not in export.STORE_TABLES:
            got = pd.read_parquet(tmp_path / f"{name}.parquet")
            pd.testing.assert_frame_equal(got, frame, check_dtype=False, obj=name)
    z = expected["z_samples"]
    assert z["document"].nunique() > len(z) // 2
    coded = _dictionary_coded(tmp_path / "z_samples.parquet")
    assert not coded["document"] and not coded["classifier_score"]
    assert coded["scraper"] and coded["kind"] and coded["paraphrase"]
    monkeypatch.setattr(export, "PLAIN_FROM_ROWS", len(z) + 1)  # below it: every dictionary
    (tmp_path / "all").mkdir()
    export.write_tables(narrow_run, tmp_path / "all")
    assert all(_dictionary_coded(tmp_path / "all" / "z_samples.parquet").values())
    # the encoding is all that differs: the same values read back in the same types
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "z_samples.parquet"),
        pd.read_parquet(tmp_path / "all" / "z_samples.parquet"),
    )


def test_the_on_disk_store_gives_the_same_tables_as_the_in_memory_one(narrow_run, tmp_path):
    from habsburg.ecosystem.ondisk import OnDiskStore

    # keep only 2 months in memory: training sets read older months back from the files
    disk = _run(lambda sc: OnDiskStore.for_scenario(sc, directory=tmp_path, keep_months=2))
    store = disk.internet.store
    assert isinstance(store.concepts.base, np.memmap) or isinstance(store.concepts, np.memmap)
    assert 0 < store.disk_bytes
    a, b = narrow_run.tables(), disk.tables()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    out = tmp_path / "out"
    out.mkdir()
    export.write_tables(disk, out)
    got = pd.read_parquet(out / "documents.parquet")
    pd.testing.assert_frame_equal(got, a["documents"], check_dtype=False)


def test_an_on_disk_store_reserved_too_small_grows_file_by_file(narrow_run, tmp_path):
    """A run that publishes more than the reservation (the estimate is generous, but a scenario's
    interventions can beat it): every column grows into a new file, copied from the old one,
    which is then removed, also after its months were released from memory; the tables are the
    in-memory run's."""
    from habsburg.ecosystem.columns import ColumnTypes, expected_documents
    from habsburg.ecosystem.ondisk import OnDiskStore

    def small(sc):
        return OnDiskStore(
            sc.world.style_dim,
            capacity=64,  # the run publishes thousands: many resizes of every column
            types=ColumnTypes.for_scenario(sc, expected_documents(sc)),
            site_window=max(s.window_months for s in sc.scrapers),
            directory=tmp_path,
            keep_months=2,
        )

    disk = _run(small)
    a, b = narrow_run.tables(), disk.tables()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    files = sorted(p.name for p in tmp_path.iterdir())
    columns = {name.split(".")[0] for name in files}
    assert len(files) == len(columns)  # one file a column: the older generations were removed
    for name in ("site", "style", "concepts"):
        (path,) = [tmp_path / f for f in files if f.split(".")[0] == name]
        assert int(path.name.split(".")[1]) > 5  # it grew many times


def test_a_file_column_widens_and_grows_into_new_files(tmp_path):
    from habsburg.ecosystem.ondisk import FileColumn

    col = FileColumn(tmp_path, "tokens", np.uint16, capacity=4, widen=True)
    col.extend(np.arange(3, dtype=np.int64))
    col.extend(np.arange(3, 10, dtype=np.int64))  # past the capacity: a second file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.2.bin"]
    col.release(8)  # out of memory, still in the file
    col.extend(np.array([70_000]))  # past uint16: a wider type (a new file), then more room
    assert col.view.dtype == np.int32 and col.view.tolist() == [*range(10), 70_000]
    assert col.generation == 4 and sorted(p.name for p in tmp_path.iterdir()) == ["tokens.4.bin"]
    wide = FileColumn(tmp_path, "style", np.float32, width=3, capacity=2)
    rows = np.arange(15, dtype=np.float32).reshape(5, 3)
    for row in rows:
        wide.extend(row[None, :])
    np.testing.assert_array_equal(wide.view, rows)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("style")) == [
        f"style.{wide.generation}.bin"
    ]


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(
        st.tuples(st.integers(0, 40), st.integers(-5, 70_000), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    width=st.sampled_from([None, 3]),
)
def test_a_file_column_holds_what_an_in_memory_column_holds(tmp_path_factory, chunks, width):
    """Appends to a column in a file (casts, broadcast rows, widening into new files, growth
    past the reservation) give the values and type a :class:`Column` in memory gives."""
    from habsburg.ecosystem.columns import Column
    from habsburg.ecosystem.ondisk import FileColumn

    directory = tmp_path_factory.mktemp("col")
    memory = Column(np.uint8, width, capacity=8, widen=True)
    disk = FileColumn(directory, "c", np.uint8, width, capacity=8, widen=True)
    for n, top, broadcast in chunks:
        shape = (n,) if width is None else (n, width)
        values = (
            np.broadcast_to(np.int64(top), shape)
            if broadcast
            else np.linspace(0, max(top, 0), num=int(np.prod(shape)))
            .astype(np.int64)
            .reshape(shape)
        )
        if width is not None and broadcast and n:
            values = np.broadcast_to(values[:1], shape)  # a row repeated (stride 0)
        memory.extend(values)
        disk.extend(values)
    assert disk.view.dtype == memory.view.dtype
    np.testing.assert_array_equal(disk.view, memory.view)


def test_a_checkpoint_of_an_on_disk_store_refers_to_its_files_and_resumes_exactly(
    narrow_run, tmp_path
):
    """A pickled model whose store is in files holds the files' names, not their rows; the
    original run goes on (appending past the checkpoint and growing every column into new
    files), then the unpickled model goes on from the checkpoint over the same files: both give
    the in-memory run's tables, and the files the checkpoint refers to were kept as the columns
    grew past them."""
    from habsburg.ecosystem.columns import ColumnTypes, expected_documents
    from habsburg.ecosystem.ondisk import OnDiskStore
    from habsburg.scenarios.errors import CheckpointError

    def small(sc):
        return OnDiskStore(
            sc.world.style_dim,
            capacity=64,
            types=ColumnTypes.for_scenario(sc, expected_documents(sc)),
            site_window=max(s.window_months for s in sc.scrapers),
            directory=tmp_path,
            keep_months=2,
        )

    half = narrow_run.config.steps // 2
    model = _run(small, steps=half)
    store = model.internet.store
    blob = pickle.dumps(model)
    assert len(blob) < store.disk_bytes  # (the documents stayed in their files)
    pinned = {c.path for c in store.all_columns()}
    for _ in range(narrow_run.config.steps - half):
        model.step()
    assert all(p.exists() for p in pinned)  # kept, though every column grew past them
    assert any(c.path not in pinned for c in store.all_columns())
    resumed = pickle.loads(blob)
    assert len(resumed.internet.store) < len(store)
    for _ in range(narrow_run.config.steps - half):
        resumed.step()
    expected = narrow_run.tables()
    for finished in (model, resumed):
        got = finished.tables()
        for name in expected:
            pd.testing.assert_frame_equal(expected[name], got[name], obj=name)
    # a file the checkpoint needs, gone: refused, naming it
    missing = sorted(pinned)[0]
    missing.rename(tmp_path / "elsewhere.bin")
    with pytest.raises(CheckpointError, match=rf"{missing.name}.*must stay where the run left"):
        pickle.loads(blob)
    # a store in a temporary directory of its own has no files to come back to
    own = EcosystemModel(tiny_scenario(), store_dir=None)
    own.internet.store = OnDiskStore.for_scenario(own.config)
    with pytest.raises(ValueError, match="temporary directory of its own cannot be checkpointed"):
        pickle.dumps(own)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_counting_statistics_a_chunk_at_a_time_equal_the_whole_gather(
    narrow_run, monkeypatch, chunk
):
    from habsburg.ecosystem import store as store_mod

    monkeypatch.setattr(store_mod, "STAT_CHUNK", chunk)
    store, world = narrow_run.internet.store, narrow_run.world
    K, F, V = world.config.concepts, world.config.facts, world.config.values_per_fact
    rng = np.random.default_rng(3)
    ids = np.concatenate([rng.choice(len(store), 500), [0, len(store) - 1, 5, 5]])
    # the whole gather, as training sets counted before
    _, concepts = store.concept_rows(ids)
    _, claims = store.claim_rows(ids)
    facts = store.claim_facts[claims].astype(np.int64)
    values = store.claim_values[claims].astype(np.int64)
    errors = store.claim_errors[claims]
    got = store.concept_counts(ids, K)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.bincount(concepts, minlength=K))
    counts, wrong, total = store.claim_counts(ids, F, V)
    expect = np.bincount(facts * V + values, minlength=F * V).reshape(F, V)
    np.testing.assert_array_equal(counts, expect)
    assert (wrong, total) == (int((errors >= 0).sum()), claims.size) and wrong > 0
    assert store.wrong_claims(ids) == (wrong, total)
    # counted in another base than the codes' (decoded): the same claims, the same wrong ones
    other, wrong_other, total_other = store.claim_counts(ids, F, V + 1)
    expect = np.bincount(facts * (V + 1) + values, minlength=F * (V + 1)).reshape(F, V + 1)
    np.testing.assert_array_equal(other, expect)
    assert (wrong_other, total_other) == (wrong, total)
    empty = np.zeros(0, np.int64)
    assert store.concept_counts(empty, K).sum() == 0 and store.wrong_claims(empty) == (0, 0)


def test_counting_statistics_hold_a_chunk_of_draws_not_the_whole_gather(narrow_run):
    store, world = narrow_run.internet.store, narrow_run.world
    ids = np.tile(np.arange(len(store), dtype=np.int64), 1 + 400_000 // len(store))[:400_000]

    def peak(fn):
        return traced_peak(fn)[1]

    whole = peak(lambda: np.bincount(store.concept_rows(ids)[1], minlength=world.config.concepts))
    chunked = peak(lambda: store.concept_counts(ids, world.config.concepts))
    claims = peak(lambda: store.claim_counts(ids, world.config.facts, world.config.values_per_fact))
    assert whole > 20 * 2**20  # 8-byte flat indices of every draw, and more
    assert chunked < whole / 4 and claims < whole / 4


# --- claims as one code each -------------------------------------------------------------------
def test_claim_type_is_two_bytes_while_the_codes_fit_then_four_then_refused():
    assert claim_type(8192, 8) == np.uint16 and claim_type(2000, 8) == np.uint16
    assert claim_type(8193, 8) == np.int32 and claim_type(30_000, 127) == np.int32
    with pytest.raises(ScenarioError, match=r"world\.facts × values_per_fact"):
        claim_type(2**20, 2**12)


@settings(max_examples=60, deadline=None)
@given(
    facts=st.integers(1, 40_000),
    values=st.integers(1, 127),
    n=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_claims_decode_to_the_facts_and_values_appended(facts, values, n, seed):
    rng = np.random.default_rng(seed)
    types = ColumnTypes(
        fact=int_type(facts, np.int32, narrowest=np.int16),
        value=int_type(values),
        claim=claim_type(facts, values),
        values=values,
    )
    store = DocumentStore(1, types=types)
    f, v = rng.integers(0, facts, n), rng.integers(0, values, n)
    lengths = np.bincount(rng.integers(0, max(n // 2, 1), n), minlength=max(n // 2, 1))
    store.append(
        plain_batch(lengths.size, claim_lengths=lengths, claim_facts=f, claim_values=v), step=0
    )
    assert store.n_claims == n and store._claims.view.dtype == types.claim
    got_f, got_v = store.claims_at(slice(None))
    assert got_f.tolist() == f.tolist() and got_v.tolist() == v.tolist()
    assert got_f.dtype == types.fact and got_v.dtype == types.value
    assert store.claim_codes(slice(None)).tolist() == (f * values + v).tolist()
    some = rng.permutation(n)[: n // 3]
    assert store.claims_at(some)[0].tolist() == f[some].tolist()


@pytest.mark.parametrize("bad", [-1, 8, 2.5])
def test_a_claim_value_that_would_not_decode_to_itself_is_refused(bad):
    store = DocumentStore(1, types=ColumnTypes(claim=claim_type(10, 8), values=8))
    batch = plain_batch(
        1,
        claim_lengths=np.array([2]),
        claim_facts=np.array([3, 4]),
        claim_values=np.array([1, bad]),
    )
    with pytest.raises(ValueError, match=r"claim value|whole numbers"):
        store.append(batch, step=0)
    assert store.n_claims == 0 and len(store) == 0  # refused before any column grew


def test_registry_keys_give_the_ids_and_wrongness_of_fact_and_value(narrow_run):
    registry = narrow_run.errors
    F, V = registry.n_facts, registry.n_values
    keys = np.arange(F * V)
    facts, values = np.divmod(keys, V)
    assert len(registry) > 50  # errors were registered
    np.testing.assert_array_equal(registry.key_ids(keys), registry.claim_ids(facts, values))
    np.testing.assert_array_equal(registry.wrong_keys(keys), registry.wrong(facts, values))
    assert 0 < registry.wrong_keys(keys).sum() < F * V


def test_a_checkpoint_with_fact_and_value_columns_loads_as_codes(narrow_run):
    """A run's store pickled before claim codes (int16 facts, int8 values, column types without
    the code's fields, error ids derived from the registry) loads with the same claims."""
    store = narrow_run.internet.store
    state = with_fact_and_value_columns(store.__getstate__(), store)
    old = DocumentStore.__new__(DocumentStore)
    old.__dict__.update(state)
    restored = pickle.loads(pickle.dumps(old))
    assert restored.types.claim == np.uint16 and restored.types.values == store.types.values
    assert restored._errors is not None and restored._registry_keys()
    assert restored.claim_codes(slice(None)).tolist() == store.claim_codes(slice(None)).tolist()
    assert restored.claim_errors.tolist() == store.claim_errors.tolist()
    world = narrow_run.world.config
    ids = np.arange(len(store))
    a = store.claim_counts(ids, world.facts, world.values_per_fact)
    b = restored.claim_counts(ids, world.facts, world.values_per_fact)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:]


def _random_batch(draw, rng, n: int, rows_before: int):
    """A batch of ``n`` documents whose per-document fields are scalars or arrays at random."""

    def either(scalar, array):
        return scalar if draw(st.booleans()) else array

    concept_lengths = rng.integers(0, 4, n)
    claim_lengths = rng.integers(0, 3, n)
    k = int(claim_lengths.sum())
    reposts = rows_before > 0 and draw(st.booleans())
    return plain_batch(
        n,
        site=rng.integers(0, 30, n),
        kind=either(int(rng.integers(0, 3)), rng.integers(0, 3, n)),
        producer=either(int(rng.integers(0, 5)), rng.integers(0, 5, n)),
        model=either(int(rng.integers(-1, 4)), rng.integers(-1, 4, n)),
        synthetic_fraction=rng.random(n),
        tokens=rng.integers(1, 70_000, n),
        green=rng.integers(0, 50, n),
        style=rng.random((n, 1)),
        quality=rng.random(n),
        concept_lengths=concept_lengths,
        concepts=rng.integers(0, 200, int(concept_lengths.sum())),
        claim_lengths=claim_lengths,
        claim_facts=rng.integers(0, 50, k),
        claim_values=rng.integers(0, 4, k),
        claim_errors=np.full(k, -1),
        original=rng.integers(0, rows_before, n) if reposts else None,
        paraphrase=either(float(draw(st.sampled_from([0.0, 0.25]))), rng.random(n).round(1)),
    )


@settings(max_examples=40, deadline=None)
@given(data=st.data(), sizes=st.lists(st.integers(0, 12), min_size=1, max_size=5))
def test_a_joined_batch_stores_what_its_batches_store_one_by_one(data, sizes):
    """`Batch.join` (the models' and the farms' outputs, appended once a month): the same rows,
    ids, values and column types as appending each batch in turn."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    first = plain_batch(6, site=np.arange(6))
    batches = [_random_batch(data.draw, rng, n, rows_before=6) for n in sizes]
    one_by_one, joined = DocumentStore(1), DocumentStore(1)
    for store in (one_by_one, joined):
        store.append(first, step=0)
    for b in batches:
        one_by_one.append(b, step=1)
    ids = joined.append(Batch.join(batches), step=1)
    assert ids.tolist() == list(range(6, 6 + sum(sizes)))
    a, b = list(one_by_one.all_columns()), list(joined.all_columns())
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.view.dtype == y.view.dtype
        if x is not one_by_one._cols["paraphrase"]:  # its codes follow each call's new values
            np.testing.assert_array_equal(x.view, y.view)
    for name in ("paraphrase", "step", "original"):  # every column decoded
        np.testing.assert_array_equal(getattr(one_by_one, name), getattr(joined, name))
    copies = sum(int((b.original >= 0).sum()) for b in batches if b.original is not None)
    assert joined._reposts.count_before(len(joined)) == copies
    assert joined._reposts.tagged == one_by_one._reposts.tagged


def test_one_append_holds_the_months_batches_and_drops_them_if_the_block_fails():
    model = EcosystemModel(tiny_scenario(), seed=3)
    store = model.internet.store
    before = len(store)

    def docs(n: int):  # documents of the model's style dimension
        return plain_batch(n, style=np.zeros((n, store.style_dim)))

    with model.one_append():
        assert model.publish(docs(2)) is None
        assert model.publish(docs(3)) is None
        assert len(store) == before  # held until the block ends
    assert len(store) == before + 5
    with pytest.raises(RuntimeError), model.one_append():
        model.publish(docs(4))
        raise RuntimeError("a producer failed")
    assert len(store) == before + 5  # nothing half-appended
    ids = model.publish(docs(1))
    assert ids is not None and ids.tolist() == [before + 5]


def test_a_run_of_fewer_months_reserves_room_for_those_only(narrow_run, tmp_path, capsys):
    """``habsburg run FILE --steps 2`` on a scenario whose whole length would need ~21 TB was
    refused by the kernel ("Cannot allocate memory") though two months publish little: the store
    reserved room for every month of the scenario. It reserves for the months a run simulates
    now, with the whole scenario's column types, and grows if stepped further: same tables."""
    from habsburg.cli import main
    from habsburg.ecosystem.columns import expected_documents
    from habsburg.experiments.run import simulate

    sc = narrow_run.config

    def reserved(store):
        return len(store._cols["site"].data)

    short = DocumentStore.for_scenario(sc, 3)
    assert reserved(short) == expected_documents(sc, 3) < expected_documents(sc) // 4
    assert short.types == DocumentStore.for_scenario(sc).types
    assert reserved(simulate(sc, steps=3).internet.store) == expected_documents(sc, 3)
    grown = EcosystemModel(sc, months=3)  # stepped past its months: the store grows
    for _ in range(sc.steps):
        grown.step()
    assert reserved(grown.internet.store) >= len(grown.internet.store) > expected_documents(sc, 3)
    a, b = narrow_run.tables(), grown.tables()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    huge = tmp_path / "huge.toml"  # AI demand of 1e9 requests a month, from 2022-11
    huge.write_text('name = "huge"\n[demand.adoption]\nceiling = 1e9\nstart = "2022-11"\n')
    assert main(["run", str(huge), "--steps", "2", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "error" not in capsys.readouterr().err
