"""Limits before work: project a scenario's documents and memory from its settings and refuse,
before anything runs, a run that would not fit the machine.

The projection is deliberately simple and a little generous (an upper bound rather than a
forecast): documents are the sum over months of every publishing flow at its scheduled level
(human authors, AI demand, content farms, scraper reposts); memory is documents times the
document store's bytes per document (the column types the scenario's sizes give, ragged concept
and claim columns included), times a headroom for the retrain peaks and the tables written at
the end, plus the fixed arrays whose size the world sets (every model's fact beliefs, the
communities' concept mixtures) and the interpreter. With the store's columns on disk
(``habsburg run --store-dir``) only the months crawls can reach count toward memory, and the
whole store toward the directory's free disk.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from habsburg.ecosystem.columns import ColumnTypes, expected_documents
from habsburg.ecosystem.store import DocumentStore
from habsburg.experiments.files import existing_ancestor
from habsburg.scenarios.errors import LimitError, ScenarioError
from habsburg.scenarios.schema import Scenario

if TYPE_CHECKING:
    from habsburg.scenarios.sections import AdoptionCurve

#: the largest scale factor a spec, ``--scale`` or a sweep's ``scale`` may ask for (the memory
#: check refuses far smaller ones)
MAX_SCALE = 1e6


def check_steps(scenario: Scenario, steps: int | None) -> int:
    """The months a run of ``scenario`` lasts: ``steps`` (``--steps``), checked against the
    scenario's length, or the whole scenario without it."""
    total = scenario.steps
    if steps is None:
        return total
    if steps < 1 or steps > total:
        raise ScenarioError(
            f"--steps must be between 1 and {total} for scenario {scenario.name!r} "
            f"({scenario.start}..{scenario.end}), got {steps}"
        )
    return steps


#: headroom over the store for retrain peaks, crawl arrays and the final tables (measured at
#: ``scaled(baseline, 10)``: peak 1.3x the store, 2.31 GB for 1.76 GB, with the interpreter)
OVERHEAD = 1.6
#: the interpreter, numpy, pandas and Mesa before any document
BASE_BYTES = 400 * 2**20
#: bytes per document of the Parquet results (measured: 19-20 B per document at 1x-100x)
RESULT_BYTES = 24
#: share of the machine's available memory a run may be projected to use
MEMORY_SHARE = 0.8
#: share of a store directory's free disk the store columns (and tables) may be projected to use
DISK_SHARE = 0.9


@dataclass(frozen=True)
class Projection:
    documents: int
    memory_bytes: int
    #: (setting path, projected documents it causes) largest first
    contributors: list[tuple[str, float]]
    #: the document store's bytes (in memory, or on disk with ``on_disk``)
    store_bytes: int = 0


def store_bytes_per_document(scenario: Scenario, repost_share: float | None = None) -> float:
    """Bytes one document takes in the store at the scenario's mean lengths: the store's own
    columns (:meth:`DocumentStore.row_bytes`) in the types the scenario's sizes give (the wide
    types for sizes the narrow ones cannot hold: the store refuses those itself, naming the
    setting), reposts' originals spread over all documents (``repost_share``: the share of
    documents that are reposts; by default projected from the scenario's flows)."""
    try:
        types = ColumnTypes.for_scenario(scenario, expected_documents(scenario))
    except ScenarioError:
        types = ColumnTypes()
    from habsburg.ecosystem.registry import ErrorRegistry

    w = scenario.world
    store = DocumentStore(w.style_dim, capacity=1, types=types)
    store.derive_errors_from(ErrorRegistry(1, w.values_per_fact, np.zeros(1, np.int32)))
    fixed, concept, claim, repost = store.row_bytes()  # (a run's store derives error ids)
    if repost_share is None:
        repost_share = _repost_share(_flows(scenario, scenario.steps))
    h = scenario.humans
    tokens = max(h.tokens_mean, scenario.demand.tokens_mean)
    ragged = tokens / h.tokens_per_concept * concept + h.facts_per_doc * claim
    return fixed + ragged + repost_share * repost


