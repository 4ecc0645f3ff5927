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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from habsburg.experiments.files import (
    add_to_manifest,
    atomic_write,
    atomic_write_parquet,
    prepare_output_dir,
    read_manifest,
)
from habsburg.experiments.outcomes import OUTCOMES, SCALAR, check_outcomes
from habsburg.experiments.sweep import (
    MANIFEST,
    SweepError,
    SweepPlan,
    SweepSpec,
    check_executor_options,
    check_output,
    load_failures,
    load_results,
    open_executor,
    plan_points,
    run_sweep,
)
from habsburg.experiments.sweep.spec import SENSITIVITY_METHODS as METHODS
from habsburg.experiments.sweep.storage import what_differs
from habsburg.scenarios.errors import ScenarioError

if TYPE_CHECKING:
    from distributed import Client

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
    """Check the spec's ``[sensitivity]`` table (its keys, types and ranges were checked with the
    spec by the schema's code) and that its parameters are numeric ranges."""
    where = f"{spec.source}: sensitivity"
    table = spec.sensitivity
    methods = table.methods
    if not methods or any(m not in METHODS for m in methods) or len(set(methods)) != len(methods):
        raise SweepError(
            f"{where}.methods: expected a list of {', '.join(METHODS)}, got {methods!r}"
        )
    scalars = [o for o in spec.outcomes if OUTCOMES[o].kind == SCALAR]
    chosen = scalars if table.outcomes is None else table.outcomes
    try:
        outcomes = check_outcomes(chosen, f"{where}.outcomes", (SCALAR,))
    except ScenarioError as err:
        raise SweepError(str(err)) from None
    if "sobol" in methods and table.sobol_samples & (table.sobol_samples - 1):
        raise SweepError(
            f"{where}.sobol_samples: the Saltelli/Sobol design needs a power of two, "
            f"got {table.sobol_samples}"
        )
    if "morris" in methods and table.morris_levels % 2:  # SALib only warned, and went on
        raise SweepError(
            f"{where}.morris_levels: the Morris design needs an even number of grid levels "
            f"(an odd number biases the sample: Morris 1991, Campolongo et al. 2007), got "
            f"{table.morris_levels}"
        )
    for i, axis in enumerate(spec.parameters):
        if axis.values is not None or axis.low is None:
            raise SweepError(
                f"{spec.source}: parameters[{i}] ({axis.path!r}): sensitivity needs a numeric "
                "range = [low, high], not a list of values"
            )
        if axis.low == axis.high:
            raise SweepError(f"{spec.source}: parameters[{i}] ({axis.path!r}): the range is empty")
    return SensitivitySettings(
        tuple(methods),
        outcomes,
        table.sobol_samples,
        table.second_order,
        table.morris_trajectories,
        table.morris_levels,
    )


