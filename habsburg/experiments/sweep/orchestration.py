"""Running a plan: every check first, then the runs on an executor, each result handed to a
callback as it arrives (a sweep stores it in its directory; a comparison keeps it in memory).

Running, storing and analysing know nothing of each other's insides: :func:`run_tasks` drives
an executor and a progress bar, :func:`run_sweep` adds the sweep directory
(:mod:`~habsburg.experiments.sweep.storage`), :func:`point_summary` reads its table.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from habsburg.experiments.files import stop_if_interrupted
from habsburg.experiments.options import check_executor_options
from habsburg.experiments.outcomes import OUTCOMES, SCALAR
from habsburg.experiments.run import store_scratch
from habsburg.experiments.sweep.executors import (
    Executor,
    RunOutput,
    open_executor,
)
from habsburg.experiments.sweep.plan import RunTask, SweepPlan
from habsburg.experiments.sweep.storage import (
    check_output,
    load_failures,
    load_results,
    write_manifest,
    write_run_output,
    write_summary,
)
from habsburg.experiments.versions import result_versions, version_changes


def run_tasks(
    plan: SweepPlan,
    tasks: list[RunTask],
    executor: Executor,
    on_output: Callable[[RunOutput], None],
    *,
    progress: bool = True,
    done: int = 0,
) -> tuple[int, int]:
    """Run ``tasks`` on ``executor``, calling ``on_output`` for each result as it arrives;
    returns ``(ran, failed)``. ``done`` runs already finished start the progress bar."""
    ran = failed = 0
    with tqdm(
        total=done + len(tasks),
        initial=done,
        desc=plan.name,
        unit="run",
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        for ran_as in executor.outputs(plan, tasks) if tasks else ():
            output = from_this_environment(ran_as)
            on_output(output)
            ran += 1
            if output.error is not None:
                failed += 1
                bar.set_postfix_str(f"{failed} failed", refresh=False)
            bar.update(1)
            stop_if_interrupted()  # (a Ctrl-C lost in a finalizer, once this run is kept)
    return ran, failed


def from_this_environment(output: RunOutput) -> RunOutput:
    """``output``, or a failed run if the process that ran it had other versions of the packages
    a run's numbers depend on, or other model code, than this one
    (:func:`~habsburg.experiments.versions.version_changes`): a Dask worker started from another
    environment or checkout. Its outcomes would not be this environment's for its seed, and the
    results record this environment's versions, so they are not kept."""
    changes = version_changes(output.versions, here=result_versions())
    if not changes:
        return output
    return replace(
        output,
        scalars={},
        series=None,
        error=(
            f"ran on a worker with {', '.join(changes)}: a seed gives the same run only with the "
            "same versions, so its outcomes are not kept; start the workers from this environment"
        ),
        traceback=None,
    )


@contextlib.contextmanager
def running(
    plan: SweepPlan, store_dir: str | Path | None, **executor: Any
) -> Iterator[tuple[SweepPlan, Executor]]:
    """``plan`` as its runs execute, and the executor the ``executor`` options ask for
    (:func:`open_executor`). With ``store_dir``, each run's store is in files in a directory of
    its own inside a directory of this plan's there, removed when the plan is done, however it
    ends (:func:`~habsburg.experiments.run.store_scratch`)."""
    with (
        store_scratch(store_dir) as scratch,
        open_executor(file_stores=store_dir is not None, **executor) as opened,
    ):
        yield (plan if scratch is None else replace(plan, store_dir=str(scratch))), opened


def run_plan(
    plan: SweepPlan,
    *,
    progress: bool = False,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    store_dir: str | Path | None = None,
) -> list[RunOutput]:
    """Every run of ``plan``, serially in this process unless a Dask ``client``, ``scheduler``
    or ``workers`` is given (the same numbers either way); outputs in completion order. With
    ``store_dir`` each run's store is kept in files there (:func:`running`)."""
    serial = client is None and scheduler is None and workers is None
    check_executor_options(scheduler=scheduler, workers=workers, serial=serial, client=client)
    outputs: list[RunOutput] = []
    executor = {"client": client, "scheduler": scheduler, "workers": workers, "serial": serial}
    with running(plan, store_dir, **executor) as (runs, opened):
        run_tasks(runs, runs.tasks, opened, outputs.append, progress=progress)
    return outputs


