"""Paired what-if comparisons: a sweep over scenarios, every scenario on the same seeds.

Run ``r`` of every scenario runs on replicate seed ``r`` of the base scenario's seed
(:func:`~habsburg.experiments.seeds.replicate_seeds`, the sweeps' scheme), so differences can be
paired by seed, which removes the seed-to-seed variation the scenarios share. The runs are a
sweep plan (:func:`~habsburg.experiments.sweep.plan_scenarios`) executed like any sweep:
serially, on a local Dask cluster or on a running scheduler.

Each run is written to a sweep directory as it finishes (:func:`~habsburg.experiments.sweep.
run_sweep`), and the comparison's tables are read from it: a temporary one by default, or the
directory ``keep`` names, which ``habsburg compare`` puts inside its results directory
(:data:`KEPT_RUNS`), so an interrupted comparison resumes from its finished runs
(``resume=True``, checked against the plan before any run: :func:`check_kept_runs`).

This module only runs the comparison and returns its tables; the paired differences are
:func:`habsburg.analysis.compare.paired_differences` and the report
:func:`habsburg.reports.compare.write_comparison` (``habsburg compare`` composes the three).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from habsburg.experiments import files
from habsburg.experiments.options import check_comparison
from habsburg.experiments.outcomes import OUTCOMES, SCALAR, SCALARS, SERIES, run_outcomes
from habsburg.experiments.sweep import (
    MANIFEST,
    SweepError,
    SweepPlan,
    finished_runs,
    load_failures,
    load_results,
    plan_scenarios,
    run_sweep,
)
from habsburg.experiments.sweep.storage import (
    SUBDIRS,
    check_run_files,
    check_versions,
    read_resume_record,
    records_series,
    what_differs,
)
from habsburg.scenarios.errors import UserError
from habsburg.scenarios.schema import Scenario

__all__ = [
    "KEPT_RUNS",
    "SCALARS",
    "SERIES",
    "Comparison",
    "check_comparison",
    "check_kept_runs",
    "compare",
    "comparison_plan",
    "cut_short",
    "discard_kept_runs",
    "labels",
    "run_outcomes",
]

#: where ``habsburg compare`` keeps the finished runs inside its results directory until the
#: comparison is written (a sweep directory; a ``.habsburg-`` name marks it habsburg's own)
KEPT_RUNS = files.KEPT_RUNS["compare"]
#: the columns a kept run's files add to identify it (besides ``scenario`` and ``seed``)
_IDENTITY = ("run_id", "point", "replicate")


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
    #: by scenario, the settings each replicate ran with beside the scenario's own (posterior
    #: draws; empty dicts without them)
    settings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


#: posterior settings for a comparison: one dict per seed for every scenario, or one such list
#: per scenario (the base first)
Posterior = Sequence[Mapping[str, Any]] | Sequence[Sequence[Mapping[str, Any]]]


def labels(scenarios: list) -> list[str]:
    """Scenario names (of any scenarios with a ``name``: abstract or text mode), made unique
    (``name``, ``name-2``, ...) when two share a name."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for sc in scenarios:
        seen[sc.name] = seen.get(sc.name, 0) + 1
        out.append(sc.name if seen[sc.name] == 1 else f"{sc.name}-{seen[sc.name]}")
    return out


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
    posterior: Posterior | None = None,
    *,
    seed: int | None = None,
) -> SweepPlan:
    """The sweep over scenarios a comparison runs (every check first). With ``posterior`` (one
    settings dict per seed, e.g. :func:`habsburg.experiments.bands.draw_settings`), replicate
    ``r`` of every scenario runs on posterior draw ``r``'s settings and replicate seed ``r``, so
    the paired differences carry calibration uncertainty, not only seed noise; a list of such
    lists, one per scenario (``base`` first), gives each its own (the draws without the fitted
    settings a scenario sets itself: :func:`habsburg.experiments.bands.own_settings`). The
    replicate seeds derive from ``seed`` (default: ``base``'s)."""
    n_steps = check_comparison(base, alternatives, seeds, steps)
    everyone = [base, *alternatives]
    names = labels(everyone)
    replicate: Any = posterior
    if posterior and not isinstance(posterior[0], Mapping):  # one list per scenario
        if len(posterior) != len(everyone):
            raise SweepError(
                f"compare: {len(posterior)} lists of posterior settings for {len(everyone)} "
                "scenarios"
            )
        replicate = dict(zip(names, posterior, strict=True))
    return plan_scenarios(
        "compare",
        dict(zip(names, everyone, strict=True)),
        seeds=seeds,
        seed=seed,
        outcomes=(*SCALARS, *SERIES),
        steps=n_steps,
        replicate_settings=replicate,
    )


