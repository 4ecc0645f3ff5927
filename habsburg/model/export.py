"""The results tables of a run, built from the model's DataCollector, event log, observer,
error registry and document store (one function per table family; no simulation here)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from habsburg.agents.generative import GenerativeModel
from habsburg.agents.scraper import Scraper
from habsburg.ecosystem.store import DOCUMENT_COLUMNS, KIND_NAMES

if TYPE_CHECKING:
    from pyarrow import RecordBatch

#: the per-agent-type DataCollector tables, by file stem
AGENT_TABLES = {"models": GenerativeModel, "scrapers": Scraper}


def collected_frames(model: Any) -> dict[str, pd.DataFrame]:
    """The DataCollector's tables with ``step`` (0-based month index) and ``month`` columns:
    ``model_metrics`` (one row per month) and, per agent type that exists, ``models`` /
    ``scrapers`` (one row per agent per month). The one place these frames are cleaned up."""
    sc, dc = model.config, model.datacollector
    mdf = dc.get_model_vars_dataframe().reset_index(drop=True)
    mdf.insert(0, "step", np.arange(len(mdf), dtype=np.int32))
    mdf.insert(1, "month", [sc.step_to_month(int(s)) for s in mdf["step"]])
    out = {"model_metrics": mdf}
    for name, cls in AGENT_TABLES.items():
        if model.agents_by_type.get(cls):
            df = dc.get_agenttype_vars_dataframe(cls).reset_index()
            df = df.rename(columns={"Step": "step", "AgentID": "agent_id"})
            df["step"] = df["step"].astype(np.int32) - 1
            df["month"] = [sc.step_to_month(int(s)) for s in df["step"]]
            out[name] = df
    return out


def error_tables(model: Any) -> dict[str, pd.DataFrame]:
    """``errors`` (every wrong value ever published, its origin and how many documents carry
    it) and ``adoptions`` (each time a model generation came to believe one)."""
    names = {a.index: a.name for a in model.models}
    errors = model.errors.to_frame()
    if len(errors):
        errors["origin_model_name"] = [names.get(i, "") for i in errors["origin_model"]]
        errors["documents"] = model.error_document_counts()
    adoptions = model.errors.adoptions_frame()
    adoptions["model_name"] = [names[i] for i in adoptions["model"]]
    return {"errors": errors, "adoptions": adoptions}


def event_tables(model: Any) -> dict[str, pd.DataFrame]:
    """The event log and the observer's samples as tables."""
    log, world = model.events, model.world
    human = pd.DataFrame(
        {
            "model": "human",
            "generation": np.int32(-1),
            "step": np.int32(0),
            "concept": np.arange(world.p_human.size, dtype=np.int32),
            "probability": world.p_human,
        }
    )
    human_style = {
        "model": "human",
        "generation": -1,
        "step": 0,
        "mean": world.human_style_mean.tolist(),
        "cov": world.human_style_cov.ravel().tolist(),
    }
    return {
        "lineage": pd.DataFrame(log.lineage),
        "concept_distributions": pd.concat(
            [human, *map(log.concept_distribution_frame, log.concept_distributions)],
            ignore_index=True,
        ),
        # each generation's Gaussian style distribution (mean, sampling covariance d×d flattened)
        "style_distributions": pd.DataFrame([human_style, *log.style_distributions]),
        "training_sources": pd.DataFrame(log.training_sources),
        "crawls": pd.DataFrame(log.crawls),
        "z_samples": z_sample_table(model.observer.z_samples),
        "interventions": pd.DataFrame(
            log.interventions, columns=["step", "month", "path", "value"]
        ),
    }


def z_sample_table(samples: list[dict[str, Any]]) -> pd.DataFrame:
    """The observer's per-crawl z-score samples (dicts of arrays) as one table, built once."""
    if not samples:
        return pd.DataFrame()
    counts = [len(s["document"]) for s in samples]
    columns: dict[str, Any] = {
        "step": np.repeat(np.array([s["step"] for s in samples], dtype=np.int32), counts),
        "scraper": np.repeat(np.array([s["scraper"] for s in samples], dtype=object), counts),
    }
    for name in samples[0]:
        if name not in columns:
            columns[name] = np.concatenate([s[name] for s in samples])
    columns["kind"] = pd.Categorical.from_codes(columns["kind"], list(KIND_NAMES))
    return pd.DataFrame(columns)


