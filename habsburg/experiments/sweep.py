"""Parameter sweeps: a grid or a sample of settings × seeds, run on Dask, one Parquet file per run.

A sweep spec (TOML) names a base scenario, parameters (dotted setting paths, validated against the
scenario schema) with grids, ranges or a Latin-hypercube / Sobol sample, the outcomes to record
(:mod:`habsburg.experiments.outcomes`) and a number of seeds. Every run is a pure function of
(base scenario, settings, seed), so the same run gives the same numbers serially, on a local
cluster, or on any worker of a remote one.

Output directory::

    sweep.json              the spec, the base scenario as resolved, every run (id, settings, seed)
    runs/<run_id>.parquet   one row per run: settings, seed, scalar outcomes (the dataset)
    series/<run_id>.parquet one row per run × month: time-series outcomes (if any)
    errors/<run_id>.json    a run that raised: its settings, seed and traceback
    results.parquet/.csv    all finished runs in one table (rewritten at the end of a sweep)

Each file is written atomically (temporary file + ``os.replace``) by the client as results
arrive, so an interrupted sweep leaves only whole files, workers need no shared filesystem, and
``resume=True`` skips every run whose ``runs/`` file exists.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import itertools
import json
import logging
import math
import os
import re
import sys
import time
import tomllib
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from habsburg.scenarios.library import load_scenario
from habsburg.experiments.outcomes import (
    DEFAULT_OUTCOMES,
    OUTCOMES,
    SCALAR,
    TIMESERIES,
    check_outcomes,
    evaluate_outcomes,
    outcome_tables,
)
from habsburg.scenarios.schema import (
    Scenario,
    ScenarioError,
    _close,
    check_setting,
    from_dict,
    set_setting,
    setting_spec,
)

METHODS = ("grid", "latin", "sobol")
SPEC_KEYS = (
    "name",
    "description",
    "scenario",
    "seeds",
    "seed",
    "steps",
    "method",
    "samples",
    "outcomes",
    "set",
    "parameters",
    "sensitivity",
)
PARAMETER_KEYS = ("path", "values", "range", "num")
SCHEDULER_RE = re.compile(r"^(tcp|tls|ws|wss|ucx|inproc)://[^\s/:]+(:\d+)?/?$")
MANIFEST = "sweep.json"
#: Dask settings of the local cluster a sweep starts. Runs are long CPU-bound tasks (seconds), so
#: the statistical profiler (a stack sample every 10 ms) and the fast health checks (event-loop
#: tick every 20 ms, system monitor every 0.5 s, memory monitor every 0.1 s) only take CPU from
#: the runs: measured on 2 cores, they cost ~20% of each run and ~5% of a core in the client.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


class SweepError(ScenarioError):
    """A user error in a sweep spec or its options (printed without a traceback, exit 2)."""


# --------------------------------------------------------------------------------------------
# Spec
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    """One swept setting: explicit ``values`` (grid points or choices) or a ``low``..``high``
    range (``num`` evenly spaced grid points, or the bounds of a sample)."""

    path: str
    kind: str  # "float" | "int" | "bool" | "choice"
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    num: int | None = None

    def grid(self) -> list[Any]:
        if self.values is not None:
            return list(self.values)
        points = np.linspace(self.low, self.high, self.num)
        if self.kind == "int":
            return list(dict.fromkeys(round(float(v)) for v in points))
        return [float(v) for v in points]

    def from_unit(self, u: np.ndarray) -> list[Any]:
        """Map uniform [0, 1) draws to values: a range linearly (integers uniformly), a value
        list by index."""
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, np.nextafter(1.0, 0.0))
        if self.values is not None:
            idx = np.floor(u * len(self.values)).astype(int)
            return [self.values[i] for i in idx]
        if self.kind == "int":
            lo, hi = math.ceil(self.low), math.floor(self.high)
            return [int(v) for v in lo + np.floor(u * (hi - lo + 1)).astype(np.int64)]
        return [float(v) for v in self.low + u * (self.high - self.low)]


@dataclass
class SweepSpec:
    """A validated sweep spec (see :func:`load_spec`)."""

    name: str
    base: Scenario
    parameters: list[Parameter]
    method: str = "grid"
    samples: int = 0
    seeds: int = 1
    seed: int = 0
    steps: int | None = None
    outcomes: tuple[str, ...] = DEFAULT_OUTCOMES
    sensitivity: dict[str, Any] = field(default_factory=dict)
    source: str = "<spec>"
    raw: dict[str, Any] = field(default_factory=dict)

    def points(self) -> list[dict[str, Any]]:
        """The parameter points: the full grid, or ``samples`` Latin-hypercube / Sobol draws
        (scipy.stats.qmc, seeded by the spec's seed)."""
        if self.method == "grid":
            grids = [p.grid() for p in self.parameters]
            return [
                dict(zip([p.path for p in self.parameters], combo, strict=True))
                for combo in itertools.product(*grids)
            ]
        unit = unit_sample(self.method, len(self.parameters), self.samples, self.seed)
        columns = [p.from_unit(unit[:, j]) for j, p in enumerate(self.parameters)]
        return [
            {p.path: columns[j][i] for j, p in enumerate(self.parameters)}
            for i in range(self.samples)
        ]


def unit_sample(method: str, d: int, n: int, seed: int) -> np.ndarray:
    """``n`` points in [0, 1)^d: Latin hypercube (McKay et al. 1979) or scrambled Sobol (Owen
    1998), from scipy.stats.qmc."""
    from scipy.stats import qmc

    cls = qmc.LatinHypercube if method == "latin" else qmc.Sobol
    # scipy >= 1.15 names the generator ``rng``; older releases ``seed``
    key = "rng" if "rng" in inspect.signature(cls.__init__).parameters else "seed"
    return cls(d, **{key: np.random.default_rng(seed)}).random(n)


def replicate_seeds(seed: int, n: int) -> list[int]:
    """``n`` run seeds derived from the spec's seed (numpy SeedSequence spawning): the same for
    every parameter point (common random numbers), so differences between points are not noise
    from different draws."""
    return [
        int(np.random.SeedSequence(seed, spawn_key=(r,)).generate_state(1, np.uint64)[0] >> 1)
        for r in range(n)
    ]


def _check_keys(data: dict, allowed, where: str) -> None:
    """A named error for the first key of ``data`` that is not ``allowed``."""
    for key in data:
        if key not in allowed:
            raise SweepError(
                f"{where}: unknown key {key!r}{_close(key, allowed)}; allowed: {', '.join(allowed)}"
            )


def _parameter(base: Scenario, data: Any, where: str, method: str) -> Parameter:
    if not isinstance(data, dict):
        raise SweepError(f"{where}: expected a table with 'path', got {data!r}")
    _check_keys(data, PARAMETER_KEYS, where)
    path = data.get("path")
    if not isinstance(path, str) or not path:
        raise SweepError(f"{where}.path: expected a setting path such as 'watermark.adoption'")
    try:
        spec = setting_spec(base, path)
        if spec["path"].rsplit(".", 1)[-1] == "name":
            check_setting(base, path, spec["default"])
    except ScenarioError as err:
        raise SweepError(f"{where}.path: {err}") from None
    hint = spec["type"]
    kind = {bool: "bool", int: "int", float: "float"}.get(hint, "choice")
    if spec.get("choices") is None and kind == "choice":
        if "values" not in data:
            raise SweepError(f"{where}: {path!r} is not numeric; list its 'values'")

    def check(value: Any, key: str) -> Any:
        try:
            return check_setting(base, path, value)
        except ScenarioError as err:
            raise SweepError(f"{where}.{key}: {err}") from None

    values = data.get("values")
    rng = data.get("range")
    num = data.get("num")
    if values is not None and (rng is not None or num is not None):
        raise SweepError(f"{where}: give either 'values' or 'range' (+ 'num'), not both")
    if values is not None:
        if not isinstance(values, list):
            raise SweepError(f"{where}.values: expected a list, got {values!r}")
        if not values:
            raise SweepError(f"{where}.values is empty; give at least one value for {path!r}")
        checked = tuple(check(v, "values") for v in values)
        if kind in ("int", "float") and method != "grid":
            kind = "choice"  # a sampled value list is picked by index
        return Parameter(path, kind if kind != "bool" else "choice", values=checked)
    if kind == "bool" or spec.get("choices") is not None:
        choices = (False, True) if kind == "bool" else tuple(spec["choices"])
        return Parameter(path, "choice", values=choices)
    if rng is None:
        low, high = spec.get("low"), spec.get("high")
        if low is None or high is None:
            raise SweepError(f"{where}: {path!r} has no declared range; give 'range = [low, high]'")
    else:
        if (
            not isinstance(rng, list)
            or len(rng) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng)
        ):
            raise SweepError(f"{where}.range: expected [low, high], got {rng!r}")
        low, high = (check(v, "range") for v in rng)
        if low > high:
            raise SweepError(f"{where}.range: low {low!r} is above high {high!r}")
    if method == "grid":
        if num is None:
            raise SweepError(f"{where}: a grid needs 'values' or 'range' with 'num' for {path!r}")
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise SweepError(f"{where}.num: expected an integer >= 1, got {num!r}")
        if num > 1 and low == high:
            raise SweepError(f"{where}: range [{low}, {high}] is empty; widen it or set num = 1")
    elif num is not None:
        raise SweepError(f"{where}.num: only a grid takes 'num'; method is {method!r}")
    return Parameter(path, kind, low=float(low), high=float(high), num=num)


