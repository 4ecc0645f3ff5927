"""``habsburg report`` and ``habsburg compare``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from habsburg.cli.flags import again_with_resume
from habsburg.cli.run import (
    add_scale_argument,
    check_seed,
    scale_scenario,
    scaled_limit,
)
from habsburg.cli.sweep import (
    add_cluster_flags,
    add_store_dir_flag,
    checked_store_dir,
    note_undeployed,
    start_workers_early,
)
from habsburg.scenarios.errors import Interrupted, LimitError

#: confidence level of the intervals ``habsburg compare`` reports
CONFIDENCE = 0.95


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write figures, report.md and report.html for a finished run",
        description="Analyse a results directory written by `habsburg run` and write figures/, "
        "report.md and a self-contained report.html into it (for a text-mode run: "
        "text_report.md and its figures).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="results directory of `habsburg run`")
    p.add_argument(
        "--counterfactual",
        action="store_true",
        help="also rerun the scenario on the same seed with the AI filters (watermark detector, "
        "classifier) off and report the difference (takes as long as the run)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or output")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "compare",
        help="paired what-if comparison of scenarios over seeds, with confidence intervals",
        description="Run BASE and each ALT on the same replicate seeds (derived from BASE's seed, "
        "as in a sweep) and report each outcome's difference from BASE with a paired t "
        "confidence interval.",
    )
    p.add_argument("base", metavar="BASE", help="library scenario name or TOML file")
    p.add_argument("alternatives", nargs="+", metavar="ALT", help="scenarios to compare")
    p.add_argument("--seeds", type=int, default=5, help="runs per scenario (default 5)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed the replicate seeds derive from (default: BASE's seed)",
    )
    p.add_argument("--steps", type=int, default=None, help="months to simulate (default: all)")
    add_scale_argument(p, "BASE and every ALT alike, each named NAME-xF")
    p.add_argument(
        "--out", default=None, help="output directory (default: results/compare-BASE-vs-ALT)"
    )
    add_cluster_flags(p, "serially in this process")
    add_store_dir_flag(p)
    p.add_argument(
        "--posterior",
        default=None,
        metavar="CALIB_DIR",
        help="replicate r of every scenario runs on posterior draw r of this `habsburg "
        "calibrate` directory (and replicate seed r), so the paired differences carry "
        "calibration uncertainty",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish an interrupted comparison in OUT: its finished runs (kept in "
        "OUT/.habsburg-compare-runs until the comparison is written) are not run again",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.add_argument(
        "--force",
        action="store_true",
        help="write into an --out directory holding other files (they are never deleted or "
        "replaced) and run even if a scenario's projected memory exceeds this machine's",
    )
    p.set_defaults(func=cmd_compare)


def cmd_report(args: argparse.Namespace) -> int:
    from habsburg.experiments.locks import hold_output_lock
    from habsburg.experiments.results_check import check_results_dir

    # before any work, and before the simulator and the plotting stack load (~1.4 s): a run
    # still writing, a missing, damaged or other-version results directory are named errors
    hold_output_lock(args.run_dir, f"habsburg report: {args.run_dir!r}", "")
    check_is_run(args.run_dir)
    manifest = check_results_dir(args.run_dir)
    if manifest.get("mode") == "text":
        return _text_report(args)
    from habsburg.analysis.results import COUNTERFACTUAL_TABLE, Run
    from habsburg.experiments.counterfactual import rerun_counterfactual
    from habsburg.reports.report import check_report_files, write_report

    run = Run(args.run_dir)
    more = [f"{COUNTERFACTUAL_TABLE}.parquet"] if args.counterfactual else []
    check_report_files(run.dir, more)  # before the analysis (and the counterfactual's run)
    if args.counterfactual:
        scenario = run.scenario_config()
        table = rerun_counterfactual(
            scenario,
            seed=run.seed,
            steps=run.steps if run.steps is not None else scenario.steps,
            stored_metrics=run.table("model_metrics"),
            progress=not args.quiet,
        )
        run.write_table(COUNTERFACTUAL_TABLE, table)
    path = write_report(run.dir)
    if not args.quiet:
        print(f"report: {path} and {path.with_suffix('.html')}")
    return 0


def check_is_run(directory: str) -> None:
    """Refuse the results of another command (a comparison, a sweep, a calibration), which
    ``habsburg report`` cannot read, naming the command, instead of a table they never had."""
    from habsburg.experiments.files import output_owners
    from habsburg.scenarios.errors import ResultsDirError

    owners = output_owners(directory)
    if owners and "run" not in owners:
        raise ResultsDirError(
            f"{directory!r} holds the results of `habsburg {sorted(owners)[0]}`, not of a run: "
            "`habsburg report` reads the directories `habsburg run` writes (results/NAME); "
            "comparisons and calibrations write their own reports"
        )


def _text_report(args: argparse.Namespace) -> int:
    """``habsburg report`` of a text-mode run (``habsburg run text_...``): its text report."""
    from habsburg.experiments.results_check import check_results_dir
    from habsburg.reports.text_report import TABLES, write_text_report
    from habsburg.scenarios.errors import UserError

    if args.counterfactual:
        raise UserError(
            f"--counterfactual: not available for the text-mode run in {str(args.run_dir)!r} "
            "(its detectors' scores are in text_watermark_scores and text_classifier_scores)"
        )
    check_results_dir(args.run_dir, tables=TABLES)
    path = write_text_report(args.run_dir)
    if not args.quiet:
        print(f"report: {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Run the comparison (experiments), pair the runs (analysis), write the report (reports)."""
    from habsburg.scenarios.text_schema import check_text_comparison

    if check_text_comparison([args.base, *args.alternatives]):  # text mode: its own runner
        return _cmd_text_compare(args)
    from habsburg.scenarios.library import load_scenario

    # the scenarios and --scale before anything loads the simulator: a misspelt name is quick
    base = scale_scenario(load_scenario(args.base), args)
    alternatives = [scale_scenario(load_scenario(a), args) for a in args.alternatives]
    from habsburg.experiments.options import check_comparison, check_executor_options  # (light)

    steps = check_comparison(base, alternatives, args.seeds, args.steps)
    serial = args.scheduler is None and args.workers is None
    check_executor_options(scheduler=args.scheduler, workers=args.workers, serial=serial)
    seed = base.seed if args.seed is None else check_seed(args.seed)
    if args.workers is not None:
        start_workers_early(args)  # a local cluster: its fork server imports while we do
    from habsburg.analysis.compare import paired_differences
    from habsburg.experiments.compare import (
        KEPT_RUNS,
        compare,
        cut_short,
        discard_kept_runs,
    )
    from habsburg.experiments.limits import check_limits
    from habsburg.reports.compare import (
        format_differences,
        prepare_comparison_dir,
        write_comparison,
    )

    if not args.quiet and args.steps is None:  # cut to the shortest scenario's length
        for line in cut_short(base, alternatives, steps):
            print(f"note: {line}", file=sys.stderr)
    if not args.quiet:  # scenarios whose runs end before a model is deployed (one seed suffices)
        from habsburg.experiments.compare import comparison_plan

        note_undeployed(comparison_plan(base, alternatives, 1, args.steps), "scenarios")
    posterior, scaled = None, None
    if args.posterior is not None:  # before any work: the directory, its posterior, the settings
        from habsburg.experiments.bands import draw_settings, own_settings_note, scaled_settings
        from habsburg.experiments.compare import comparison_plan

        # each scenario its own draws: the same particles, without the fitted settings it sets
        posterior = [
            draw_settings(args.posterior, sc, args.seeds, seed) for sc in (base, *alternatives)
        ]
        comparison_plan(base, alternatives, args.seeds, args.steps, posterior, seed=seed)
        for sc in (base, *alternatives):  # (also with --quiet: it changes what runs)
            note = own_settings_note(args.posterior, sc)
            if note:
                print(f"note: --posterior: {note}", file=sys.stderr)
        scaled = {sc.name: scaled_settings(args.posterior, sc) for sc in (base, *alternatives)}
    store_dir = checked_store_dir(args)
    runs = 1 if serial or args.scheduler else args.workers
    for scenario in (base, *alternatives):  # before any work
        try:  # with --store-dir: memory for the months crawls reach, disk for every run at once
            check_limits(
                scenario,
                args.steps,
                force=args.force,
                runs=runs,
                store_dir=store_dir,
                results=False,  # the comparison keeps no run's tables
            )
        except LimitError as err:
            raise scaled_limit(err, args) from None
    out = (
        Path(args.out)
        if args.out
        else Path("results") / f"compare-{base.name}-vs-{'-'.join(a.name for a in alternatives)}"
    )
    made = not out.exists()
    prepare_comparison_dir(out, force=args.force)
    kept = out / KEPT_RUNS  # each finished run, until the comparison is written
    if args.resume and not kept.exists() and not args.quiet:
        print(
            f"note: --resume: {out} holds no interrupted comparison; every run runs",
            file=sys.stderr,
        )
    try:
        result = compare(
            base,
            alternatives,
            seeds=args.seeds,
            seed=seed,
            steps=args.steps,
            progress=not args.quiet,
            scheduler=args.scheduler,
            workers=args.workers,
            posterior=posterior,
            store_dir=store_dir,
            keep=kept,
            resume=args.resume,
        )
    except BaseException as err:
        # failed before any run was kept (a scheduler out of reach): leave no empty directory
        for directory in (kept, out) if made else (kept,):
            with contextlib.suppress(OSError):  # (not empty: runs to resume from)
                directory.rmdir()
        if not isinstance(err, KeyboardInterrupt):
            raise
        from habsburg.experiments.sweep import MANIFEST, finished_runs

        if not (kept / MANIFEST).is_file():  # stopped before the first run started
            raise
        raise Interrupted(
            f"interrupted; the runs that finished ({len(finished_runs(kept))}) are kept in "
            f"{kept}/; finish the comparison with: {again_with_resume(args)}"
        ) from None
    differences = paired_differences(result.runs, result.base, CONFIDENCE, result.descriptions)
    write_comparison(result, differences, out, CONFIDENCE, args.posterior, scaled)
    discard_kept_runs(kept)  # (the comparison's tables hold them now)
    if not args.quiet:
        print(format_differences(differences, result.base, len(result.seeds), f"{CONFIDENCE:.0%}"))
        if posterior is not None:
            print(f"\nreplicate r of every scenario ran on posterior draw r of {args.posterior}")
        print(f"\n* the interval excludes 0\nresults: {out}/ (report.md, report.html)")
    return 0