def _curve_total(scenario: Scenario, curve: AdoptionCurve, steps: int) -> float:
    """Sum over ``steps`` months of a logistic adoption curve (the same formula the agents use:
    ``ceiling / (1 + exp(-rate·(months since start − midpoint)))``, zero before ``start``)."""
    months = np.arange(steps) - scenario.month_to_step(curve.start)
    with np.errstate(over="ignore"):
        level = curve.ceiling / (1.0 + np.exp(-curve.rate * (months - curve.midpoint)))
    return float(level[months >= 0].sum())


def _flows(scenario: Scenario, n: int) -> list[tuple[str, float]]:
    """(setting path, projected documents over ``n`` months) of every publishing flow."""
    h = scenario.humans
    flows: list[tuple[str, float]] = [
        ("humans.authors", h.authors * h.docs_per_month * n),
        ("demand.adoption.ceiling", _curve_total(scenario, scenario.demand.adoption, n)),
    ]
    for farm in scenario.farms:
        flows.append((f"farms.{farm.name}.output.ceiling", _curve_total(scenario, farm.output, n)))
    for scraper in scenario.scrapers:
        flows.append(
            (
                f"scrapers.{scraper.name}.docs_per_crawl",
                scraper.docs_per_crawl * scraper.repost_share * n,
            )
        )
    return flows


def _repost_share(flows: list[tuple[str, float]]) -> float:
    """The share of projected documents that are scrapers' reposts."""
    documents = sum(v for _, v in flows)
    reposts = sum(v for k, v in flows if k.startswith("scrapers."))
    return reposts / documents if documents > 0 else 0.0


def project(scenario: Scenario, steps: int | None = None, *, on_disk: bool = False) -> Projection:
    """Projected documents and peak memory of ``steps`` months (default all) of ``scenario``;
    ``on_disk``: with the store's columns in files, only the months crawls reach in memory."""
    n = scenario.steps if steps is None else steps
    flows = _flows(scenario, n)
    documents = sum(v for _, v in flows)
    store = documents * store_bytes_per_document(scenario, _repost_share(flows))
    resident = store
    if on_disk and n > 0:
        window = max((s.window_months for s in scenario.scrapers), default=1) + 2
        resident = store * min(1.0, window / n)
    w = scenario.world
    fixed = 8 * (
        3 * len(scenario.models) * w.facts * w.values_per_fact
        + (w.communities + 4 * len(scenario.models) + 4) * w.concepts
    )
    memory = resident * OVERHEAD + fixed + BASE_BYTES
    return Projection(
        int(documents),
        int(memory),
        sorted(flows, key=lambda kv: kv[1], reverse=True),
        int(store),
    )


#: most combinations :func:`worst_corner` projects (2^10: ten settings at two ends each)
CORNERS = 1024


def worst_corner(
    ends: Mapping[str, Sequence[Any]],
    make: Callable[[dict[str, Any]], Scenario],
    steps: int | None = None,
) -> tuple[Scenario, dict[str, Any]]:
    """The settings, among the combinations of the values ``ends`` gives each setting path
    (a range's two ends, a list's choices), whose scenario ``make(settings)`` is projected to
    need the most memory over ``steps`` months, and that scenario. Only the paths that move the
    projection are combined (each tried at its other values with the rest at their last);
    every combination when there are at most :data:`CORNERS`, else the largest of those tries."""
    last = {path: values[-1] for path, values in ends.items()}

    def memory(settings: dict[str, Any]) -> int:
        return project(make(settings), steps).memory_bytes

    top = memory(last)
    moves = {
        path: [v for v in values if memory({**last, path: v}) != top]
        for path, values in ends.items()
    }
    moving = {path: [*others, last[path]] for path, others in moves.items() if others}
    if math.prod(len(v) for v in moving.values()) <= CORNERS:
        tries = [
            {**last, **dict(zip(moving, combo, strict=True))}
            for combo in itertools.product(*moving.values())
        ]
    else:
        tries = [last] + [{**last, path: v} for path, values in moving.items() for v in values]
    worst = max(tries, key=memory)
    return make(worst), worst


def available_memory() -> int | None:
    """Bytes of memory available to a new run (``MemAvailable``; else physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gib(n: float) -> str:
    """Bytes as GiB with one decimal, as the limits' messages write them."""
    return f"{n / 2**30:.1f} GiB"