def _int(data: dict, key: str, default: int, low: int, where: str) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SweepError(f"{where}: '{key}' must be an integer >= {low}, got {value!r}")
    return value


def spec_from_dict(
    data: dict[str, Any],
    source: str = "<spec>",
    base_dir: Path | None = None,
    *,
    sampled: bool = False,
) -> SweepSpec:
    """Validate a sweep spec mapping; every error names ``source`` and the key.

    ``sampled=True`` validates the parameters as ranges to sample (what ``habsburg
    sensitivity`` needs) whatever the spec's ``method``.
    """
    if not isinstance(data, dict):
        raise SweepError(f"{source}: expected a table")
    _check_keys(data, SPEC_KEYS, source)
    scenario = data.get("scenario", "baseline")
    if not isinstance(scenario, str):
        raise SweepError(f"{source}: 'scenario' must be a library name or a file, got {scenario!r}")
    candidate = (base_dir / scenario) if base_dir is not None else None
    try:
        base = load_scenario(
            candidate if candidate is not None and candidate.is_file() else scenario
        )
    except ScenarioError as err:
        raise SweepError(f"{source}: scenario: {err}") from None
    fixed = data.get("set", {})
    if not isinstance(fixed, dict):
        raise SweepError(f"{source}: 'set' must be a table of setting path = value")
    for path, value in fixed.items():
        try:
            set_setting(base, path, value)
        except ScenarioError as err:
            raise SweepError(f"{source}: set: {err}") from None
    try:
        base = from_dict(_plain(base), f"{base.source} (with the spec's [set])")
    except ScenarioError as err:
        raise SweepError(f"{source}: set: {err}") from None

    method = data.get("method", "grid")
    if method not in METHODS:
        raise SweepError(
            f"{source}: method {method!r} is not allowed; choose one of {', '.join(METHODS)}"
        )
    seeds = _int(data, "seeds", 1, 1, source)
    seed = _int(data, "seed", base.seed, 0, source)
    samples = _int(data, "samples", 0, 0, source)
    if method != "grid" and not sampled:
        if samples < 1:
            raise SweepError(f"{source}: method {method!r} needs 'samples' >= 1")
        if method == "sobol" and samples & (samples - 1):
            raise SweepError(
                f"{source}: a Sobol sample needs a power of two for 'samples' (its balance "
                f"properties hold only then), got {samples}"
            )
    steps = data.get("steps")
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= base.steps:
            raise SweepError(
                f"{source}: 'steps' must be between 1 and {base.steps} for scenario "
                f"{base.name!r}, got {steps!r}"
            )
    raw_params = data.get("parameters", [])
    if not isinstance(raw_params, list) or not raw_params:
        raise SweepError(f"{source}: name at least one [[parameters]] (path and values or range)")
    params = [
        _parameter(base, p, f"{source}: parameters[{i}]", "latin" if sampled else method)
        for i, p in enumerate(raw_params)
    ]
    paths = [p.path for p in params]
    if len(set(paths)) != len(paths):
        raise SweepError(f"{source}: a parameter path is listed twice: {paths}")
    try:
        outcomes = check_outcomes(data.get("outcomes", DEFAULT_OUTCOMES), f"{source}: outcomes")
    except ScenarioError as err:
        raise SweepError(str(err)) from None
    sensitivity = data.get("sensitivity", {})
    if not isinstance(sensitivity, dict):
        raise SweepError(f"{source}: [sensitivity] must be a table")
    name = data.get("name", Path(source).stem if source != "<spec>" else "sweep")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise SweepError(f"{source}: 'name' must be letters, digits, '_', '-', '.', got {name!r}")
    return SweepSpec(
        name=name,
        base=base,
        parameters=params,
        method=method,
        samples=samples,
        seeds=seeds,
        seed=seed,
        steps=steps,
        outcomes=outcomes,
        sensitivity=sensitivity,
        source=source,
        raw=data,
    )


