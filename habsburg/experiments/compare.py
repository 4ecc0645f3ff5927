"""Paired what-if comparisons: a sweep over scenarios, every scenario on the same seeds.

Run ``r`` of every scenario runs on replicate seed ``r`` of the base scenario's seed
(:func:`~habsburg.experiments.seeds.replicate_seeds`, the sweeps' scheme), so differences can be
paired by seed, which removes the seed-to-seed variation the scenarios share. The runs are a
sweep plan (:func:`~habsburg.experiments.sweep.plan_scenarios`) executed like any sweep:
serially, on a local Dask cluster or on a running scheduler.

This module only runs the comparison and returns its tables; the paired differences are
:func:`habsburg.analysis.compare.paired_differences` and the report
:func:`habsburg.reports.compare.write_comparison` (``habsburg compare`` composes the three).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd

from habsburg.experiments.outcomes import OUTCOMES, SCALARS, SERIES, run_outcomes
from habsburg.experiments.run import check_steps
from habsburg.experiments.sweep import (
    RunOutput,
    SweepPlan,
    plan_scenarios,
    run_plan,
)
from habsburg.scenarios.errors import UserError
from habsburg.scenarios.schema import Scenario

__all__ = [
    "SCALARS",
    "SERIES",
    "Comparison",
    "check_comparison",
    "compare",
    "comparison_plan",
    "cut_short",
    "labels",
    "run_outcomes",
]


@dataclass
class Comparison:
    """A finished comparison: one row per run (``scenario``, ``seed``, every scalar outcome)
    and one row per run and month (the outcome series, ``scenario``, ``seed``)."""

    base: str
    scenarios: list[str]
    seeds: list[int]
    steps: int
    runs: pd.DataFrame
    series: pd.DataFrame
    #: the first and last month every run simulated (YYYY-MM)
    months: tuple[str, str] = ("", "")
    #: outcome name -> meaning, for the report
    descriptions: dict[str, str] = field(default_factory=dict)


def labels(scenarios: list) -> list[str]:
    """Scenario names (of any scenarios with a ``name``: abstract or text mode), made unique
    (``name``, ``name-2``, ...) when two share a name."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for sc in scenarios:
        seen[sc.name] = seen.get(sc.name, 0) + 1
        out.append(sc.name if seen[sc.name] == 1 else f"{sc.name}-{seen[sc.name]}")
    return out


def check_comparison(
    base: Scenario, alternatives: list[Scenario], seeds: int, steps: int | None
) -> int:
    """Validate a comparison before any run starts; returns the months every run simulates."""
    if not alternatives:
        raise UserError("compare needs a base scenario and at least one alternative")
    if seeds < 1:
        raise UserError(
            f"--seeds must be at least 1 (2 or more for confidence intervals), got {seeds}"
        )
    everyone = [base, *alternatives]
    for sc in everyone:
        check_steps(sc, steps)
    other = [sc for sc in alternatives if sc.start != base.start]
    if other:  # month N of each run would be another calendar month
        raise UserError(
            f"{other[0].name!r} starts in {other[0].start} and the base {base.name!r} in "
            f"{base.start}: a paired comparison reads every scenario at the same month of "
            "its run, so they must start in the same month"
        )
    return steps if steps is not None else min(sc.steps for sc in everyone)


def cut_short(base: Scenario, alternatives: list[Scenario], steps: int) -> list[str]:
    """One line for each scenario a comparison of ``steps`` months ends before its own last
    month (the default is the shortest scenario's length), for the user to read."""
    last = base.step_to_month(steps - 1)
    return [
        f"{sc.name} runs to {last}, not to its end ({sc.end}): every scenario is read at the "
        "same month (--steps chooses it)"
        for sc in (base, *alternatives)
        if sc.steps > steps
    ]


def comparison_plan(
    base: Scenario,
    alternatives: list[Scenario],
    seeds: int = 5,
    steps: int | None = None,
    posterior: Sequence[Mapping[str, Any]] | None = None,
    *,
    seed: int | None = None,
) -> SweepPlan:
    """The sweep over scenarios a comparison runs (every check first). With ``posterior`` (one
    settings dict per seed, e.g. :func:`habsburg.experiments.bands.draw_settings`), replicate
    ``r`` of every scenario runs on posterior draw ``r``'s settings and replicate seed ``r``, so
    the paired differences carry calibration uncertainty, not only seed noise. The replicate
    seeds derive from ``seed`` (default: ``base``'s)."""
    n_steps = check_comparison(base, alternatives, seeds, steps)
    everyone = [base, *alternatives]
    return plan_scenarios(
        "compare",
        dict(zip(labels(everyone), everyone, strict=True)),
        seeds=seeds,
        seed=seed,
        outcomes=(*SCALARS, *SERIES),
        steps=n_steps,
        replicate_settings=posterior,
    )


def _tables(plan: SweepPlan, outputs: list[RunOutput]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs and series in plan order; a failed run stops the comparison (pairs need it)."""
    order = {t.run_id: i for i, t in enumerate(plan.tasks)}
    outputs = sorted(outputs, key=lambda o: order[o.task.run_id])
    for out in outputs:
        if out.error is not None:
            raise RuntimeError(
                f"compare: the run of {out.task.scenario!r} on seed {out.task.seed} failed: "
                f"{out.error}\n{out.traceback}"
            )
    runs = pd.DataFrame(
        [{"scenario": o.task.scenario, "seed": o.task.seed, **o.scalars} for o in outputs]
    )
    # the plan asks for the series outcomes, so every finished run has them
    series = pd.concat(
        [
            cast("pd.DataFrame", o.series).assign(scenario=o.task.scenario, seed=o.task.seed)
            for o in outputs
        ],
        ignore_index=True,
    )
    return runs, series


def compare(
    base: Scenario,
    alternatives: list[Scenario],
    *,
    seeds: int = 5,
    seed: int | None = None,
    steps: int | None = None,
    progress: bool = True,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    posterior: Sequence[Mapping[str, Any]] | None = None,
    store_dir: str | Path | None = None,
) -> Comparison:
    """Run ``base`` and each alternative on ``seeds`` replicate seeds (derived from ``seed``,
    default ``base``'s) for ``steps`` months (default: the shortest scenario) and return the
    runs' outcomes.

    Serial in this process by default; on the Dask ``client``, the scheduler at ``scheduler``
    or a new local cluster of ``workers`` processes when given (the same numbers either way).
    With ``posterior`` settings (one per seed), replicate ``r`` of every scenario applies
    ``posterior[r]`` (:func:`comparison_plan`). With ``store_dir`` each run keeps its store in
    files there (for runs larger than memory; the same numbers).
    """
    plan = comparison_plan(base, alternatives, seeds, steps, posterior, seed=seed)
    outputs = run_plan(
        plan,
        progress=progress,
        client=client,
        scheduler=scheduler,
        workers=workers,
        store_dir=store_dir,
    )
    runs, series = _tables(plan, outputs)
    names = list(plan.scenarios)
    assert plan.steps is not None  # comparison_plan always sets the months
    return Comparison(
        base=names[0],
        scenarios=names,
        seeds=[t.seed for t in plan.tasks if t.point == 0],
        steps=plan.steps,
        runs=runs,
        series=series,
        months=(base.start, base.step_to_month(plan.steps - 1)),
        descriptions={n: OUTCOMES[n].description for n in plan.outcomes},
    )
