"""``habsburg report`` and ``habsburg compare``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write figures, report.md and report.html for a finished run",
        description="Analyse a results directory written by `habsburg run` and write figures/, "
        "report.md and a self-contained report.html into it.",
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
        description="Run BASE and each ALT on the same seeds (BASE's seed + 0..N-1) and report "
        "each outcome's difference from BASE with a paired t confidence interval.",
    )
    p.add_argument("base", metavar="BASE", help="library scenario name or TOML file")
    p.add_argument("alternatives", nargs="+", metavar="ALT", help="scenarios to compare")
    p.add_argument("--seeds", type=int, default=5, help="runs per scenario (default 5)")
    p.add_argument("--steps", type=int, default=None, help="months to simulate (default: all)")
    p.add_argument(
        "--out", default=None, help="output directory (default: results/compare-BASE-vs-ALT)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.set_defaults(func=cmd_compare)


def cmd_report(args: argparse.Namespace) -> int:
    from habsburg.reports.report import Run, run_counterfactual, write_report

    Run(args.run_dir)  # a named error before any work when RUN_DIR is not a run
    if args.counterfactual:
        run_counterfactual(Path(args.run_dir), progress=not args.quiet)
    path = write_report(Path(args.run_dir))
    if not args.quiet:
        print(f"report: {path} and {path.with_suffix('.html')}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from habsburg.experiments.compare import check_comparison, compare
    from habsburg.reports.document import sig
    from habsburg.scenarios.library import load_scenario

    base = load_scenario(args.base)
    alternatives = [load_scenario(a) for a in args.alternatives]
    check_comparison(base, alternatives, args.seeds, args.steps)
    out = (
        Path(args.out)
        if args.out
        else Path("results") / f"compare-{base.name}-vs-{'-'.join(a.name for a in alternatives)}"
    )
    result = compare(
        base, alternatives, seeds=args.seeds, steps=args.steps, out=out, progress=not args.quiet
    )
    if not args.quiet:
        d = result.differences
        width = max((len(x) for x in d["outcome"]), default=10)
        print(f"difference from {result.base} (paired over {len(result.seeds)} seeds, 95% CI)")
        for scenario, g in d.groupby("scenario", sort=False):
            print(f"\n{scenario}")
            for r in g.itertuples(index=False):
                mark = " *" if r.excludes_zero else ""
                print(
                    f"  {r.outcome:<{width}}  {sig(r.difference):>10}  "
                    f"[{sig(r.ci_low)}, {sig(r.ci_high)}]{mark}"
                )
        print(f"\n* the interval excludes 0\nresults: {out}/ (report.md, report.html)")
    return 0
