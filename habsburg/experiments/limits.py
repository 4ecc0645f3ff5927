"""Limits before work: project a scenario's documents and memory from its settings and refuse,
before anything runs, a run that would not fit the machine.

The projection is deliberately simple and a little generous (an upper bound rather than a
forecast): documents are the sum over months of every publishing flow at its scheduled level
(human authors, AI demand, content farms, scraper reposts); memory is documents times the
document store's bytes per document (ragged concept and claim columns included, doubled for the
store's growth by doubling and the tables written at the end) plus the fixed arrays whose size
the world sets (every model's fact beliefs, the communities' concept mixtures).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from habsburg.scenarios.errors import LimitError
from habsburg.scenarios.schema import Scenario

#: bytes of the fixed-width columns of one document (ids, step, site, producer, provenance,
#: tokens, green count, quality, offsets: measured from DocumentStore.nbytes on the tiny scenario)
FIXED_BYTES = 64
#: headroom for the store's capacity doubling, crawl arrays and the final tables
OVERHEAD = 3.0
#: share of the machine's available memory a run may be projected to use
MEMORY_SHARE = 0.8


@dataclass(frozen=True)
class Projection:
    documents: int
    memory_bytes: int
    #: (setting path, projected documents it causes) largest first
    contributors: list[tuple[str, float]]


def _curve_total(scenario: Scenario, curve, steps: int) -> float:
    """Sum over ``steps`` months of a logistic adoption curve (the same formula the agents use:
    ``ceiling / (1 + exp(-rate·(months since start − midpoint)))``, zero before ``start``)."""
    months = np.arange(steps) - scenario.month_to_step(curve.start)
    with np.errstate(over="ignore"):
        level = curve.ceiling / (1.0 + np.exp(-curve.rate * (months - curve.midpoint)))
    return float(level[months >= 0].sum())


def project(scenario: Scenario, steps: int | None = None) -> Projection:
    """Projected documents and peak memory of ``steps`` months (default all) of ``scenario``."""
    n = scenario.steps if steps is None else steps
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
    documents = sum(v for _, v in flows)
    tokens = max(h.tokens_mean, scenario.demand.tokens_mean)
    concepts_per_doc = tokens / h.tokens_per_concept
    per_doc = (
        FIXED_BYTES + 4 * concepts_per_doc + 16 * h.facts_per_doc + 8 * scenario.world.style_dim
    )
    w = scenario.world
    fixed = 8 * (
        3 * len(scenario.models) * w.facts * w.values_per_fact
        + (w.communities + 4 * len(scenario.models) + 4) * w.concepts
    )
    memory = documents * per_doc * OVERHEAD + fixed
    return Projection(
        int(documents), int(memory), sorted(flows, key=lambda kv: kv[1], reverse=True)
    )


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


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_limits(
    scenario: Scenario,
    steps: int | None = None,
    *,
    force: bool = False,
    available: int | None = None,
    runs: int = 1,
) -> Projection:
    """Refuse (:class:`LimitError`) a run projected to need more memory than the machine has
    available, naming the estimate and the settings to lower; ``force`` skips the refusal.
    ``runs`` is how many such runs share the machine at once (parallel workers)."""
    p = project(scenario, steps)
    limit = available if available is not None else available_memory()
    if force or limit is None or p.memory_bytes * runs <= MEMORY_SHARE * limit:
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
        f"~{_gib(p.memory_bytes * runs)} of memory"
        + (f" ({runs} runs at once)" if runs > 1 else "")
        + f", more than the {_gib(MEMORY_SHARE * limit)} this machine can give it; lower "
        + (world or top or "the scenario's sizes")
        + " or --steps, or pass --force to try anyway"
    )
