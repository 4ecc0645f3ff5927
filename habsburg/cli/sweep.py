"""``habsburg sweep`` and ``habsburg sensitivity``.

The experiment modules are imported when a command runs, not when the parser is built, so
``habsburg --help`` does not load the simulator.
"""

from __future__ import annotations

import argparse
import atexit
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from habsburg.cli.flags import again_with_resume
from habsburg.experiments.files import add_to_manifest
from habsburg.scenarios.errors import Interrupted

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

    from habsburg.experiments.sweep.plan import SweepPlan


def add_cluster_flags(p: argparse.ArgumentParser, default: str) -> None:
    """``--scheduler`` and ``--workers``: where the runs execute (``default``: without them)."""
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help=f"a running dask.distributed scheduler (default: {default})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of a local Dask cluster started for this command",
    )


def add_store_dir_flag(p: argparse.ArgumentParser) -> None:
    """``--store-dir DIR`` of the commands that run many scenarios (sweep, sensitivity,
    compare): read with :func:`checked_store_dir`."""
    p.add_argument(
        "--store-dir",
        default=None,
        metavar="DIR",
        help="keep each run's document store in files in a private directory inside DIR "
        "(removed when the run ends) instead of in memory: for runs larger than memory, such "
        "as runs at 100x; same results; not with --scheduler",
    )


def checked_store_dir(args: argparse.Namespace) -> Path | None:
    """``--store-dir``, checked before any work (a directory this process can write; not with
    ``--scheduler``, whose workers may not see it), or None."""
    if args.store_dir is None:
        return None
    from habsburg.experiments.run import check_store_dir
    from habsburg.scenarios.errors import UserError

    if args.scheduler is not None:
        raise UserError(
            "--store-dir is for runs on this machine: a --scheduler's workers may not see the "
            "directory"
        )
    return check_store_dir(args.store_dir)


def _executor_flags(p: argparse.ArgumentParser) -> None:
    add_cluster_flags(p, "a local cluster of one worker process per core")
    p.add_argument(
        "--serial",
        action="store_true",
        help="run one by one in this process, without Dask (same results; for debugging)",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        metavar="F",
        help="scale every run's scenario by F after its settings (habsburg.scenarios.library."
        "scaled: authors, demand, farm output, crawls, budgets, sites); the spec's values are "
        "read at 1x; overrides the spec's own 'scale = F' (default: the spec's, else 1; OUT "
        "defaults to NAME-xF)",
    )
    add_store_dir_flag(p)
    p.add_argument("--resume", action="store_true", help="skip the runs already finished in OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument(
        "--force",
        action="store_true",
        help="run even if a point's projected memory (times the parallel runs) exceeds this "
        "machine's",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a parameter sweep (grid, Latin hypercube or Sobol sample × seeds) on Dask",
        description="Run the sweep a spec TOML describes; one Parquet file per run in OUT/runs/.",
    )
    p.add_argument("spec", metavar="SPEC.toml", help="sweep spec (see examples/sweeps/)")
    p.add_argument("--out", default=None, help="sweep directory (default: results/sweeps/NAME)")
    _executor_flags(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "sensitivity",
        help="Sobol and Morris sensitivity indices (SALib) of scalar outcomes",
        description="Run the Sobol / Morris designs of a sweep spec's parameter ranges and "
        "write the indices (CSV, Parquet, PNG).",
    )
    p.add_argument("spec", metavar="SPEC.toml", help="sweep spec with parameter ranges")
    p.add_argument("--out", default=None, help="directory (default: results/sensitivity/NAME)")
    _executor_flags(p)
    p.set_defaults(func=cmd_sensitivity)


def start_workers_early(args: argparse.Namespace) -> None:
    """Start a local Dask cluster's fork server now, before this command loads the simulator,
    when the options ask for a local cluster (neither ``--serial`` nor ``--scheduler``; whether
    no option means one is the caller's to decide: ``compare`` runs serially then). The fork
    server imports habsburg on one core while this process does the same on the other, instead
    of after it (a small sweep on 2 cores measured 5.2 -> 4.0 s). The fork server is stopped
    when this process exits, so a command that fails before its cluster starts leaves no
    process behind. Call it after the options check
    (:func:`~habsburg.experiments.options.check_executor_options`), which refuses a bad
    ``--workers`` and a local cluster without Dask installed."""
    if getattr(args, "serial", False) or args.scheduler is not None:
        return
    from habsburg.experiments.forkserver import start_fork_server, stop_fork_server

    start_fork_server()
    atexit.unregister(stop_fork_server)  # once, however many commands this process runs
    atexit.register(stop_fork_server)  # runs after Dask's own exit handlers (registered later)


