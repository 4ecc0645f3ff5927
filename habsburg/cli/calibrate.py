"""``habsburg calibrate SPEC.toml``: ABC-SMC calibration to the published web measurements."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from habsburg.cli.flags import typed_command
from habsburg.cli.sweep import add_cluster_flags, start_workers_early
from habsburg.scenarios.errors import Interrupted


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="estimate uncertain settings from the published measurements (ABC-SMC, pyabc)",
        description="Fit a scenario's uncertain settings to the web measurements published for "
        "months up to 2024-12 by ABC-SMC (pyabc on Dask). Writes the posterior (Parquet), "
        "diagnostics, a pairwise posterior plot, a calibrated scenario file, posterior-"
        "predictive runs and every published point against them. Resumes a killed run.",
    )
    p.add_argument("spec", metavar="SPEC.toml", help="calibration spec (see examples/calibration/)")
    p.add_argument("--out", default=None, help="directory (default: results/calibration/NAME)")
    add_cluster_flags(p, "a local cluster of one worker process per core")
    p.add_argument("--serial", action="store_true", help="run in this process, without Dask")
    p.add_argument(
        "--restart", action="store_true", help="discard the history in OUT instead of resuming"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write into a directory holding other files, and run even if the prior ranges "
        "reach runs projected to exceed this machine's memory",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from habsburg.experiments.options import check_executor_options, read_spec  # (light)

    # a spec missing, unreadable or not TOML: refused before the fork server starts or anything
    # loads (as its loader refuses it, CalibrationError's message without importing it)
    read_spec(args.spec, "calibration spec")

    check_executor_options(scheduler=args.scheduler, workers=args.workers, serial=args.serial)
    start_workers_early(args)
    # the spec's settings, priors and targets, before the simulator loads (the spec module is
    # light: it loads the model's metrics only for a spec's own [[targets]])
    from habsburg.experiments.calibration.spec import load_spec

    spec = load_spec(args.spec)
    from habsburg.experiments.calibrate import calibrate  # heavy: loaded when it runs

    out = Path(args.out) if args.out else Path("results") / "calibration" / spec.name
    try:
        result = calibrate(
            spec,
            out,
            scheduler=args.scheduler,
            workers=args.workers,
            serial=args.serial,
            restart=args.restart,
            force=args.force,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        from habsburg.experiments.calibrate import DB_NAME, finished_generations

        if not (out / DB_NAME).is_file():  # stopped before the history was made
            raise
        how = typed_command(args, drop="--restart") or "the same command"  # (not discarding)
        raise Interrupted(
            f"interrupted; the generations finished ({finished_generations(out)}) are kept in "
            f"{out / DB_NAME}; resume with: {how}"
        ) from None
    from habsburg.experiments.calibration.outputs import THIN_SHARE, last_generation_line

    line, thin = last_generation_line(result.diagnostics)
    if thin:  # (also with --quiet: it says how far to trust the posterior)
        print(
            f"note: {line}, under {THIN_SHARE:.0%}: the posterior's medians and intervals rest on "
            "a few heavily weighted particles; a higher [abc] quantile (a slower schedule of "
            "thresholds) or more generations spreads the weights",
            file=sys.stderr,
        )
    if not args.quiet:
        print(result.summary.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
        print(line)
        if len(result.predictions):
            cols = [
                "study",
                "month",
                "role",
                "published",
                "simulated_median",
                "simulated_q05",
                "simulated_q95",
                "agrees",
            ]
            print(result.predictions[cols].to_string(index=False, float_format="{:.3f}".format))
        print(f"wrote {out}: {', '.join(result.files)}")
    return 0