def check_kept_runs(plan: SweepPlan, kept: str | Path, resume: bool) -> int:
    """Check, before any run, the finished runs an interrupted comparison kept in ``kept``;
    returns how many of ``plan``'s runs are finished there (0: none kept).

    Refused (:class:`UserError`, naming the directory): kept runs without ``resume`` (the
    comparison would start over beside them), and kept runs of another comparison (other
    scenarios, seeds, months, scale or posterior draws) with it. Nothing is deleted: a user who
    wants to start over deletes ``kept``."""
    kept = Path(kept)
    manifest = kept / MANIFEST
    if not manifest.is_file():
        if kept.is_dir():  # a comparison interrupted while it created the directory
            for sub in SUBDIRS:
                with contextlib.suppress(OSError):  # (only when empty)
                    (kept / sub).rmdir()
            with contextlib.suppress(OSError):
                kept.rmdir()
        if kept.exists():
            raise UserError(
                f"{str(kept)!r} is not a comparison's kept runs (it has no {MANIFEST}); habsburg "
                "will not write into it: move it or choose another --out"
            )
        return 0
    done = finished_runs(kept) & {t.run_id for t in plan.tasks}
    finished = len(done)
    if not resume:
        raise UserError(
            f"{str(kept)!r} holds {finished} finished run{'' if finished == 1 else 's'} of an "
            "interrupted comparison: pass "
            "--resume to finish it, or delete that directory to start over"
        )
    record = read_resume_record(
        manifest,
        what="record of the kept runs",
        matched_to="this comparison",
        remedy=f"delete {str(kept)!r} to start over",
    )
    if record.get("fingerprint") != plan.fingerprint:
        differ = what_differs(
            record, plan, "its scenarios, seeds, months, scale or posterior draws differ"
        )
        raise UserError(
            f"--resume: the runs kept in {str(kept)!r} are of another comparison ({differ}): run "
            "that comparison with --resume, or delete that directory to start over"
        )
    check_versions(record, f"the comparison whose runs are kept in {str(kept)!r}")
    check_run_files(kept, done, records_series(plan))
    return finished


def discard_kept_runs(kept: str | Path) -> None:
    """Remove a finished comparison's kept runs (habsburg's own files: its tables now hold
    them); a directory that is not a comparison's kept runs is left alone."""
    kept = Path(kept)
    if (kept / MANIFEST).is_file():
        shutil.rmtree(kept)


def _tables(
    plan: SweepPlan, directory: Path, kept: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs and series of the finished runs in ``directory``, in plan order (within a run, in
    month order); a failed run stops the comparison (pairs need it)."""
    failures = load_failures(directory)
    if len(failures):
        first = failures.iloc[0]
        again = (
            f"\nthe finished runs are kept in {directory}: --resume runs the failed ones again"
            if kept
            else ""
        )
        raise RuntimeError(
            f"compare: the run of {first['scenario']!r} on seed {first['seed']} failed: "
            f"{first['error']}\n{first['traceback']}{again}"
        )
    order = {t.run_id: i for i, t in enumerate(plan.tasks)}

    def in_plan_order(frame: pd.DataFrame) -> pd.DataFrame:
        rank = frame["run_id"].map(order)
        frame = frame[rank.notna()]  # (a kept run's files are the plan's; checked on resume)
        frame = frame.iloc[rank[rank.notna()].argsort(kind="stable")]
        return frame.drop(columns=list(_IDENTITY)).reset_index(drop=True)

    scalars = [n for n in plan.outcomes if OUTCOMES[n].kind == SCALAR]
    runs = in_plan_order(load_results(directory))[["scenario", "seed", *scalars]]
    # the plan asks for the series outcomes, so every finished run has them
    series = in_plan_order(load_results(directory, "series"))
    series = series[[*series.columns.drop(["scenario", "seed"]), "scenario", "seed"]]
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
    posterior: Posterior | None = None,
    store_dir: str | Path | None = None,
    keep: str | Path | None = None,
    resume: bool = False,
) -> Comparison:
    """Run ``base`` and each alternative on ``seeds`` replicate seeds (derived from ``seed``,
    default ``base``'s) for ``steps`` months (default: the shortest scenario) and return the
    runs' outcomes.

    Serial in this process by default; on the Dask ``client``, the scheduler at ``scheduler``
    or a new local cluster of ``workers`` processes when given (the same numbers either way).
    With ``posterior`` settings (one per seed, or one such list per scenario), replicate ``r``
    of every scenario applies ``posterior[r]`` (its own: :func:`comparison_plan`). With
    ``store_dir`` each run keeps its store in files there (for runs larger than memory; the
    same numbers).

    Each run is written as it finishes into ``keep`` (a sweep directory, created if missing;
    by default a temporary one) and the tables are read from there; with ``resume`` the runs
    already finished in ``keep`` are not run again (:func:`check_kept_runs` first: the same
    numbers as an uninterrupted comparison). ``keep`` stays when the comparison ends; remove it
    with :func:`discard_kept_runs` once its tables are written.
    """
    plan = comparison_plan(base, alternatives, seeds, steps, posterior, seed=seed)
    with contextlib.ExitStack() as stack:
        if keep is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="habsburg-")))
        else:
            directory = Path(keep)
            check_kept_runs(plan, directory, resume)
        run_sweep(
            plan,
            directory,
            client=client,
            scheduler=scheduler,
            workers=workers,
            serial=client is None and scheduler is None and workers is None,
            resume=True,  # (checked above: the kept runs are this plan's)
            progress=progress,
            store_dir=store_dir,
        )
        runs, series = _tables(plan, directory, kept=keep is not None)
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
        settings={
            name: [dict(t.settings) for t in plan.tasks if t.scenario == name] for name in names
        },
    )