def load_spec(path: str | Path, *, sampled: bool = False) -> SweepSpec:
    """Read and validate a sweep spec TOML file (see :func:`spec_from_dict`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise SweepError(f"cannot read sweep spec {str(path)!r}: {err.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SweepError(f"{path}: malformed TOML: {err}") from None
    return spec_from_dict(data, str(path), path.parent, sampled=sampled)


def _plain(sc: Scenario) -> dict[str, Any]:
    data = sc.to_dict()
    data.pop("source", None)
    return data


# --------------------------------------------------------------------------------------------
# Plan: the runs of a sweep
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunTask:
    """One run: settings applied to the base scenario, and its seed."""

    run_id: str
    point: int
    replicate: int
    seed: int
    settings: tuple[tuple[str, Any], ...]


@dataclass
class SweepPlan:
    """Everything a sweep runs: the base scenario, its runs, the outcomes and the month count."""

    name: str
    base: Scenario
    tasks: list[RunTask]
    parameters: list[str]
    outcomes: tuple[str, ...]
    steps: int | None = None
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Hash of what determines the results (a resumed sweep must match it)."""
        payload = {
            "base": _plain(self.base),
            "tasks": [[t.run_id, t.seed, list(map(list, t.settings))] for t in self.tasks],
            "outcomes": list(self.outcomes),
            "steps": self.steps,
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def plan_points(
    name: str,
    base: Scenario,
    points: Sequence[dict[str, Any]],
    *,
    seeds: int = 1,
    seed: int | None = None,
    outcomes: Sequence[str] = DEFAULT_OUTCOMES,
    steps: int | None = None,
    spec: dict[str, Any] | None = None,
    where: str = "sweep",
) -> SweepPlan:
    """A plan of ``points × seeds`` runs; every value and every point's scenario is validated
    here, before any run starts."""
    if not points:
        raise SweepError(f"{where}: the sweep has no parameter points")
    outcomes = check_outcomes(outcomes, f"{where}: outcomes")
    run_seeds = replicate_seeds(base.seed if seed is None else seed, seeds)
    paths = list(points[0])
    tasks = []
    for i, point in enumerate(points):
        if list(point) != paths:
            raise SweepError(f"{where}: point {i} sets {list(point)}, expected {paths}")
        sc = copy.deepcopy(base)
        for path, value in point.items():
            try:
                set_setting(sc, path, value)
            except ScenarioError as err:
                raise SweepError(f"{where}: point {i}: {err}") from None
        try:
            from_dict(_plain(sc), f"{where}: point {i}")
        except ScenarioError as err:
            raise SweepError(str(err)) from None
        settings = tuple((p, _native(v)) for p, v in point.items())
        for r, s in enumerate(run_seeds):
            tasks.append(RunTask(f"p{i:05d}-s{r:03d}", i, r, s, settings))
    return SweepPlan(name, base, tasks, paths, tuple(outcomes), steps, spec or {})


def plan_spec(spec: SweepSpec) -> SweepPlan:
    """The runs of a sweep spec: its points × its seeds."""
    return plan_points(
        spec.name,
        spec.base,
        spec.points(),
        seeds=spec.seeds,
        seed=spec.seed,
        outcomes=spec.outcomes,
        steps=spec.steps,
        spec={"source": spec.source, **spec.raw},
        where=spec.source,
    )


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


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


def execute_run(
    task: RunTask, base: Scenario, outcomes: Sequence[str], steps: int | None = None
) -> RunOutput:
    """Run one task: apply its settings to a copy of ``base``, simulate with its seed, evaluate
    the outcomes. A run that raises returns its error instead (the sweep goes on)."""
    from habsburg.experiments.run import simulate

    started = time.perf_counter()
    try:
        sc = copy.deepcopy(base)
        for path, value in task.settings:
            set_setting(sc, path, value)
        model = simulate(sc, seed=task.seed, steps=steps)
        scalars, series = evaluate_outcomes(outcomes, outcome_tables(model))
        has_series = any(OUTCOMES[o].kind == TIMESERIES for o in outcomes)
        return RunOutput(
            task, scalars, series if has_series else None, time.perf_counter() - started
        )
    except Exception as err:
        return RunOutput(
            task,
            {},
            None,
            time.perf_counter() - started,
            f"{type(err).__name__}: {err}",
            traceback.format_exc(),
        )


# --------------------------------------------------------------------------------------------
# Writing results
# --------------------------------------------------------------------------------------------
def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json(path: Path, data: Any) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2, default=str)))


