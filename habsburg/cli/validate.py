"""``habsburg validate``: the published results (README, "Validation") reproduced with the simulator's code."""

from __future__ import annotations

import argparse
from pathlib import Path

from habsburg.cli.flags import integer
from habsburg.cli.run import check_seed
from habsburg.experiments.files import prepare_output_dir
from habsburg.scenarios.errors import UserError

#: the most seeds ``--seeds`` runs (full mode takes ~10 s a seed without V5)
MAX_SEEDS = 10_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="reproduce the published results (V1–V6, README 'Validation') with the simulator's own code",
        description="Run checks V1–V6 against the project's learners, watermark scheme and "
        "calibrated baseline; print the table (each row marked evidence, calibration or "
        "prediction: an out-of-sample published point, inside or outside its interval, never a "
        "failure), write validation.md and validation.csv, exit 1 if a check fails.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer replicates; fixed tolerances widened by 3 standard errors",
    )
    p.add_argument(
        "--out",
        default="results/validation",
        help="directory for validation.md / validation.csv (default: results/validation)",
    )
    p.add_argument(
        "--only",
        default=None,
        metavar="V1,V3",
        help="run only these check groups (V1–V6)",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="Monte Carlo seed (default: the suite's own)"
    )
    p.add_argument(
        "--seeds",
        type=integer(2, MAX_SEEDS),
        default=None,
        metavar="N",
        help="repeat the suite on N seeds (--seed, --seed + 1, ...; V5, which does not depend on "
        "the seed, left out) and test whether any row fails more often than its level allows "
        "by chance; writes validation_seeds.md and validation_seeds.csv, exit 1 if one does",
    )
    p.add_argument(
        "--workers",
        type=integer(1),
        default=None,
        metavar="W",
        help="with --seeds: run the seeds on a local Dask cluster of W processes (the 'sweep' "
        "extra; the same table as a serial run)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--force",
        action="store_true",
        help="write into an --out directory holding other files (they are never deleted or "
        "replaced)",
    )
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    # the validation suite (scipy, the simulator) loads when it runs, not for --help
    from habsburg.experiments.validation.output import OUTPUT_FILES, format_table, write_outputs
    from habsburg.experiments.validation.runner import DEFAULT_SEED, parse_only, run_validation

    groups = parse_only(args.only)
    if args.seed is None:
        args.seed = DEFAULT_SEED
    check_seed(args.seed)
    if args.seeds is not None:
        return repeat(args, groups)
    if args.workers is not None:
        raise UserError("--workers runs the seeds of --seeds N in parallel; add --seeds N")
    out = Path(args.out)
    # before any work
    prepare_output_dir(out, command="validate", force=args.force, expect=OUTPUT_FILES, create=False)
    report = run_validation(groups, quick=args.quick, seed=args.seed, progress=not args.quiet)
    print(format_table(report))
    paths = write_outputs(report, out)
    print(f"written: {', '.join(str(p) for p in paths)}")
    return 0 if report.passed else 1


def repeat(args: argparse.Namespace, groups: list[str]) -> int:
    """``--seeds N``: the suite on N seeds, each row's failures against its false-failure rate."""
    from habsburg.experiments.validation.repeat import (
        REPEAT_FILES,
        format_repeat,
        repeat_groups,
        repeat_validation,
        write_repeat,
    )

    groups = repeat_groups(groups)
    check_seed(args.seed + args.seeds - 1)  # the last seed too
    if args.workers is not None and args.workers > 1:
        from habsburg.experiments.options import check_dask_installed

        check_dask_installed()
    out = Path(args.out)
    prepare_output_dir(out, command="validate", force=args.force, expect=REPEAT_FILES, create=False)
    seeds = range(args.seed, args.seed + args.seeds)
    report = repeat_validation(
        groups, seeds, quick=args.quick, progress=not args.quiet, workers=args.workers
    )
    print(format_repeat(report))
    paths = write_repeat(report, out)
    print(f"written: {', '.join(str(p) for p in paths)}")
    return 0 if report.passed else 1