def _cmd_text_compare(args: argparse.Namespace) -> int:
    """``habsburg compare`` of text scenarios: serial runs over replicate seeds, the text
    outcomes' paired differences, runs.parquet / differences.parquet / report.md."""
    from habsburg.scenarios.errors import UserError

    for flag, value in (  # (before the heavy imports: a refusal is quick and writes nothing)
        ("--steps", args.steps),
        ("--scheduler", args.scheduler),
        ("--posterior", args.posterior),
        ("--scale", args.scale),
        ("--store-dir", args.store_dir),
    ):
        if value is not None:
            raise UserError(
                f"{flag} does not apply to text scenarios (they run serially, every generation)"
            )
    if args.resume:
        raise UserError(
            "--resume does not apply to text scenarios (a text comparison keeps no runs until "
            "it is written)"
        )
    if args.workers is not None:
        raise UserError("--workers does not apply to text scenarios (they run serially)")
    from habsburg.analysis.compare import paired_differences
    from habsburg.experiments.text_compare import text_compare
    from habsburg.reports.compare import format_differences
    from habsburg.reports.text_compare import prepare_text_comparison_dir, write_text_comparison
    from habsburg.scenarios.text_schema import load_text_scenario

    base = load_text_scenario(args.base)
    alternatives = [load_text_scenario(a) for a in args.alternatives]
    out = (
        Path(args.out)
        if args.out
        else Path("results") / f"compare-{base.name}-vs-{'-'.join(a.name for a in alternatives)}"
    )
    prepare_text_comparison_dir(out, force=args.force)  # before any work
    seed = None if args.seed is None else check_seed(args.seed)
    result = text_compare(base, alternatives, seeds=args.seeds, seed=seed, progress=not args.quiet)
    differences = paired_differences(result.runs, result.base, CONFIDENCE, result.descriptions)
    write_text_comparison(result, differences, out, CONFIDENCE)
    if not args.quiet:
        print(format_differences(differences, result.base, len(result.seeds), f"{CONFIDENCE:.0%}"))
        print(f"\n* the interval excludes 0\nresults: {out}/ (report.md, report.html)")
    return 0