def run_row(plan: SweepPlan, out: RunOutput) -> pd.DataFrame:
    """The one-row table of a finished run (``runs/<run_id>.parquet``)."""
    t = out.task
    row: dict[str, Any] = {
        "run_id": t.run_id,
        "point": t.point,
        "replicate": t.replicate,
        "seed": t.seed,
    }
    row.update(dict(t.settings))
    for name in plan.outcomes:
        if OUTCOMES[name].kind == SCALAR:
            row[name] = out.scalars[name]
    row["seconds"] = out.seconds
    return pd.DataFrame([row])


def write_run_output(plan: SweepPlan, out_dir: Path, out: RunOutput) -> None:
    """Write one run's files atomically: its series (if any) first, then its ``runs/`` row,
    whose existence marks the run finished; or its ``errors/`` record."""
    t = out.task
    error_file = out_dir / "errors" / f"{t.run_id}.json"
    if out.error is not None:
        record = {
            "run_id": t.run_id,
            "point": t.point,
            "replicate": t.replicate,
            "seed": t.seed,
            "settings": dict(t.settings),
            "error": out.error,
            "traceback": out.traceback,
            "seconds": out.seconds,
        }
        _write_json(error_file, record)
        return
    if out.series is not None:
        series = out.series.copy()
        for col, value in reversed(
            [("run_id", t.run_id), ("point", t.point), ("replicate", t.replicate), ("seed", t.seed)]
        ):
            series.insert(0, col, value)
        _atomic_write(
            out_dir / "series" / f"{t.run_id}.parquet",
            lambda p: series.to_parquet(p, index=False),
        )
    row = run_row(plan, out)
    _atomic_write(
        out_dir / "runs" / f"{t.run_id}.parquet", lambda p: row.to_parquet(p, index=False)
    )
    error_file.unlink(missing_ok=True)