@dataclass
class SweepResult:
    """What a sweep did: its directory, how many runs it ran / skipped / lost to errors."""

    out_dir: Path
    plan: SweepPlan
    ran: int
    skipped: int
    failed: int
    seconds: float

    @property
    def results(self) -> pd.DataFrame:
        return load_results(self.out_dir)

    @property
    def failures(self) -> pd.DataFrame:
        return load_failures(self.out_dir)


def run_sweep(
    plan: SweepPlan,
    out: str | Path,
    *,
    executor: Executor | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    resume: bool = False,
    progress: bool = True,
    retries: int = 1,
    connect_timeout: float = 10.0,
    store_dir: str | Path | None = None,
) -> SweepResult:
    """Run a sweep plan into ``out`` and return what it did.

    Runs go to ``executor`` when given, else to ``client`` (a ``distributed.Client``), else to
    the scheduler at ``scheduler``, else to a new LocalCluster of ``workers`` processes
    (default: one per core); ``serial=True`` runs them one by one in this process (same
    results). Finished runs are skipped when ``resume`` is true. A run that raises is written to
    ``errors/`` and the sweep goes on; a worker that dies mid-run has its run rescheduled by
    Dask. Every check (options, output directory, scheduler connection) happens before the
    first run starts. With ``store_dir`` (an existing directory this machine's workers can
    write) each run keeps its store's columns in files there, in a directory of this sweep's
    that is removed when the sweep ends, however it ends (the results are the same).
    """
    out_dir = Path(out)
    if executor is None:
        check_executor_options(scheduler=scheduler, workers=workers, serial=serial, client=client)
    done = check_output(plan, out_dir, resume)
    pending = [t for t in plan.tasks if t.run_id not in done]
    started = time.perf_counter()
    with running(
        plan,
        store_dir,
        client=client,
        scheduler=scheduler,
        workers=workers,
        serial=serial,
        retries=retries,
        timeout=connect_timeout,
        needed=bool(pending) and executor is None,
    ) as (runs, opened):
        write_manifest(plan, out_dir)
        ran, failed = run_tasks(
            runs,
            pending,
            executor or opened,
            lambda output: write_run_output(plan, out_dir, output),
            progress=progress,
            done=len(done),
        )
    seconds = time.perf_counter() - started
    write_summary(plan, out_dir, seconds)
    return SweepResult(out_dir, plan, ran, len(done), failed, seconds)


def point_summary(results: pd.DataFrame, plan: SweepPlan) -> pd.DataFrame:
    """Mean of each scalar outcome over seeds, per parameter point: ``runs`` counts the point's
    runs, and an outcome that is NaN in some runs (a model outcome of a run that ends before
    any launch) is followed by ``OUTCOME runs``, how many its mean is over."""
    scalars = [o for o in plan.outcomes if OUTCOMES[o].kind == SCALAR]
    if not len(results) or not scalars:
        return pd.DataFrame()
    results = results.copy()
    for path in plan.parameters:  # list-valued settings (e.g. a model's scrapers) as text
        if results[path].map(lambda v: isinstance(v, list | tuple | np.ndarray)).any():
            results[path] = results[path].map(lambda v: str(list(v)))
    grouped = results.groupby(["point", *plan.parameters], sort=True, dropna=False)
    table = grouped[scalars].mean()
    for name in [o for o in scalars if results[o].isna().any()]:
        table.insert(table.columns.get_loc(name) + 1, f"{name} runs", grouped[name].count())
    table.insert(0, "runs", grouped.size())
    return table.reset_index().drop(columns="point")
