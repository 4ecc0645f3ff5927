"""``habsburg run`` and ``habsburg scenarios``."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from habsburg.scenarios.errors import LimitError, UserError

#: posterior draws `habsburg run --posterior` runs unless --draws says otherwise
DEFAULT_DRAWS = 50

if TYPE_CHECKING:
    from habsburg.experiments.sweep.plan import SweepPlan
    from habsburg.scenarios.schema import Scenario


def add_scenario_argument(p: argparse.ArgumentParser) -> None:
    """The optional SCENARIO argument (library name or TOML file) of ``run`` and ``viz``."""
    p.add_argument(
        "scenario",
        nargs="?",
        default="baseline",
        metavar="NAME|FILE",
        help="library scenario name or TOML file (default: baseline)",
    )


def add_scale_argument(p: argparse.ArgumentParser, example: str) -> None:
    """``--scale F`` (``habsburg run``, ``habsburg compare``): the scenarios scaled by F."""
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        metavar="F",
        help="run the scenarios scaled by F (habsburg.scenarios.library.scaled): human authors, AI "
        "demand, farm output, crawl sizes, training budgets and, from F = 1 up, the sites "
        f"multiplied by F, the world's concepts and facts kept; {example} (default: 1)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a scenario and write results + report",
        description="Run a library scenario (by name) or a scenario file.",
    )
    add_scenario_argument(p)
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    p.add_argument("--steps", type=int, default=None, help="months to simulate (default: all)")
    add_scale_argument(p, "e.g. --scale 100 --store-dir DIR for ~200 M documents")
    p.add_argument(
        "--out", default=None, help="results directory (default: results/NAME, NAME-xF scaled)"
    )
    p.add_argument("--no-report", action="store_true", help="skip report.md / report.html")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="checkpoint the model every N months to OUT/.checkpoint.pkl (removed at the end; "
        "with --store-dir it refers to the store's column files, which are then kept in "
        "DIR/habsburg-store-run-* until the run finishes)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/.checkpoint.pkl if it exists (same results as an uninterrupted "
        "run; only checkpoints written by you, for this scenario, seed and version, are loaded)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write into an --out directory holding other files (they are never deleted or "
        "replaced) and run even if the projected memory exceeds this machine's",
    )
    p.add_argument(
        "--store-dir",
        default=None,
        metavar="DIR",
        help="keep the document store's columns in files in a private directory inside DIR "
        "(removed at the end) instead of in memory: only the months crawls can reach stay in "
        "memory, for runs larger than memory such as scaled(baseline, 100); same results "
        "(with --checkpoint-every, resumable: give the same DIR with --resume)",
    )
    p.add_argument(
        "--posterior",
        default=None,
        metavar="CALIB_DIR",
        help="after the run, run --draws posterior draws of the scenario (settings from the "
        "posterior of this `habsburg calibrate` directory) and write their 5-95%% band "
        "(bands.parquet), which the report draws",
    )
    p.add_argument(
        "--draws",
        type=int,
        default=None,
        metavar="N",
        help=f"posterior draws for --posterior (default: {DEFAULT_DRAWS})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="run the posterior draws on a local Dask cluster of N processes (default: serial)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "scenarios",
        help="list the scenario library, or print one scenario in full",
        description="List the scenario library. With NAME|FILE, print that scenario as TOML "
        "with every setting written out (a file that starts from another, expanded): what a run "
        "of it is made of, and a starting point for a file of your own. With two, print the "
        "settings in which the second differs from the first, or with --as-changes the second "
        "as a file that starts from the first.",
    )
    p.add_argument(
        "scenario",
        nargs="*",
        metavar="NAME|FILE",
        help="library scenario name or scenario file to print in full (text-mode scenarios: "
        "their file as it is); two: the settings in which the second differs from the first",
    )
    p.add_argument(
        "--as-changes",
        action="store_true",
        help="with two scenarios BASE and OTHER: print OTHER as a file that starts from BASE "
        "(scenario = BASE, [remove], [set], [[add.LIST]] and its own interventions), checked to "
        "load to OTHER setting for setting: a whole copy of a scenario made into one that "
        "follows BASE when BASE changes (a relative BASE path is looked for beside the file "
        "first, then from where it runs)",
    )
    p.set_defaults(func=cmd_scenarios)


def cmd_run(args: argparse.Namespace) -> int:
    # the scenario and the flags are checked before the simulator loads (~1 s): a refusal of
    # a misspelt name, a missing file or a bad flag is quick
    from habsburg.experiments.limits import check_steps
    from habsburg.scenarios.library import load_scenario
    from habsburg.scenarios.text_schema import is_text_scenario

    if args.seed is not None:
        check_seed(args.seed)
    if is_text_scenario(args.scenario):
        return run_text(args)
    scenario = scale_scenario(load_scenario(args.scenario), args)
    check_steps(scenario, args.steps)
    band_plan = posterior_band_plan(args, scenario)  # a bad --posterior fails before any run
    from habsburg.experiments.run import run_scenario

    report: Callable[[Path], Path] | None = None
    if not args.no_report:
        # (matplotlib, for the report, only once the flags are checked: a refusal stays quick;
        # and not at all without a report, ~0.8 s)
        from habsburg.reports.report import write_report as report

    out = Path(args.out) if args.out else Path("results") / scenario.name
    try:
        result = run_scenario(
            scenario,
            seed=args.seed,
            steps=args.steps,
            out=out,
            progress=not args.quiet,
            finish=None if band_plan is not None else report,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            force=args.force,
            resume_command=resume_command(args, out),
            store_dir=args.store_dir,
            keep_model=False,  # the report runs without the simulation's memory
        )
    except LimitError as err:
        raise scaled_limit(err, args) from None
    if band_plan is not None:
        write_bands(args, band_plan, out)
        if report is not None:
            report(out)
    if not args.quiet:
        print(result.summary)
        print(f"\nresults: {out}/ ({result.seconds:.1f} s)")
    return 0


def check_seed(seed: int) -> int:
    """A ``--seed`` value (``run``, ``compare``, ``validate``), refused outside a scenario's own
    ``seed`` range (0 to 2^63 − 1), so a run's recorded scenario reads back."""
    from habsburg.scenarios.declare import MAX_SEED

    if not 0 <= seed <= MAX_SEED:
        raise UserError(
            f"--seed must be between 0 and {MAX_SEED} (a scenario's seed range), got {seed}"
        )
    return seed