def problem(spec: SweepSpec) -> dict[str, Any]:
    """The SALib problem: one variable per swept setting, bounded by its range (a log axis
    by the log10 of its ends: its indices are those of log10 of the setting)."""
    return {
        "num_vars": len(spec.parameters),
        "names": [a.path for a in spec.parameters],
        "bounds": [list(a.design_bounds) for a in spec.parameters],
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
    points = [{a.path: a.value(x) for a, x in zip(spec.parameters, row, strict=True)} for row in X]
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
        scale=spec.scale,
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
        for j, axis in enumerate(spec.parameters):
            # a log axis's indices are those of log10 of the setting, and say so
            name = f"log10({axis.path})" if axis.log else axis.path
            row: dict[str, Any] = {"outcome": outcome, "parameter": name}
            row.update({c: float(np.asarray(res[c])[j]) for c in COLUMNS[method]})
            rows.append(row)
    return pd.DataFrame(rows)


#: the index tables ``habsburg sensitivity`` writes into ``OUT`` (beside one sweep per design)
OUTPUT_FILES = ("sensitivity.parquet", "sensitivity.csv")


@dataclass
class SensitivityResult:
    out_dir: Path
    table: pd.DataFrame  # one row per (outcome, parameter)
    runs: int


def check_deployment(plan: SweepPlan, outcomes: Sequence[str], source: str) -> None:
    """Refuse (:class:`SweepError`) a design with a point whose months end before any of its
    models is deployed while an outcome reads the deployed models
    (:meth:`~habsburg.experiments.sweep.plan.SweepPlan.undeployed`): that outcome would be NaN
    in its runs, and the indices undefined, which the analysis could only say after every run."""
    early = plan.undeployed(outcomes)
    if early:
        raise SweepError(
            f"{source}: {early[0]}: {', '.join(early[0].outcomes)} would be NaN in them; "
            "simulate more months (steps) or leave those outcomes out of [sensitivity] outcomes"
        )


def check_designs(
    out_dir: Path,
    designs: dict[str, str],
    resume: bool,
    plans: dict[str, SweepPlan] | None = None,
) -> None:
    """Refuse (:class:`SweepError`) an output directory that holds the designs of another
    sensitivity analysis (another spec, scenario or methods: its runs would sit beside this
    one's, or be mistaken for them; the settings that differ from ``plans``, this analysis's
    designs by method, are named), or, without ``resume``, this one's finished runs."""
    begun = [m for m in METHODS if (out_dir / m / MANIFEST).is_file()]  # its sweeps there
    if not begun:  # (stopped before its first run: nothing to mistake or mix)
        return
    held = (read_manifest(out_dir) or {}).get("designs")
    if not isinstance(held, dict):  # (from before the designs were recorded)
        held = dict.fromkeys(begun)
    if set(held) != set(designs) or any(
        held[m] is not None and held[m] != designs[m] for m in held
    ):
        what = ""
        for method, plan in (plans or {}).items():
            kept = read_manifest(out_dir / method) if method in begun else None
            what = what_differs(kept, plan, otherwise="") if kept else ""
            if what:
                break
        raise SweepError(
            f"--out {str(out_dir)!r} holds the sensitivity analysis of another spec, scenario or "
            f"methods ({', '.join(sorted(held))}{'; ' + what if what else ''}); choose another "
            "--out"
        )
    if not resume:
        raise SweepError(
            f"--out {str(out_dir)!r} holds this analysis's runs ({', '.join(begun)}); pass "
            "--resume to finish it, or choose another --out"
        )


def run_sensitivity(
    spec: SweepSpec,
    out: str | Path,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    resume: bool = False,
    progress: bool = True,
    check_plan: Callable[[SweepPlan], None] | None = None,
    store_dir: str | Path | None = None,
) -> SensitivityResult:
    """Run the designs of ``spec`` (each a sweep in ``OUT/<method>/``) and write the indices:
    ``OUT/sensitivity.csv`` / ``.parquet`` (their figure:
    :func:`habsburg.reports.sensitivity.write_sensitivity_figure`). ``store_dir``: each run's
    store in files there (:func:`~habsburg.experiments.sweep.run_sweep`)."""
    settings = sensitivity_settings(spec)
    out_dir = Path(out)
    plans = {m: design_plan(spec, settings, m) for m in settings.methods}  # all validated first
    if check_plan is not None:  # e.g. the CLI's memory projection, before any work
        for plan, _ in plans.values():
            check_plan(plan)
    for plan, _ in plans.values():
        check_deployment(plan, settings.outcomes, spec.source)
    check_executor_options(scheduler=scheduler, workers=workers, serial=serial, client=client)
    prepare_output_dir(
        out_dir, command="sensitivity", expect=OUTPUT_FILES, can_force=False
    )  # never a user's file
    designs = {m: plan.fingerprint for m, (plan, _) in plans.items()}
    check_designs(out_dir, designs, resume, {m: plan for m, (plan, _) in plans.items()})
    # the directory is habsburg's from now on, and this analysis's
    add_to_manifest(out_dir, [], command="sensitivity", record={"designs": designs})
    pending = False
    for method, (plan, _) in plans.items():
        done = check_output(plan, out_dir / method, resume)
        pending = pending or len(done) < len(plan.tasks)
    runs = 0
    tables = []
    with open_executor(
        client=client,
        scheduler=scheduler,
        workers=workers,
        serial=serial,
        needed=pending,
        file_stores=store_dir is not None,
    ) as executor:  # one cluster for every design
        for method, (plan, X) in plans.items():
            result = run_sweep(
                plan,
                out_dir / method,
                executor=executor,
                resume=resume,
                progress=progress,
                store_dir=store_dir,
            )
            runs += result.ran
            Y = point_means(out_dir / method, plan, settings.outcomes)
            tables.append(analyze(spec, settings, method, X, Y))
    table = tables[0]
    for extra in tables[1:]:
        table = table.merge(extra, on=["outcome", "parameter"], how="outer")
    atomic_write_parquet(table, out_dir / "sensitivity.parquet")
    atomic_write(out_dir / "sensitivity.csv", lambda p: table.to_csv(p, index=False))
    add_to_manifest(out_dir, OUTPUT_FILES, command="sensitivity")
    return SensitivityResult(out_dir, table, runs)


def format_table(table: pd.DataFrame) -> str:
    """The indices as a plain-text table (printed by ``habsburg sensitivity``): four significant
    digits, since Morris μ*, μ and σ are in the outcome's units (a share's can be 0.0004)."""
    return table.to_string(index=False, float_format=lambda v: f"{v:.4g}")