def world_tables(model: Any) -> dict[str, pd.DataFrame]:
    """Ground truth: ``concepts``, ``facts`` and the ``sites`` of the web."""
    world, internet = model.world, model.internet
    return {
        "concepts": pd.DataFrame(
            {
                "concept": np.arange(world.p_human.size, dtype=np.int32),
                "p_human": world.p_human,
                "popularity": world.concept_popularity,
                "tail": world.concept_tail,
                "niche": world.niche_of,
            }
        ),
        "facts": pd.DataFrame(
            {
                "fact": np.arange(world.true_values.size, dtype=np.int32),
                "popularity": world.fact_popularity,
                "true_value": world.true_values,
                "tail": world.fact_tail,
            }
        ),
        "sites": pd.DataFrame(
            {
                "site": np.arange(internet.n_sites),
                "kind": internet.site_kind,
                "owner": internet.site_owner,
                "pagerank": internet.pagerank,
            }
        ),
    }


def error_claim_rows(store: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(claim index, document)`` of every wrong claim, in claim order."""
    claims = np.flatnonzero(store.claim_wrong(slice(None)))
    return claims, store.claim_owners(claims)


def error_claim_chunks(
    store: Any, size: int, block: int = 1 << 20
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`error_claim_rows` ``size`` wrong claims at a time (the last chunk shorter; one
    empty chunk if there are none), scanning the claims a ``block`` at a time: no array the
    length of every claim or every wrong claim. The documents of a block's wrong claims are
    found by a binary search in the offsets of the documents that block spans."""
    parts, held, emitted = [], 0, False
    for lo in range(0, store.n_claims, block):
        claims = np.flatnonzero(store.claim_wrong(slice(lo, lo + block)))
        claims += lo
        parts.append((claims, store.claim_owners(claims)))
        held += claims.size
        while held >= size:
            flat, docs = (np.concatenate(x) for x in zip(*parts, strict=True))
            yield flat[:size], docs[:size]
            parts, held, emitted = [(flat[size:], docs[size:])], flat.size - size, True
    if held or not emitted:
        if parts:
            flat, docs = (np.concatenate(x) for x in zip(*parts, strict=True))
            yield flat, docs
        else:
            yield np.zeros(0, np.intp), np.zeros(0, np.int64)


def document_columns(store: Any, rows: slice) -> dict[str, np.ndarray]:
    """The ``documents`` table's columns for ``rows``, as views of the store's columns (the
    derived ones built for these rows only)."""
    out = {"id": np.arange(rows.start, rows.stop, dtype=np.int64)}
    for name in DOCUMENT_COLUMNS:
        out[name] = store.column(name, rows)
    out["n_concepts"] = store.concept_lengths(rows)
    out["n_claims"] = store.claim_lengths(rows)
    return out


def error_claim_columns(store: Any, claims: np.ndarray, docs: np.ndarray) -> dict:
    return {
        "document": docs,
        "error_id": store.claim_error_ids(claims),
        "step": store.steps_of(docs),
        "kind": store.kind[docs],
        "producer": store.producer[docs],
        "model": store.model[docs],
        "site": store.site[docs],
    }


def _kind_categorical(frame: pd.DataFrame) -> pd.DataFrame:
    frame["kind"] = pd.Categorical.from_codes(frame["kind"].to_numpy(), list(KIND_NAMES))
    return frame


def document_tables(model: Any) -> dict[str, pd.DataFrame]:
    """``documents`` (one row per document) and ``error_claims`` (one row per wrong claim), in
    memory (:func:`write_tables` streams them to Parquet instead)."""
    store = model.internet.store
    docs = _kind_categorical(pd.DataFrame(document_columns(store, slice(0, len(store)))))
    claims, owners = error_claim_rows(store)
    error_claims = _kind_categorical(pd.DataFrame(error_claim_columns(store, claims, owners)))
    return {"documents": docs, "error_claims": error_claims}


#: at most this many documents per Parquet row group when streaming the store (a group's
#: derived columns and its dictionary-coded pages are held while it is written: groups of up to
#: 1 M rows took ~30 MB more at the end of a 10× run than 512 k, for a file 0.1% smaller)
ROW_GROUP = 1 << 19
#: wrong claims per row group of ``error_claims``: seven columns of a group are held at once
#: while it is written, so smaller groups than the documents' (1 M rows took ~33 MB more at
#: the end of a 10× run than 256 k; the baseline's 181 k fit one group either way)
CLAIM_ROW_GROUP = 1 << 18


def month_row_groups(store: Any, size: int | None = None, least: int | None = None) -> list[slice]:
    """The ``documents`` table's row groups, aligned on months: consecutive whole months joined
    until a group holds at least ``least`` documents (default: half of ``size``) without passing
    ``size`` (default: :data:`ROW_GROUP`, read at the call), and a month above ``size`` split
    into pieces of at most ``size`` (one empty group for an empty store).
    A group never holds part of a month beside another month, so a reader that filters on
    ``step`` (``Run.table(..., steps=)``, pyarrow's ``filters``) reads only groups of the months
    it asks for: Parquet keeps each group's least and greatest ``step``. (Small groups compress
    worse: the baseline's ``documents.parquet`` was 33.4 MB in groups of 1 M rows, 35.2 MB in
    groups of at least 512 k whole months, 37.9 MB of at least 256 k, 40.6 MB of one month
    (~15 k documents) each, all with every column dictionary-coded; now that columns of
    distinct values are not, 32.35 MB in groups of at least 512 k, 32.38 MB of at least 256 k
    (the default) and 32.43 MB of at least 128 k.)"""
    size = ROW_GROUP if size is None else size
    least = size // 2 if least is None else least
    bounds = np.unique(store.month_bounds()).tolist()
    groups: list[slice] = []
    lo = bounds[0]
    for a, hi in itertools.pairwise(bounds):
        if hi - a > size:  # a month too big for one group: pieces of its own
            if a > lo:
                groups.append(slice(lo, a))
            groups += [slice(x, min(x + size, hi)) for x in range(a, hi, size)]
            lo = hi
            continue
        if hi - lo > size:  # this month would overfill the open group: close it before
            groups.append(slice(lo, a))
            lo = a
        if hi - lo >= least:
            groups.append(slice(lo, hi))
            lo = hi
    if bounds[-1] > lo:
        groups.append(slice(lo, bounds[-1]))
    return groups or [slice(0, 0)]


TABLE_ORDER = (
    "model_metrics",
    *AGENT_TABLES,
    "errors",
    "adoptions",
    "lineage",
    "concept_distributions",
    "style_distributions",
    "concepts",
    "facts",
    "training_sources",
    "crawls",
    "z_samples",
    "interventions",
    "documents",
    "error_claims",
    "sites",
)
#: the tables :func:`write_tables` streams from the store's columns
STORE_TABLES = ("documents", "error_claims")
#: their columns whose values are (nearly) all distinct, written without the dictionary that
#: Parquet would build for each row group and then abandon (its hash tables were ~70 MB of the
#: export's memory at 10×; the files differ by a few percent, the values not at all)
_DISTINCT = frozenset({"id", "document", "synthetic_fraction", "quality"})


def tables(model: Any, *, documents: bool = True) -> dict[str, pd.DataFrame]:
    """Every result table of the run, by file stem (in the order they are written);
    ``documents=False`` leaves out the two tables read from the store (``documents``,
    ``error_claims``), which :func:`write_tables` streams."""
    frames = collected_frames(model)
    merged = {**frames, **event_tables(model), **world_tables(model), **error_tables(model)}
    if documents:
        merged.update(document_tables(model))
    return {k: merged[k] for k in TABLE_ORDER if k in merged}


def write_tables(
    model: Any,
    out_dir: Path,
    small: dict[str, pd.DataFrame] | Callable[[], dict[str, pd.DataFrame]] | None = None,
) -> list:
    """Write every table of the run to ``out_dir/<name>.parquet`` (file names returned, in
    table order). ``documents`` and ``error_claims`` go straight from the store's columns to
    Parquet in row groups of :data:`ROW_GROUP` documents and :data:`CLAIM_ROW_GROUP` claims
    (no DataFrame of the whole store), and first: ``small``, the other tables, are built only
    after them (by :func:`tables` when None, or by calling ``small``), so they are not held
    while the store streams; a dict of them already built is written as it is. Every page has
    a CRC32 checksum, which habsburg's readers verify (damage inside a table's values is named,
    not read as other numbers)."""
    release_memory()  # (what the month loop freed)
    out_dir = Path(out_dir)
    for name in STORE_TABLES:
        _stream_store_table(model.internet.store, name, out_dir / f"{name}.parquet")
    if small is None:
        small = tables(model, documents=False)
    elif callable(small):
        small = small()
    for name in TABLE_ORDER:
        if name in small and name not in STORE_TABLES:
            frame = small[name]
            path = out_dir / f"{name}.parquet"
            frame.to_parquet(
                path,
                index=False,
                use_dictionary=_dictionary_columns(frame),
                write_page_checksum=True,
            )
            release_memory()
    return [f"{name}.parquet" for name in TABLE_ORDER if name in STORE_TABLES or name in small]


#: tables from this many rows up write their numeric columns of mostly distinct values plainly
PLAIN_FROM_ROWS = 1 << 16


def _dictionary_columns(frame: pd.DataFrame) -> list[str] | bool:
    """The columns of a table written with Parquet dictionaries (``True``: all of them): all
    but, in a table of :data:`PLAIN_FROM_ROWS` rows or more, the numeric columns with more
    distinct values than half the rows. Their dictionaries are built and then abandoned, and
    cost memory: writing the baseline's 158 k ``z_samples`` (document ids and classifier
    scores) took 55 MB more with them and 22 MB without, in a file 2.7 instead of 2.3 MB."""
    n = len(frame)
    if n < PLAIN_FROM_ROWS:
        return True
    plain = {
        name
        for name in frame.columns
        if frame[name].dtype.kind in "iuf" and frame[name].nunique() > n // 2
    }
    return [name for name in frame.columns if name not in plain] if plain else True


def _arrow_batch(columns: dict[str, np.ndarray]) -> RecordBatch:
    import pyarrow as pa

    arrays = {}
    for name, values in columns.items():
        if name == "kind":
            codes = pa.array(np.asarray(values, dtype=np.int8))
            arrays[name] = pa.DictionaryArray.from_arrays(codes, pa.array(list(KIND_NAMES)))
        else:
            arrays[name] = pa.array(np.ascontiguousarray(values))
    return pa.RecordBatch.from_pydict(arrays)


def _stream_store_table(store: Any, name: str, path: Path) -> None:
    import pyarrow.parquet as pq

    if name == "documents":
        chunks = (document_columns(store, rows) for rows in month_row_groups(store))
    else:
        chunks = (
            error_claim_columns(store, claims, owners)
            for claims, owners in error_claim_chunks(store, CLAIM_ROW_GROUP)
        )
    writer = None
    try:
        for columns in chunks:
            batch = _arrow_batch(columns)
            if writer is None:
                coded = [c for c in batch.schema.names if c not in _DISTINCT]
                writer = pq.ParquetWriter(
                    path, batch.schema, use_dictionary=coded, write_page_checksum=True
                )
            writer.write_batch(batch)
    finally:
        if writer is not None:
            writer.close()
        release_memory()


def release_memory() -> None:
    """Return freed memory to the system, so the next table's buffers do not sit on top of what
    the last one (or the month loop) freed: pyarrow's pool keeps what it freed (~50 MB after a
    streamed table at 10×), and so does the C allocator, whose heap held 70-90 MB of freed
    memory at the end of a 10× month loop (:func:`trim_heap`)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim_heap()


@functools.cache
def libc_function(name: str, *argtypes: type) -> Callable[..., int] | None:
    """The C library's function *name*, taking *argtypes* and returning a C ``int``; None where
    there is no C library to load or it has no such function (``malloc_trim`` and ``mallopt``
    are glibc's: musl and macOS lack them)."""
    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = list(argtypes), ctypes.c_int
    return function


def trim_heap() -> bool:
    """Give the C allocator's free heap pages back to the system (glibc's ``malloc_trim(0)``;
    False, doing nothing, where the C library has no such call). pyarrow's system pool does
    not do it: its ``release_unused()`` left the heap as it was here (pyarrow 26)."""
    trim = libc_function("malloc_trim", ctypes.c_size_t)
    if trim is None:
        return False
    trim(0)
    return True
