"""Global sensitivity analysis with SALib: Sobol indices (first and total order) and Morris
elementary effects of scalar outcomes, with the model evaluations run as sweeps.

The spec is a sweep spec (:mod:`habsburg.experiments.sweep`) whose parameters are ranges; its
``[sensitivity]`` table chooses the methods and sample sizes::

    [sensitivity]
    methods = ["sobol", "morris"]
    sobol_samples = 64          # N: Saltelli design of N·(D+2) points (Saltelli et al. 2010)
    second_order = false        # N·(2D+2) points and S2 when true
    morris_trajectories = 10    # r: r·(D+1) points (Morris 1991; Campolongo et al. 2007 μ*)
    morris_levels = 4

Each design is a sweep of its own (``OUT/sobol/``, ``OUT/morris/``: resumable, one Parquet file
per run); the outcome of a point is its mean over the spec's seeds. Integer settings are rounded
when run; the indices are computed on the unrounded design.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from habsburg.experiments.outcomes import OUTCOMES, SCALAR, check_outcomes
from habsburg.scenarios.schema import ScenarioError, _close
from habsburg.experiments.sweep import (
    SweepError,
    SweepPlan,
    SweepSpec,
    check_output,
    check_scheduler_address,
    connect,
    load_failures,
    load_results,
    plan_points,
    run_sweep,
)

METHODS = ("sobol", "morris")
KEYS = (
    "methods",
    "outcomes",
    "sobol_samples",
    "second_order",
    "morris_trajectories",
    "morris_levels",
)
COLUMNS = {
    "sobol": ["S1", "S1_conf", "ST", "ST_conf"],
    "morris": ["mu_star", "mu_star_conf", "mu", "sigma"],
}


@dataclass(frozen=True)
class SensitivitySettings:
    methods: tuple[str, ...]
    outcomes: tuple[str, ...]
    sobol_samples: int
    second_order: bool
    morris_trajectories: int
    morris_levels: int


def sensitivity_settings(spec: SweepSpec) -> SensitivitySettings:
    """Validate the spec's ``[sensitivity]`` table (and that its parameters are ranges)."""
    where = f"{spec.source}: sensitivity"
    data: dict[str, Any] = spec.sensitivity
    for key in data:
        if key not in KEYS:
            raise SweepError(
                f"{where}: unknown key {key!r}{_close(key, KEYS)}; allowed: {', '.join(KEYS)}"
            )
    methods = data.get("methods", list(METHODS))
    if (
        not isinstance(methods, list)
        or not methods
        or any(m not in METHODS for m in methods)
        or len(set(methods)) != len(methods)
    ):
        raise SweepError(
            f"{where}.methods: expected a list of {', '.join(METHODS)}, got {methods!r}"
        )
    scalars = [o for o in spec.outcomes if OUTCOMES[o].kind == SCALAR]
    try:
        outcomes = check_outcomes(data.get("outcomes", scalars), f"{where}.outcomes", (SCALAR,))
    except ScenarioError as err:
        raise SweepError(str(err)) from None

    def integer(key: str, default: int, low: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise SweepError(f"{where}.{key}: expected an integer >= {low}, got {value!r}")
        return value

    sobol_samples = integer("sobol_samples", 64, 2)
    if "sobol" in methods and sobol_samples & (sobol_samples - 1):
        raise SweepError(
            f"{where}.sobol_samples: the Saltelli/Sobol design needs a power of two, "
            f"got {sobol_samples}"
        )
    second_order = data.get("second_order", False)
    if not isinstance(second_order, bool):
        raise SweepError(f"{where}.second_order: expected true or false, got {second_order!r}")
    for i, p in enumerate(spec.parameters):
        if p.values is not None or p.low is None:
            raise SweepError(
                f"{spec.source}: parameters[{i}] ({p.path!r}): sensitivity needs a numeric "
                "range = [low, high], not a list of values"
            )
        if p.low == p.high:
            raise SweepError(f"{spec.source}: parameters[{i}] ({p.path!r}): the range is empty")
    return SensitivitySettings(
        tuple(methods),
        outcomes,
        sobol_samples,
        second_order,
        integer("morris_trajectories", 10, 2),
        integer("morris_levels", 4, 2),
    )


def problem(spec: SweepSpec) -> dict[str, Any]:
    """The SALib problem: one variable per parameter path, bounded by its range."""
    return {
        "num_vars": len(spec.parameters),
        "names": [p.path for p in spec.parameters],
        "bounds": [[p.low, p.high] for p in spec.parameters],
    }


def design(spec: SweepSpec, settings: SensitivitySettings, method: str) -> np.ndarray:
    """The SALib sample of ``method`` (rows = points, columns = parameters)."""
    prob = problem(spec)
    if method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(
            prob,
            settings.sobol_samples,
            calc_second_order=settings.second_order,
            seed=spec.seed,
        )
    from SALib.sample import morris

    return morris.sample(
        prob, settings.morris_trajectories, num_levels=settings.morris_levels, seed=spec.seed
    )


def design_plan(
    spec: SweepSpec, settings: SensitivitySettings, method: str
) -> tuple[SweepPlan, np.ndarray]:
    """The sweep that evaluates a design, and the design itself."""
    X = design(spec, settings, method)
    points = [
        {
            p.path: (round(float(x)) if p.kind == "int" else float(x))
            for p, x in zip(spec.parameters, row, strict=True)
        }
        for row in X
    ]
    plan = plan_points(
        f"{spec.name}-{method}",
        spec.base,
        points,
        seeds=spec.seeds,
        seed=spec.seed,
        outcomes=settings.outcomes,
        steps=spec.steps,
        spec={"source": spec.source, "sensitivity_method": method, **spec.raw},
        where=spec.source,
    )
    return plan, X


def point_means(out_dir: Path, plan: SweepPlan, outcomes: tuple[str, ...]) -> pd.DataFrame:
    """Mean outcome per design point over seeds; an error if any run is missing (the indices
    need every point)."""
    results = load_results(out_dir)
    missing = len(plan.tasks) - len(results)
    if missing:
        failed = load_failures(out_dir)
        raise SweepError(
            f"{missing} of {len(plan.tasks)} runs in {out_dir} did not finish "
            f"({len(failed)} raised; see {out_dir / 'errors'}); the indices need every run. "
            "Fix the cause and run again with --resume"
        )
    n_points = max(t.point for t in plan.tasks) + 1
    return results.groupby("point")[list(outcomes)].mean().reindex(range(n_points))


def analyze(
    spec: SweepSpec,
    settings: SensitivitySettings,
    method: str,
    X: np.ndarray,
    Y: pd.DataFrame,
) -> pd.DataFrame:
    """Indices of every outcome for one method: rows (outcome, parameter)."""
    prob = problem(spec)
    rows = []
    for outcome in settings.outcomes:
        y = Y[outcome].to_numpy(dtype=np.float64)
        if not np.isfinite(y).all():
            raise SweepError(
                f"outcome {outcome!r} is NaN in {int((~np.isfinite(y)).sum())} runs (e.g. no "
                "model deployed by the last month); choose another outcome or more steps"
            )
        if method == "sobol":
            from SALib.analyze import sobol

            with np.errstate(divide="ignore", invalid="ignore"):
                res = sobol.analyze(
                    prob, y, calc_second_order=settings.second_order, seed=spec.seed
                )
        else:
            from SALib.analyze import morris

            res = morris.analyze(prob, X, y, num_levels=settings.morris_levels, seed=spec.seed)
        for j, name in enumerate(prob["names"]):
            row = {"outcome": outcome, "parameter": name}
            row.update({c: float(np.asarray(res[c])[j]) for c in COLUMNS[method]})
            rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class SensitivityResult:
    out_dir: Path
    table: pd.DataFrame  # one row per (outcome, parameter)
    figure: Path
    runs: int


def run_sensitivity(
    spec: SweepSpec,
    out: str | Path,
    *,
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> SensitivityResult:
    """Run the designs of ``spec`` (each a sweep in ``OUT/<method>/``) and write the indices:
    ``OUT/sensitivity.csv`` / ``.parquet`` and ``OUT/sensitivity.png``."""
    settings = sensitivity_settings(spec)
    out_dir = Path(out)
    plans = {m: design_plan(spec, settings, m) for m in settings.methods}  # all validated first
    pending = False
    for method, (plan, _) in plans.items():
        done = check_output(plan, out_dir / method, resume)
        pending = pending or len(done) < len(plan.tasks)
    if scheduler is not None:
        check_scheduler_address(scheduler)
    own = None
    try:
        if pending and not serial and client is None:
            client = own = connect(scheduler, workers)
        runs = 0
        tables = []
        for method, (plan, X) in plans.items():
            result = run_sweep(
                plan,
                out_dir / method,
                client=client,
                serial=serial,
                resume=resume,
                progress=progress,
            )
            runs += result.ran
            Y = point_means(out_dir / method, plan, settings.outcomes)
            tables.append(analyze(spec, settings, method, X, Y))
    finally:
        if own is not None:
            cluster = own.cluster
            own.close()
            if cluster is not None:
                cluster.close()
    table = tables[0]
    for extra in tables[1:]:
        table = table.merge(extra, on=["outcome", "parameter"], how="outer")
    table.to_parquet(out_dir / "sensitivity.parquet", index=False)
    table.to_csv(out_dir / "sensitivity.csv", index=False)
    figure = plot_indices(table, out_dir / "sensitivity.png", spec.name)
    return SensitivityResult(out_dir, table, figure, runs)


def plot_indices(table: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Bars of Sobol S1 / ST (with confidence intervals) and Morris μ* (with its interval), one
    row per outcome."""
    from matplotlib.figure import Figure

    outcomes = list(dict.fromkeys(table["outcome"]))
    methods = [m for m in METHODS if COLUMNS[m][0] in table]
    fig = Figure(figsize=(5.5 * len(methods), 0.6 + 2.6 * len(outcomes)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(outcomes), len(methods), squeeze=False))
    for i, outcome in enumerate(outcomes):
        rows = table[table["outcome"] == outcome]
        y = np.arange(len(rows))
        names = rows["parameter"].tolist()
        for j, method in enumerate(methods):
            ax = axes[i, j]
            if method == "sobol":
                h = 0.38
                ax.barh(y - h / 2, rows["S1"], h, xerr=rows["S1_conf"], label="first order S1")
                ax.barh(y + h / 2, rows["ST"], h, xerr=rows["ST_conf"], label="total order ST")
                ax.set_xlabel("Sobol index")
                ax.axvline(0, color="0.3", lw=0.8)
            else:
                ax.barh(y, rows["mu_star"], 0.6, xerr=rows["mu_star_conf"], color="tab:green")
                ax.set_xlabel("Morris μ* (mean |elementary effect|)")
            ax.set_yticks(y, names)
            ax.invert_yaxis()
            ax.set_title(f"{outcome} — {method}", fontsize=10)
            if method == "sobol" and i == 0:
                ax.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(f"Sensitivity: {title}")
    fig.savefig(path, dpi=110)
    return path


def format_table(table: pd.DataFrame) -> str:
    """The indices as a plain-text table (printed by ``habsburg sensitivity``)."""
    return table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