def _check_spec(args: argparse.Namespace) -> None:
    """The spec file, refused when it is missing, unreadable or not TOML before anything heavy
    is imported (its loader reads it again: a pipe's text is kept for it)."""
    from habsburg.experiments.options import SweepError, read_spec

    read_spec(args.spec, "sweep spec", SweepError)


def _check_executor(args: argparse.Namespace) -> None:
    """The executor options of the command line, checked before the spec is loaded and before
    anything heavy is imported (:mod:`habsburg.experiments.options` is light)."""
    from habsburg.experiments.options import check_executor_options

    check_executor_options(scheduler=args.scheduler, workers=args.workers, serial=args.serial)


def _run_options(args: argparse.Namespace) -> dict:
    """The executor and resume options of the command line (:func:`_check_executor` first),
    once the spec is good: ``--store-dir`` is made here when missing, so a refused spec leaves
    no directory behind."""
    store_dir = checked_store_dir(args)
    return {
        "scheduler": args.scheduler,
        "workers": args.workers,
        "serial": args.serial,
        "resume": args.resume,
        "progress": not args.quiet,
        "store_dir": store_dir,
    }


def check_plan_limits(plan: SweepPlan, args: argparse.Namespace) -> None:
    """Refuse, before any run, a plan whose largest point would not fit in memory with as many
    runs at once as the executor runs (``--force`` to try anyway): every point when there are
    at most 256 of them, else the first 256 and the corner of the swept values that needs the
    most memory (a grid's corner is one of its points; a sample's bounds its points)."""
    from habsburg.experiments.limits import LimitError, check_limits, worst_corner
    from habsburg.experiments.options import default_workers
    from habsburg.experiments.sweep.plan import point_scenario
    from habsburg.experiments.sweep.spec import SCALE_PATH

    runs = 1 if args.serial or args.scheduler else (args.workers or default_workers())
    checks = [(scenario, "") for scenario in plan.point_scenarios(limit=256)]
    if not plan.scenarios and len({t.point for t in plan.tasks}) > len(checks):
        scenario, corner = worst_corner(
            plan.swept_ends(),
            lambda settings: point_scenario(plan.base, list(settings.items()), plan.scale),
            plan.steps,
        )
        at = ", ".join(f"{path} = {value!r}" for path, value in corner.items())
        checks.append(
            (scenario, f" (at {at}: the corner of the swept values that needs the most memory)")
        )
    for scenario, where in checks:
        try:
            check_limits(  # with --store-dir: memory for the months crawls reach, disk for
                # every run at once (a sweep keeps no run's tables)
                scenario,
                plan.steps,
                force=args.force,
                runs=runs,
                store_dir=args.store_dir,
                results=False,
                shorten="the spec's 'steps'",  # a sweep has no --steps flag
            )
        except LimitError as err:
            scale = (
                " (the swept 'scale' multiplies the scenario's sizes: smaller factors lower "
                "them all)"
                if SCALE_PATH in plan.parameters
                else ""
                if plan.scale is None
                else f" (the sweep is scaled by {plan.scale:g}, which multiplies the scenario's "
                "sizes: a smaller scale lowers them all)"
            )
            raise LimitError(f"{err}{where}{scale}") from None


def note_undeployed(plan: SweepPlan, what: str) -> None:
    """Say on stderr, before any run, which of ``plan``'s points (``what``: "design points",
    "scenarios") end before any model is deployed: the outcomes read from the deployed models
    will be NaN in their runs (a sensitivity analysis refuses them; a sweep or a comparison of
    other outcomes may mean it)."""
    early = plan.undeployed()
    if early:
        points = len({(t.scenario, t.settings) for t in plan.tasks})
        more = f" (and {len(early) - 1} more of the {points} {what})" if len(early) > 1 else ""
        print(
            f"note: {early[0]}{more}: {', '.join(early[0].outcomes)} will be NaN in their runs "
            "(simulate more months to read them)",
            file=sys.stderr,
        )


def summary_text(summary: pd.DataFrame, settings: Iterable[str]) -> str:
    """A sweep's point summary as printed: the outcome means to four significant digits, the
    swept ``settings`` as the spec's values (up to its 12 significant digits), so no two points
    print alike."""
    formatters = {
        path: lambda v: f"{v:.12g}" if isinstance(v, float) else str(v) for path in settings
    }
    return summary.to_string(index=False, formatters=formatters, float_format=lambda v: f"{v:.4g}")