def scale_scenario(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    """``scenario`` scaled by ``--scale`` (as :func:`~habsburg.scenarios.library.scaled` does;
    unchanged without it or at 1), the flag checked first."""
    from habsburg.experiments.limits import MAX_SCALE
    from habsburg.scenarios.library import scaled

    factor = args.scale
    if factor is None:
        return scenario
    if not (math.isfinite(factor) and factor > 0):
        raise UserError(f"--scale must be a finite number > 0, got {factor:g}")
    if factor > MAX_SCALE:  # (1e308 made every size infinite: an OverflowError)
        raise UserError(f"--scale must be at most {MAX_SCALE:g} (as in a sweep), got {factor:g}")
    if args.posterior is not None:
        raise UserError(
            "--scale cannot be combined with --posterior: the posterior's settings were "
            "calibrated at the scenario's own scale, and --scale multiplies some of them "
            "(demand.adoption.ceiling, for one); drop one of them"
        )
    return scenario if factor == 1 else scaled(scenario, factor)


def scaled_limit(err: LimitError, args: argparse.Namespace) -> LimitError:
    """A scenario too large for this machine: with ``--scale``, the sizes it names are the
    scenario's times F, and a smaller ``--scale`` lowers them all."""
    if args.scale is None:
        return err
    return LimitError(
        f"{err} (--scale {args.scale:g} multiplies the scenario's sizes: a smaller --scale "
        "lowers them all)"
    )


def posterior_band_plan(args: argparse.Namespace, scenario: Scenario) -> SweepPlan | None:
    """The posterior draws ``--posterior`` asks for, checked (directory, posterior, settings,
    --draws, --workers) before any run; ``None`` without ``--posterior``."""
    if args.posterior is None:
        for flag, value in (("--draws", args.draws), ("--workers", args.workers)):
            if value is not None:
                raise UserError(
                    f"{flag} is for the posterior draws: it needs --posterior CALIB_DIR"
                )
        return None
    from habsburg.experiments.bands import draw_settings, own_settings_note, posterior_plan

    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    seed = scenario.seed if args.seed is None else args.seed
    draws = DEFAULT_DRAWS if args.draws is None else args.draws
    settings = draw_settings(args.posterior, scenario, draws, seed)
    note = own_settings_note(args.posterior, scenario)
    if note:  # (also with --quiet: it changes what the draws run)
        print(f"note: --posterior: {note}", file=sys.stderr)
    return posterior_plan(scenario, settings, seed=seed, steps=args.steps)


def write_bands(args: argparse.Namespace, plan: SweepPlan, out: Path) -> None:
    """Run the posterior draws and add their band (``bands.parquet``) to the run directory."""
    from habsburg.experiments.bands import (
        BANDS_TABLE,
        band_table,
        own_settings,
        run_posterior_draws,
        scaled_settings,
    )
    from habsburg.experiments.files import save_outputs, write_parquet

    if not args.quiet:
        print(f"posterior band: {len(plan.tasks)} draws from {args.posterior}")
    series = run_posterior_draws(plan, progress=not args.quiet, workers=args.workers)
    bands = band_table(series)
    save_outputs(
        out,
        {f"{BANDS_TABLE}.parquet": lambda p: write_parquet(bands, p)},
        command="run",
        record={  # the band's provenance: which posterior, each draw's settings, what it kept
            "posterior": {
                "directory": str(args.posterior),
                "settings": [dict(t.settings) for t in plan.tasks],
                "kept": sorted(own_settings(args.posterior, plan.base)),
                "scaled": scaled_settings(args.posterior, plan.base),
            }
        },
    )


def run_text(args: argparse.Namespace) -> int:
    """``habsburg run`` of a text-mode scenario (real n-gram models on real text)."""
    from habsburg.scenarios.text_schema import load_text_scenario

    unsupported = [
        flag
        for flag, given in (
            ("--steps", args.steps is not None),
            ("--checkpoint-every", args.checkpoint_every is not None),
            ("--resume", args.resume),
            ("--posterior", args.posterior is not None),
            ("--store-dir", args.store_dir is not None),
            ("--scale", args.scale is not None),
        )
        if given
    ]
    if unsupported:
        raise UserError(
            f"{', '.join(unsupported)}: not available for the text-mode scenario "
            f"{args.scenario!r} (it runs its generations in one go)"
        )
    scenario = load_text_scenario(args.scenario)
    # (the text runner, and the report's plotting only for a report, once the flags and the
    # scenario are checked: a refusal is quick)
    from habsburg.experiments.text_run import run_text_scenario

    report: Callable[[str | Path], Path] | None = None
    if not args.no_report:
        from habsburg.reports.text_report import write_text_report as report

    out = Path(args.out) if args.out else Path("results") / scenario.name
    result = run_text_scenario(
        scenario,
        seed=args.seed,
        out=out,
        progress=not args.quiet,
        force=args.force,
        finish=report,
    )
    if not args.quiet:
        print(f"{scenario.name}: {scenario.generations} generations (text mode)")
        print(f"\nresults: {out}/ ({result.seconds:.1f} s)")
    return 0


def resume_command(args: argparse.Namespace, out: Path) -> str:
    """The command line that resumes this run from its checkpoint."""
    cmd = ["habsburg", "run", args.scenario, "--out", str(out)]
    for flag, value in (
        ("--scale", args.scale),
        ("--seed", args.seed),
        ("--steps", args.steps),
        ("--store-dir", args.store_dir),
    ):
        if value is not None:
            cmd += [flag, str(value)]  # (a float as repr: the same scale when resumed)
    if args.checkpoint_every is not None:
        cmd += ["--checkpoint-every", str(args.checkpoint_every)]
    cmd += [f for f, on in (("--no-report", args.no_report), ("--quiet", args.quiet)) if on]
    return shlex.join([*cmd, "--resume"])


def cmd_scenarios(args: argparse.Namespace) -> int:
    from habsburg.scenarios.library import list_scenarios
    from habsburg.scenarios.text_schema import list_text_scenarios, load_text_scenario

    if len(args.scenario) > 2:
        raise UserError(
            f"scenarios: give one scenario to print, or two to compare; got {len(args.scenario)}"
        )
    if args.as_changes and len(args.scenario) != 2:
        raise UserError(
            "scenarios --as-changes: give two scenarios, BASE and the one to write as changes "
            f"from it; got {len(args.scenario)}"
        )
    if len(args.scenario) == 2:
        if args.as_changes:
            from habsburg.scenarios.diff import changes_toml
            from habsburg.scenarios.library import load_scenario

            base, other = args.scenario
            print(changes_toml(base, load_scenario(base), load_scenario(other)), end="")
        else:
            print(scenario_differences(*args.scenario), end="")
        return 0
    if args.scenario:
        print(scenario_in_full(args.scenario[0]), end="")
        return 0
    for name, description in list_scenarios().items():
        print(name)
        print(textwrap.indent(textwrap.fill(description, 96), "    "))
        print()
    for name in list_text_scenarios():
        description = " ".join(load_text_scenario(name).description.split())
        print(f"{name}  (text mode)")
        print(textwrap.indent(textwrap.fill(description, 96), "    "))
        print()
    return 0


def scenario_in_full(name: str) -> str:
    """The TOML ``habsburg scenarios NAME|FILE`` prints: every setting of an abstract scenario
    written out (:func:`~habsburg.scenarios.writer.scenario_toml`), or a text-mode scenario's
    file as it is (checked first; one that starts from another, every setting written out)."""
    import tomllib

    from habsburg.scenarios.inputs import read_text_file
    from habsburg.scenarios.library import load_scenario
    from habsburg.scenarios.text_schema import (
        is_text_scenario,
        load_text_scenario,
        refers_to_file,
        text_library_file,
    )
    from habsburg.scenarios.writer import scenario_toml, text_scenario_toml

    if is_text_scenario(name):
        text_scenario = load_text_scenario(name)  # (refused here when it does not validate)
        if not refers_to_file(name):
            return text_library_file(name).read_text(encoding="utf-8")
        text = read_text_file(name, "scenario file")
        if "scenario" not in tomllib.loads(text):  # (a whole file: as it is, comments and all)
            return text
        return text_scenario_toml(  # (one that starts from another: expanded)
            text_scenario,
            f"{text_scenario.name}, every setting written out by `habsburg scenarios {name}`\n"
            "`habsburg run` of this file runs the same scenario",
        )
    scenario = load_scenario(name)
    where = "the library" if not refers_to_file(name) else scenario.source
    return scenario_toml(
        scenario,
        f"{scenario.name}, every setting written out by `habsburg scenarios {name}` (from "
        f"{where})\n`habsburg run` of this file runs the same scenario, bit for bit",
    )


def scenario_differences(first: str, second: str) -> str:
    """What ``habsburg scenarios A B`` prints: every setting in which B differs from A, a line
    each (``path: A's value → B's``), by setting path (items of a list by their name); an item
    only one of them has (a crawler removed, a model added) is one line."""
    from habsburg.experiments.changes import setting_changes
    from habsburg.scenarios.library import load_scenario

    a, b = load_scenario(first), load_scenario(second)
    changes = setting_changes(a.to_dict(), b.to_dict())
    if not changes:
        return f"{second} has every setting of {first}\n"
    s = "s" if len(changes) != 1 else ""
    head = f"{second} differs from {first} in {len(changes)} setting{s} or item{s}"
    return "\n".join([f"{head}:", *(f"  {line}" for line in changes)]) + "\n"