def memory_shortfall(p: Projection, runs: int = 1, available: int | None = None) -> float | None:
    """The memory this machine can give ``runs`` runs projected as ``p`` (a share
    :data:`MEMORY_SHARE` of ``available`` bytes, measured when None) if they need more, else
    None (they fit, or the machine's memory is unknown)."""
    limit = available if available is not None else available_memory()
    if limit is None or p.memory_bytes * runs <= MEMORY_SHARE * limit:
        return None
    return MEMORY_SHARE * limit


def disk_shortfall(
    p: Projection,
    store_dir: str | Path,
    runs: int = 1,
    *,
    results: bool = True,
    free_disk: int | None = None,
) -> float | None:
    """The free disk ``runs`` runs projected as ``p`` may use in ``store_dir`` (a share
    :data:`DISK_SHARE` of ``free_disk`` bytes, measured when None) if their store columns, and
    their result tables unless ``results`` is False, need more, else None."""
    # (a --store-dir still to be made: the disk of the directory it will be made in)
    free = (
        free_disk if free_disk is not None else shutil.disk_usage(existing_ancestor(store_dir)).free
    )
    tables = p.documents * RESULT_BYTES if results else 0
    return DISK_SHARE * free if (p.store_bytes + tables) * runs > DISK_SHARE * free else None


def _or(shorten: str | None) -> str:
    return "" if shorten is None else f" or {shorten}"


def check_limits(
    scenario: Scenario,
    steps: int | None = None,
    *,
    force: bool = False,
    available: int | None = None,
    runs: int = 1,
    store_dir: str | Path | None = None,
    free_disk: int | None = None,
    results: bool = True,
    shorten: str | None = "--steps",
) -> Projection:
    """Refuse (:class:`LimitError`) a run projected to need more memory than the machine has
    available, naming the estimate and the settings to lower; ``force`` skips the refusal.
    ``runs`` is how many such runs share the machine at once (parallel workers). With
    ``store_dir`` (the store's columns in files there) memory counts only the months crawls
    reach, and the whole store of every run at once must fit the directory's free disk
    (``free_disk``: measured when None), with the result tables too unless ``results`` is
    False (a study that keeps only the final values writes none). ``shorten`` is what the
    command's user sets to simulate fewer months (named in the refusal; None: nothing)."""
    p = project(scenario, steps, on_disk=store_dir is not None)
    if store_dir is not None and not force:
        tables = p.documents * RESULT_BYTES if results else 0
        room = disk_shortfall(p, store_dir, runs, results=results, free_disk=free_disk)
        if room is not None:
            raise LimitError(
                f"scenario {scenario.name!r} is projected to publish ~{p.documents:,} documents: "
                f"~{gib(p.store_bytes * runs)} of store columns in --store-dir {str(store_dir)!r}"
                + (f" and ~{gib(tables * runs)} of results" if results else "")
                + (f" ({runs} runs at once)" if runs > 1 else "")
                + f", more than the {gib(room)} free there; choose a directory on a "
                f"larger disk, lower the scenario's sizes{_or(shorten)}, or pass --force to try "
                "anyway"
            )
    can = None if force else memory_shortfall(p, runs, available)
    if can is None:
        return p
    top = ", ".join(f"{k} (~{v:,.0f} documents)" for k, v in p.contributors[:2] if v > 0)
    w = scenario.world
    world = (
        f"world.facts x world.values_per_fact ({w.facts:,} x {w.values_per_fact}) "
        if 8 * 3 * len(scenario.models) * w.facts * w.values_per_fact > p.memory_bytes / 2
        else ""
    )
    raise LimitError(
        f"scenario {scenario.name!r} is projected to publish ~{p.documents:,} documents and need "
        f"~{gib(p.memory_bytes * runs)} of memory"
        + (f" ({runs} runs at once)" if runs > 1 else "")
        + f", more than the {gib(can)} this machine can give it; lower "
        + (world or top or "the scenario's sizes")
        + _or(shorten)
        + (
            ", keep the store on disk with --store-dir DIR"
            if store_dir is None and not world
            else ""
        )
        + (", run fewer at once (--workers)" if runs > 1 else "")
        + ", or pass --force to try anyway"
    )