def finished_runs(out_dir: str | Path) -> set[str]:
    """Run ids whose results file exists (what ``resume`` skips)."""
    runs = Path(out_dir) / "runs"
    return {p.stem for p in runs.glob("*.parquet")} if runs.is_dir() else set()


def load_results(out_dir: str | Path, kind: str = "runs") -> pd.DataFrame:
    """All finished runs of a sweep directory (``kind="series"`` for the time series), in run
    order."""
    folder = Path(out_dir) / kind
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def load_failures(out_dir: str | Path) -> pd.DataFrame:
    """The runs that raised (from ``errors/*.json``)."""
    folder = Path(out_dir) / "errors"
    rows = (
        [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        if folder.is_dir()
        else []
    )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------------
def check_scheduler_address(address: str) -> str:
    """Validate the form of a Dask scheduler address (``tcp://HOST:PORT``)."""
    if not isinstance(address, str) or not SCHEDULER_RE.match(address.strip()):
        raise SweepError(
            f"--scheduler {address!r} is not a Dask scheduler address; expected tcp://HOST:PORT "
            "(the address `dask scheduler` prints)"
        )
    return address.strip()


def _require_dask():
    try:
        import distributed
    except ImportError:
        raise SweepError(
            "sweeps on Dask need the 'sweep' extra: pip install 'habsburg[sweep]' (or run serially)"
        ) from None
    return distributed


def connect(scheduler: str | None = None, workers: int | None = None, timeout: float = 10.0):
    """A ``distributed.Client``: to the scheduler at ``scheduler``, or to a new in-process
    LocalCluster of ``workers`` single-threaded worker processes bound to 127.0.0.1."""
    distributed = _require_dask()
    if scheduler is not None:
        address = check_scheduler_address(scheduler)
        try:
            return distributed.Client(address, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as err:
            raise SweepError(
                f"cannot reach the Dask scheduler at --scheduler {address}: {err}; start one "
                "with `dask scheduler` or leave out --scheduler for a local cluster"
            ) from None
    n = workers if workers is not None else default_workers()
    if n < 1:
        raise SweepError(f"--workers must be >= 1, got {n}")
    import dask

    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        cluster = distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        return distributed.Client(cluster)


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _serial_outputs(plan: SweepPlan, tasks: list[RunTask]) -> Iterator[RunOutput]:
    for task in tasks:
        yield execute_run(task, plan.base, plan.outcomes, plan.steps)


def _dask_outputs(
    plan: SweepPlan, tasks: list[RunTask], client, retries: int
) -> Iterator[RunOutput]:
    from distributed import as_completed

    futures = {
        client.submit(
            execute_run, task, plan.base, plan.outcomes, plan.steps, pure=False, retries=retries
        ): task
        for task in tasks
    }
    try:
        for future in as_completed(futures):
            task = futures.pop(future)
            try:
                out = future.result()
            except Exception as err:  # e.g. KilledWorker: the run kept killing its workers
                out = RunOutput(
                    task,
                    {},
                    None,
                    float("nan"),
                    f"{type(err).__name__}: {err}",
                    traceback.format_exc(),
                )
            future.release()
            yield out
    finally:
        if futures:
            client.cancel(list(futures))


# --------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------
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


def check_output(plan: SweepPlan, out_dir: Path, resume: bool) -> set[str]:
    """Check ``out_dir`` against the plan (writing nothing); returns the finished runs.

    Without ``resume`` the directory must not already hold a sweep; with it, the manifest there
    must describe the same runs (same base scenario, settings, seeds, outcomes and steps).
    """
    manifest_path = out_dir / MANIFEST
    if out_dir.exists() and not out_dir.is_dir():
        raise SweepError(f"--out {str(out_dir)!r} is a file, not a directory")
    if manifest_path.exists():
        if not resume:
            raise SweepError(
                f"--out {str(out_dir)!r} already holds a sweep ({MANIFEST}); pass --resume to "
                "finish it, or choose another --out"
            )
        old = json.loads(manifest_path.read_text())
        if old.get("fingerprint") != plan.fingerprint:
            raise SweepError(
                f"--resume: the sweep in {str(out_dir)!r} was run from a different spec or "
                "scenario (settings, seeds, outcomes or steps differ); choose another --out"
            )
    elif out_dir.is_dir() and any(out_dir.iterdir()):
        raise SweepError(
            f"--out {str(out_dir)!r} exists and is not a sweep directory (no {MANIFEST}); "
            "choose an empty or new directory"
        )
    return finished_runs(out_dir) & {t.run_id for t in plan.tasks}


def write_manifest(plan: SweepPlan, out_dir: Path) -> None:
    """Create the sweep directory and its manifest (kept as is when resuming)."""
    manifest_path = out_dir / MANIFEST
    for sub in ("runs", "series", "errors"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out_dir / sub).glob(".*.tmp-*"):  # left by an interrupted write
            stale.unlink(missing_ok=True)
    from habsburg.experiments.run import package_versions

    manifest = {
        "name": plan.name,
        "fingerprint": plan.fingerprint,
        "spec": plan.spec,
        "parameters": plan.parameters,
        "outcomes": {o: OUTCOMES[o].kind for o in plan.outcomes},
        "steps": plan.steps,
        "scenario": plan.base.to_dict(),
        "runs": [
            {
                "run_id": t.run_id,
                "point": t.point,
                "replicate": t.replicate,
                "seed": t.seed,
                "settings": dict(t.settings),
            }
            for t in plan.tasks
        ],
        "versions": package_versions(),
        "command": " ".join(sys.argv),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not manifest_path.exists():
        _write_json(manifest_path, manifest)


def run_sweep(
    plan: SweepPlan,
    out: str | Path,
    *,
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    resume: bool = False,
    progress: bool = True,
    retries: int = 1,
    connect_timeout: float = 10.0,
) -> SweepResult:
    """Run a sweep plan into ``out`` and return what it did.

    Runs go to ``client`` (a ``distributed.Client``) when given, else to the scheduler at
    ``scheduler``, else to a new LocalCluster of ``workers`` processes (default: one per core);
    ``serial=True`` runs them one by one in this process (same results). Finished runs are
    skipped when ``resume`` is true. A run that raises is written to ``errors/`` and the sweep
    goes on; a worker that dies mid-run has its run rescheduled by Dask. Every check (output
    directory, scheduler address and connection) happens before the first run starts.
    """
    out_dir = Path(out)
    if scheduler is not None:
        check_scheduler_address(scheduler)
    if not serial and client is None:
        _require_dask()
    done = check_output(plan, out_dir, resume)
    pending = [t for t in plan.tasks if t.run_id not in done]
    own_client = None
    if pending and not serial and client is None:
        client = own_client = connect(scheduler, workers, timeout=connect_timeout)
    started = time.perf_counter()
    ran = failed = 0
    bar = None
    try:
        write_manifest(plan, out_dir)
        bar = tqdm(
            total=len(plan.tasks),
            initial=len(done),
            desc=plan.name,
            unit="run",
            disable=not progress,
            dynamic_ncols=True,
        )
        if not pending:
            outputs: Iterator[RunOutput] = iter(())
        elif serial:
            outputs = _serial_outputs(plan, pending)
        else:
            outputs = _dask_outputs(plan, pending, client, retries)
        for output in outputs:
            write_run_output(plan, out_dir, output)
            ran += 1
            if output.error is not None:
                failed += 1
                bar.set_postfix_str(f"{failed} failed", refresh=False)
            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if own_client is not None:
            cluster = own_client.cluster
            own_client.close()
            if cluster is not None:
                cluster.close()
    seconds = time.perf_counter() - started
    _write_summary(plan, out_dir, seconds)
    return SweepResult(out_dir, plan, ran, len(done), failed, seconds)


def _write_summary(plan: SweepPlan, out_dir: Path, seconds: float) -> None:
    """``results.parquet`` / ``.csv`` (and ``series.parquet``) of every finished run, and the
    manifest's completion record."""
    results = load_results(out_dir)
    if len(results):
        _atomic_write(out_dir / "results.parquet", lambda p: results.to_parquet(p, index=False))
        _atomic_write(out_dir / "results.csv", lambda p: results.to_csv(p, index=False))
    series = load_results(out_dir, "series")
    if len(series):
        _atomic_write(out_dir / "series.parquet", lambda p: series.to_parquet(p, index=False))
    manifest_path = out_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    failures = sorted(p.stem for p in (out_dir / "errors").glob("*.json"))
    manifest["last_session"] = {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "runs_finished": len(results),
        "runs_total": len(plan.tasks),
        "failed": failures,
    }
    _write_json(manifest_path, manifest)


def point_summary(results: pd.DataFrame, plan: SweepPlan) -> pd.DataFrame:
    """Mean of each scalar outcome over seeds, per parameter point."""
    scalars = [o for o in plan.outcomes if OUTCOMES[o].kind == SCALAR]
    if not len(results) or not scalars:
        return pd.DataFrame()
    results = results.copy()
    for path in plan.parameters:  # list-valued settings (e.g. a model's scrapers) as text
        if results[path].map(lambda v: isinstance(v, list | tuple | np.ndarray)).any():
            results[path] = results[path].map(lambda v: str(list(v)))
    grouped = results.groupby(["point", *plan.parameters], sort=True, dropna=False)
    table = grouped[scalars].mean()
    table.insert(0, "runs", grouped.size())
    return table.reset_index().drop(columns="point")