def _out_dir(args: argparse.Namespace, kind: str, name: str, scale: float | None) -> Path:
    """OUT, or results/KIND/NAME (NAME-xF for a sweep scaled by F, as ``habsburg run`` names
    its scaled runs)."""
    if args.out:
        return Path(args.out)
    return Path("results") / kind / (name if scale is None else f"{name}-x{scale:g}")


def cmd_sweep(args: argparse.Namespace) -> int:
    from habsburg.scenarios.text_schema import spec_is_text

    if spec_is_text(args.spec):  # text mode: its own (serial) runner
        return _cmd_text_sweep(args)

    _check_spec(args)
    _check_executor(args)
    start_workers_early(args)
    # the spec, its plan and the limits, before the executors load the simulator
    from habsburg.experiments.sweep import load_spec, plan_spec, with_scale

    spec = with_scale(load_spec(args.spec), args.scale)
    plan = plan_spec(spec)
    options = _run_options(args)
    check_plan_limits(plan, args)
    if not args.quiet:
        note_undeployed(plan, "design points")
    out = _out_dir(args, "sweeps", spec.name, spec.scale)
    from habsburg.experiments.sweep import point_summary, run_sweep

    try:
        result = run_sweep(plan, out, **options)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; the finished runs are kept in {out}/; finish the sweep with: "
            f"{again_with_resume(args)}"
        ) from None
    if not args.quiet:
        summary = point_summary(result.results, plan)
        if len(summary):
            print(summary_text(summary.head(40), plan.parameters))
            if len(summary) > 40:
                print(f"... {len(summary) - 40} more points in {out}/results.parquet")
        scale = "" if spec.scale is None else f", every run scaled by {spec.scale:g}"
        runs = "1 run" if result.ran == 1 else f"{result.ran} runs"
        print(
            f"\n{runs} ran, {result.skipped} already finished, {result.failed} failed "
            f"({result.seconds:.1f} s{scale}); results: {out}/results.parquet"
        )
        if result.failed:
            print(f"failed runs: {out}/errors/ (retry them with: {again_with_resume(args)})")
    return 1 if result.failed else 0


def _cmd_text_sweep(args: argparse.Namespace) -> int:
    """``habsburg sweep`` of a text scenario: a grid of its settings × seeds, run serially into
    OUT/results.parquet (one row per run)."""
    from habsburg.experiments.text_sweep import (
        load_text_sweep_spec,
        run_text_sweep,
        text_point_summary,
    )
    from habsburg.scenarios.errors import UserError

    for flag, value in (
        ("--scheduler", args.scheduler),
        ("--workers", args.workers),
        ("--scale", args.scale),
        ("--store-dir", args.store_dir),
    ):
        if value is not None:
            raise UserError(f"{flag} does not apply to a text sweep (its runs are serial)")
    if args.resume:
        raise UserError("--resume does not apply to a text sweep (it writes one results file)")
    spec = load_text_sweep_spec(args.spec)
    out = Path(args.out) if args.out else Path("results") / "sweeps" / spec.name
    result = run_text_sweep(spec, out, progress=not args.quiet, force=args.force)
    if not args.quiet:
        summary = text_point_summary(result.results, spec)
        print(summary_text(summary.head(40), spec.paths))
        print(f"\n{spec.runs} text runs ({result.seconds:.1f} s); results: {out}/results.parquet")
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    _check_spec(args)
    _check_executor(args)
    start_workers_early(args)
    from habsburg.experiments.sweep import load_spec, with_scale

    spec = with_scale(load_spec(args.spec, sampled=True), args.scale)  # (before the simulator)
    options = _run_options(args)
    out = _out_dir(args, "sensitivity", spec.name, spec.scale)
    from habsburg.experiments.sensitivity import format_table, run_sensitivity
    from habsburg.reports.sensitivity import write_sensitivity_figure

    try:
        result = run_sensitivity(  # experiments: the designs and the indices
            spec, out, check_plan=lambda plan: check_plan_limits(plan, args), **options
        )
    except KeyboardInterrupt:
        from habsburg.experiments.sweep import MANIFEST

        begun = sorted(d.name for d in out.glob("*") if (d / MANIFEST).is_file())
        if not begun:  # stopped before the first design's runs started
            raise
        raise Interrupted(
            f"interrupted; the finished runs are kept in {out}/ ({', '.join(begun)}); finish "
            f"the analysis with: {again_with_resume(args)}"
        ) from None
    figure = write_sensitivity_figure(result.table, out / "sensitivity.png", spec.name)  # reports
    add_to_manifest(out, [figure.name], command="sensitivity")
    if not args.quiet:
        print(format_table(result.table))
        print(f"\nindices: {out}/sensitivity.csv, figure: {figure}")
    return 0
