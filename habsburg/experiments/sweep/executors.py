"""Executors: where the runs of a plan execute, behind one interface.

:func:`execute_run` is what a worker does for one :class:`~habsburg.experiments.sweep.plan.RunTask`
(a pure function of scenario, settings and seed, so every executor gives the same numbers).
:class:`SerialExecutor` runs tasks one by one in this process; :class:`DaskExecutor` submits them
to a ``distributed.Client`` (a local cluster of worker processes bound to 127.0.0.1, or a running
scheduler) and yields results as they finish. :func:`open_executor` picks one from the user's
options and closes what it opened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from habsburg.experiments.forkserver import start_fork_server
from habsburg.experiments.options import (
    SweepError,
    check_dask_installed,
    check_scheduler_address,
    default_workers,
)
from habsburg.experiments.outcomes import OUTCOMES, TIMESERIES, evaluate_outcomes, outcome_tables
from habsburg.experiments.run import simulate
from habsburg.experiments.sweep.plan import RunTask, SweepPlan, point_scenario
from habsburg.experiments.versions import result_versions, version_changes
from habsburg.scenarios.schema import Scenario

if TYPE_CHECKING:
    from types import ModuleType

    from distributed import Client

#: Dask settings of the local cluster a sweep starts. Runs are long CPU-bound tasks (seconds), so
#: the statistical profiler (a stack sample every 10 ms) and the fast health checks (event-loop
#: tick every 20 ms, system monitor every 0.5 s, memory monitor every 0.1 s) only take CPU from
#: the runs: measured on 2 cores, they cost ~20% of each run and ~5% of a core in the client.
LOCAL_CLUSTER_CONFIG = {
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in every worker: glibc then returns memory
    # to the OS at every large free, and a simulation (big temporary arrays each month) pays for
    # it in system time. None unsets it (the workers keep glibc's default).
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


# --------------------------------------------------------------------------------------------
# One run (what a worker executes)
# --------------------------------------------------------------------------------------------
@dataclass
class RunOutput:
    """What one run returns to the client: scalar outcomes, time series, or the error."""

    task: RunTask
    scalars: dict[str, float]
    series: pd.DataFrame | None
    seconds: float
    error: str | None = None
    traceback: str | None = None
    #: the versions (and model code) of the process that ran it
    #: (:func:`~habsburg.experiments.versions.result_versions`)
    versions: dict[str, str] | None = None

    @classmethod
    def failed(
        cls,
        task: RunTask,
        err: BaseException,
        seconds: float,
        versions: dict[str, str] | None = None,
    ) -> RunOutput:
        message = f"{type(err).__name__}: {err}"
        return cls(task, {}, None, seconds, message, traceback.format_exc(), versions)


@contextlib.contextmanager
def run_directory(store_dir: str | None, run_id: str) -> Iterator[Path | None]:
    """``store_dir/run_id``, made empty for one run's store files and removed when the run
    ends (None without ``store_dir``). ``store_dir`` is the directory of one sweep's runs
    (:func:`~habsburg.experiments.sweep.orchestration.running`), so what a killed attempt of
    the same run left there is removed before the next attempt writes its own."""
    if store_dir is None:
        yield None
        return
    path = Path(store_dir) / run_id
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def execute_run(
    task: RunTask,
    base: Scenario,
    outcomes: Sequence[str],
    steps: int | None = None,
    scale: float | None = None,
    store_dir: str | None = None,
) -> RunOutput:
    """Run one task: apply its settings to a copy of ``base`` (then scale it by ``scale``:
    :func:`~habsburg.experiments.sweep.plan.point_scenario`), simulate with its seed, evaluate
    the outcomes. With ``store_dir`` the store's columns are files in a private directory
    there, removed when the run ends. A run that raises returns its error instead (the sweep
    goes on)."""
    started = time.perf_counter()
    versions = result_versions()
    try:
        sc = point_scenario(base, task.settings, scale)
        with run_directory(store_dir, task.run_id) as scratch:
            model = simulate(sc, seed=task.seed, steps=steps, store_dir=scratch)
            scalars, series = evaluate_outcomes(outcomes, outcome_tables(model))
            del model  # its column files go with the directory
        has_series = any(OUTCOMES[o].kind == TIMESERIES for o in outcomes)
        seconds = time.perf_counter() - started
        return RunOutput(
            task, scalars, series if has_series else None, seconds, None, None, versions
        )
    except Exception as err:
        return RunOutput.failed(task, err, time.perf_counter() - started, versions)


# --------------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------------
class Executor(Protocol):
    def outputs(self, plan: SweepPlan, tasks: list[RunTask]) -> Iterator[RunOutput]:
        """Run ``tasks`` of ``plan`` and yield each output as it finishes."""
        ...


class SerialExecutor:
    """One run after another in this process (no Dask needed; for debugging and small jobs)."""

    def outputs(self, plan: SweepPlan, tasks: list[RunTask]) -> Iterator[RunOutput]:
        for task in tasks:
            yield execute_run(
                task, plan.scenario_of(task), plan.outcomes, plan.steps, plan.scale, plan.store_dir
            )


class DaskExecutor:
    """Runs submitted to a ``distributed.Client``; a worker that dies mid-run has its run
    rescheduled (``retries`` times), a run that keeps killing workers is reported as failed."""

    def __init__(self, client: Any, retries: int = 1) -> None:
        self.client = client
        self.retries = retries

    def outputs(self, plan: SweepPlan, tasks: list[RunTask]) -> Iterator[RunOutput]:
        from distributed import as_completed

        futures = {
            self.client.submit(
                execute_run,
                task,
                plan.scenario_of(task),
                plan.outcomes,
                plan.steps,
                plan.scale,
                plan.store_dir,
                pure=False,
                retries=self.retries,
            ): task
            for task in tasks
        }
        try:
            for future in as_completed(futures):
                task = futures.pop(future)
                try:
                    out = future.result()
                except Exception as err:  # e.g. KilledWorker: the run kept killing its workers
                    out = RunOutput.failed(task, err, float("nan"))
                future.release()
                yield out
        finally:
            if futures:
                self.client.cancel(list(futures))


def require_dask() -> ModuleType:
    try:
        import distributed
    except ImportError:
        raise SweepError(
            "sweeps on Dask need the 'sweep' extra: pip install 'habsburg[sweep]' (or run serially)"
        ) from None
    return distributed


def check_workers(client: Client, where: str) -> None:
    """Refuse (:class:`SweepError`) a Dask cluster whose workers cannot run habsburg, or run
    other versions of the packages a run's numbers depend on or other model code than this
    process (:func:`~habsburg.experiments.versions.version_changes`): a seed would not give
    this environment's run there, and the results record this environment's versions. Workers
    that join later are checked run by run
    (:func:`~habsburg.experiments.sweep.orchestration.from_this_environment`)."""
    try:
        reported = client.run(result_versions)
    except Exception as err:  # e.g. habsburg not installed in the workers' environment
        raise SweepError(
            f"the workers of {where} cannot run habsburg ({type(err).__name__}: {err}); start "
            "them from this environment"
        ) from None
    for worker, versions in sorted(reported.items()):
        changes = version_changes(versions)
        if changes:
            raise SweepError(
                f"the Dask worker {worker} of {where} runs {', '.join(changes)}: a seed gives "
                "the same run only with the same versions; start the workers from this "
                "environment (the same packages and checkout)"
            )


def connect(
    scheduler: str | None = None,
    workers: int | None = None,
    timeout: float = 10.0,
    *,
    file_stores: bool = False,
) -> Client:
    """A ``distributed.Client``: to the scheduler at ``scheduler``, or to a new in-process
    LocalCluster of ``workers`` single-threaded worker processes: scheduler, workers and
    dashboard listen on 127.0.0.1 only (the dashboard on a free port, so two sweeps at once do
    not contend for Dask's fixed 8787). ``file_stores``: the runs keep their stores in
    memory-mapped files (``--store-dir``), whose pages count in a worker's resident size;
    Dask's nanny would take them for the worker's own memory and restart it at 95% of its
    share (a 100× run's reach ~12 GB), so the workers get no Dask memory limit then (the
    projection before any run has checked the memory the runs need)."""
    if scheduler is not None:
        distributed = require_dask()
        address = check_scheduler_address(scheduler)
        try:
            client = distributed.Client(address, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as err:
            raise SweepError(
                f"cannot reach the Dask scheduler at --scheduler {address}: {err}; start one "
                "with `dask scheduler` or leave out --scheduler for a local cluster"
            ) from None
        try:
            check_workers(client, f"the Dask scheduler at --scheduler {address}")
        except BaseException:
            client.close()
            raise
        return client
    n = workers if workers is not None else default_workers()
    if n < 1:
        raise SweepError(f"--workers must be >= 1, got {n}")
    check_dask_installed()
    method = start_fork_server()  # first: it imports habsburg while this process imports Dask
    distributed = require_dask()
    import dask

    with dask.config.set(
        {**LOCAL_CLUSTER_CONFIG, "distributed.worker.multiprocessing-method": method}
    ):
        cluster = distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
            memory_limit=0 if file_stores else "auto",
        )
        return distributed.Client(cluster)


def close_client(client: Any) -> None:
    """Close a client :func:`connect` opened, and its local cluster.

    A close that fails is reported on stderr, not raised: the runs are over by then (finished
    ones written or returned; an error or interrupt that ended them goes on up unreplaced), and
    the command goes on to write its results. On a loaded machine Dask's shutdown of a local cluster
    can fail: seen once (2026-12-05), a ``TimeoutError`` from ``SpecCluster``'s close, as the
    workers of two 100× runs let go of ~15 GB of mapped pages with CI running beside them,
    ended a 44-minute comparison whose four runs had all finished, before its tables were
    written. (The close is not tried again: a cluster left "closing" by a failed close waits
    for itself.) The worker processes a failed close leaves running are killed, so that none
    outlives the command, nor the call in a Python session."""
    cluster = client.cluster
    _close_quietly(client.close, "client")
    if cluster is not None and not _close_quietly(cluster.close, "local cluster"):
        if stopped := stop_worker_processes(cluster):
            print(
                f"habsburg: note: {stopped} Dask worker process{'' if stopped == 1 else 'es'} "
                "the failed close left running were killed",
                file=sys.stderr,
            )


def _close_quietly(close: Callable[[], object], what: str) -> bool:
    """Call ``close``; False (with a note on stderr) if it failed."""
    try:
        close()
    except (OSError, RuntimeError) as err:  # (TimeoutError is an OSError)
        detail = f": {err}" if str(err) else ""
        print(
            f"habsburg: note: closing the Dask {what} failed ({type(err).__name__}{detail}); "
            "its runs were over, habsburg goes on",
            file=sys.stderr,
        )
        return False
    return True


def stop_worker_processes(cluster: Any) -> int:
    """Kill (SIGKILL) the worker processes of local cluster ``cluster`` that are still alive, as
    after a failed close; returns how many. Each is a nanny's process (``distributed``'s
    ``Nanny.process.process``, whose ``pid`` and ``is_alive()`` are public)."""
    stopped = 0
    for worker in list(getattr(cluster, "workers", {}).values()):
        process = getattr(getattr(worker, "process", None), "process", None)
        if process is None or process.pid is None or not process.is_alive():
            continue
        with contextlib.suppress(ProcessLookupError):  # (gone since)
            os.kill(process.pid, signal.SIGKILL)
            stopped += 1
    return stopped


@contextlib.contextmanager
def open_executor(
    *,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    retries: int = 1,
    timeout: float = 10.0,
    needed: bool = True,
    file_stores: bool = False,
) -> Iterator[Executor]:
    """The executor the options ask for: serial, the given ``client``, or a client of the
    scheduler at ``scheduler`` / of a new local cluster of ``workers`` processes (closed on
    exit; ``file_stores``: see :func:`connect`). With ``needed=False`` (nothing left to run) no
    cluster is started."""
    if serial or not needed:
        yield SerialExecutor()
        return
    if client is not None:
        check_workers(client, "the given Dask client")
        yield DaskExecutor(client, retries)
        return
    own = connect(scheduler, workers, timeout=timeout, file_stores=file_stores)
    try:
        yield DaskExecutor(own, retries)
    finally:
        close_client(own)
