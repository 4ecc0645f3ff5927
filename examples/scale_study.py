"""Does tail loss change when the web and the training sets grow 10× or 100×? A scale study.

``scaled(baseline, f)`` multiplies the calibrated baseline's authors, sites, AI demand, farm
output, crawl sizes and training budgets by ``f`` and keeps the world (5,000 concepts, the facts):
a bigger internet about the same knowledge (below 1×, as in ``--quick``, the site graph is kept
and only the flows shrink). For each factor and seed the study runs the scenario
twice: with the models' calibrated decoding (top-p 0.98–0.995) and with top-p switched off
(``models.*.top_p = 1``), which tests one reading of the single-seed hint in the README (larger
training sets estimate rare concepts' probabilities with less noise, so fewer of them are lifted
above the top-p cut by chance). It reports the deployed models' final mean tail coverage, fact
accuracy and capability per arm (mean over seeds with a 95% t-interval), and the change per
decade of scale (least-squares slope on log10 f with its 95% interval). Every number here is a
simulator output, an out-of-sample prediction: nothing in it was fitted to these figures.

    python examples/scale_study.py                    # factors 1, 3, 10; 4 seeds (~12 min, 2.3 GB)
    python examples/scale_study.py --workers 2        # two runs at a time (~8 min; 2 x 2.3 GB)
    python examples/scale_study.py --quick            # factors 0.1, 0.3 to 2025-06; 2 seeds
    # up to 100x, the calibrated arm (~25-45 min; 2 x 16 GB of column files in /var/tmp/stores):
    python examples/scale_study.py --factors 1 3 10 100 --decoding calibrated --workers 2 --store-dir /var/tmp/stores

``--store-dir DIR`` keeps each run's document store in memory-mapped column files in a private
directory inside ``DIR``, removed when the run ends (as ``habsburg run --store-dir``): a 100× run
holds ~1.7 GiB of memory that way instead of the 16 GiB its store takes, and gives the same
results. Each factor is checked against the machine's memory (and ``DIR``'s free disk) before any
run starts.

Each finished run's row is kept in ``OUT/.habsburg-scale-study-runs/`` until the study's files
are written. Interrupted (Ctrl-C, SIGTERM, a failed run), the study stops its runs at once (their
store files removed) and keeps the finished ones; the same command with ``--resume`` runs only
the rest (a run is a pure function of its factor, decoding, seed and end), for the same tables.

Writes ``scale_study.csv`` (one row per run), ``scale_study.md`` (the tables) and
``scale_study.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import shlex
import shutil
import signal
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from habsburg.analysis.stats import t_interval
from habsburg.cli import run_script
from habsburg.cli.flags import COUNT, FACTOR, integer
from habsburg.experiments.files import atomic_write_json, prepare_output_dir, save_outputs
from habsburg.experiments.limits import check_limits
from habsburg.experiments.run import check_store_dir, simulate, store_scratch
from habsburg.experiments.versions import package_versions, version_changes
from habsburg.scenarios import load_scenario, set_setting
from habsburg.scenarios.errors import Interrupted, LimitError, UserError
from habsburg.scenarios.library import scaled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from habsburg.scenarios.schema import Scenario

OUTCOMES = {
    "mean_tail_coverage": "tail coverage",
    "mean_fact_accuracy": "fact accuracy",
    "mean_capability": "capability (nats, lower is better)",
}
DECODING = {"calibrated": None, "top-p off": 1.0}
#: ``--decoding``: the arms each choice runs
ARMS = {"both": list(DECODING), "calibrated": ["calibrated"], "top-p-off": ["top-p off"]}
#: where the finished runs are kept inside ``--out`` until the study's files are written
KEPT = ".habsburg-scale-study-runs"


def scenario(factor: float, top_p: float | None, end: str | None = None) -> Scenario:
    sc = scaled(load_scenario("baseline"), factor)
    if top_p is not None:
        set_setting(sc, "models.*.top_p", top_p)
    if end is not None:
        set_setting(sc, "end", end)
    return sc


def one_run(
    factor: float, decoding: str, seed: int, end: str | None, store_dir: str | None = None
) -> dict:
    """Final values of one run (executed in a worker process); with ``store_dir`` its store
    lives in files in a private directory there while it runs."""
    with store_scratch(store_dir) as scratch:
        model = simulate(scenario(factor, DECODING[decoding], end), seed=seed, store_dir=scratch)
        last = model.datacollector.get_model_vars_dataframe().iloc[-1]
        return {
            "factor": factor,
            "decoding": decoding,
            "seed": seed,
            "end": end,
            "documents": len(model.internet.store),
            **{k: float(last[k]) for k in OUTCOMES},
        }


def _one_run(job: tuple) -> dict:
    return one_run(*job)


def _worker_init() -> None:
    """A worker leaves Ctrl-C to the study, which stops every worker itself (the terminal sends
    SIGINT to the whole process group)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


#: the fields of a kept row that name its job
JOB = ("factor", "decoding", "seed", "end")


def job_file(kept: Path, job: tuple) -> Path:
    """The file a finished run of ``job`` (factor, decoding, seed, end) is kept in."""
    factor, decoding, seed, end = job
    return kept / f"x{factor!r}-{decoding.replace(' ', '-')}-seed{seed}-to-{end or 'end'}.json"


def kept_runs(kept: Path, jobs: list[tuple], resume: bool) -> dict[tuple, dict]:
    """The rows of ``jobs`` an interrupted study kept (before any run). Without ``resume``
    kept runs are refused, as is a kept file that is not a row of its job."""
    files = sorted(kept.glob("*.json")) if kept.is_dir() else []
    if files and not resume:
        raise UserError(
            f"{kept} holds {len(files)} finished runs of an interrupted study: pass --resume to "
            "run only the rest, or delete that directory to start over"
        )
    rows = {}
    for job in jobs:
        path = job_file(kept, job)
        if not path.is_file():
            continue
        try:
            row = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise UserError(f"--resume: cannot read the kept run {path}: {err}") from None
        if not isinstance(row, dict) or [row.get(k) for k in JOB] != list(job):
            raise UserError(f"--resume: {path} is not the row of its run; delete it to redo it")
        for key in ("documents", *OUTCOMES):  # (a row edited by hand: a string fails the table)
            value = row.get(key)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise UserError(
                    f"--resume: {path}: {key} is {value!r:.40}, not a number: not the row of its "
                    "run; delete it to redo it"
                )
        changes = version_changes(row.get("versions"))
        if changes:
            raise UserError(
                f"--resume: the run kept in {path} was made with {', '.join(changes)}; a seed "
                "gives the same run only with the same versions: finish the study in the "
                f"environment it started in, or delete {kept} to start over"
            )
        rows[job] = {k: v for k, v in row.items() if k not in ("end", "versions")}
    return rows


def run_jobs(
    jobs: list[tuple], workers: int, store_dir: str | None, keep: Path, done: int = 0
) -> list[dict]:
    """Every job's row, ``workers`` processes at a time, each kept in ``keep`` as it arrives.
    However the runs end, the study's stores (a private directory inside ``store_dir``) are
    removed after any worker still running is stopped."""
    rows = []
    versions = package_versions()  # (the workers' too: the same environment)
    context = multiprocessing.get_context("spawn")
    with store_scratch(store_dir) as scratch:
        where = None if scratch is None else str(scratch)
        pool = context.Pool(min(workers, max(len(jobs), 1)), initializer=_worker_init)
        try:
            results = pool.imap_unordered(_one_run, [(*job, where) for job in jobs])
            with tqdm(total=done + len(jobs), initial=done, desc="runs", unit="run") as bar:
                for row in results:
                    job = (row["factor"], row["decoding"], row["seed"], row["end"])
                    atomic_write_json(job_file(keep, job), {**row, "versions": versions})
                    rows.append({k: v for k, v in row.items() if k != "end"})
                    bar.update(1)
            pool.close()
        except BaseException:
            pool.terminate()  # the runs still going: their store files go with `scratch`
            raise
        finally:
            pool.join()
    return rows


def check_sizes(
    factors: list[float], end: str | None, runs: int, store_dir: str | None, force: bool = False
) -> None:
    """Refuse, before any run, a factor whose projected memory (``runs`` at once) or, with
    ``store_dir``, whose store files exceed what the machine has (:func:`check_limits`)."""
    for factor in sorted(set(factors), reverse=True):
        try:
            check_limits(
                scenario(factor, None, end),
                runs=runs,
                store_dir=store_dir,
                force=force,
                results=False,  # the study keeps the final values only: no result tables
                shorten=None,  # the study runs to the scenario's end (--quick: to 2025-06)
            )
        except LimitError as err:  # (check_limits names --store-dir and --workers itself)
            raise LimitError(f"--factors {factor:g}: {err}") from None


def interval(values: pd.Series) -> tuple[float, float, float]:
    """Mean and 95% t-interval (:func:`habsburg.analysis.stats.t_interval`); NaN bounds for a
    single run or runs that are all equal (the report says "all N seeds" there)."""
    x = values.to_numpy(dtype=float)
    mean, lo, hi, _ = t_interval(x)
    if np.all(x == x[0]):
        return float(mean), np.nan, np.nan
    return float(mean), float(lo), float(hi)


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (decoding, factor), group in runs.groupby(["decoding", "factor"], sort=True):
        row = {"decoding": decoding, "factor": factor, "seeds": len(group)}
        for column in OUTCOMES:
            row[column], row[f"{column}_lo"], row[f"{column}_hi"] = interval(group[column])
        rows.append(row)
    return pd.DataFrame(rows)


def slopes(runs: pd.DataFrame) -> pd.DataFrame:
    """Change per decade of scale: least-squares slope of each outcome on log10(factor), over
    every run of a decoding arm, with its 95% interval and the two-sided p-value of no change."""
    rows = []
    for decoding, group in runs.groupby("decoding", sort=True):
        x = np.log10(group["factor"].to_numpy(dtype=float))
        if np.unique(x).size < 2:
            continue
        for column in OUTCOMES:
            # every run equal: scipy gives a zero slope with NaN interval and p, shown as "—"
            fit = stats.linregress(x, group[column].to_numpy(dtype=float))
            half = stats.t.ppf(0.975, x.size - 2) * fit.stderr if x.size > 2 else float("nan")
            rows.append(
                {
                    "decoding": decoding,
                    "outcome": column,
                    "runs": x.size,
                    "slope_per_decade": fit.slope,
                    "lo": fit.slope - half,
                    "hi": fit.slope + half,
                    "p_value": fit.pvalue,
                }
            )
    return pd.DataFrame(rows)


def changes(runs: pd.DataFrame) -> pd.DataFrame:
    """Change of each outcome from one factor to the next within a decoding arm: difference of
    the means with Welch's 95% interval and p-value (NaN with fewer than two seeds on a side),
    and the same per decade of scale (over log10 of the factors' ratio), which shows whether the
    effect flattens where a single slope on log10 f cannot."""
    rows = []
    for decoding, group in runs.groupby("decoding", sort=True):
        factors = sorted(group["factor"].unique())
        for a, b in itertools.pairwise(factors):
            decades = float(np.log10(b / a))
            for column in OUTCOMES:
                x = group.loc[group["factor"] == b, column].to_numpy(dtype=float)
                y = group.loc[group["factor"] == a, column].to_numpy(dtype=float)
                lo = hi = p = float("nan")
                if min(x.size, y.size) >= 2 and (x.std() > 0 or y.std() > 0):
                    with warnings.catch_warnings():
                        # a side whose runs are all equal (tail coverage 1.0) has variance
                        # exactly 0; scipy warns of precision loss there, needlessly
                        if x.std() == 0 or y.std() == 0:
                            warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
                        test = stats.ttest_ind(x, y, equal_var=False)
                    ci = test.confidence_interval(0.95)
                    lo, hi, p = float(ci.low), float(ci.high), float(test.pvalue)
                diff = float(x.mean() - y.mean())
                rows.append(
                    {
                        "decoding": decoding,
                        "outcome": column,
                        "from": a,
                        "to": b,
                        "change": diff,
                        "lo": lo,
                        "hi": hi,
                        "per_decade": diff / decades,
                        "per_decade_lo": lo / decades,
                        "per_decade_hi": hi / decades,
                        "p_value": p,
                    }
                )
    return pd.DataFrame(rows)


def markdown(
    table: pd.DataFrame,
    effect: pd.DataFrame,
    seeds: list[int],
    end: str,
    steps: pd.DataFrame | None = None,
) -> str:
    def span(lo: float, hi: float) -> str:
        return "—" if np.isnan(lo) else f"[{lo:+.4f}, {hi:+.4f}]"

    def pval(p: float) -> str:
        return "—" if np.isnan(p) else f"{p:.2g}"

    def cell(row: pd.Series, column: str) -> str:
        lo, hi = row[f"{column}_lo"], row[f"{column}_hi"]
        ci = "" if np.isnan(lo) else f" [{lo:.3f}, {hi:.3f}]"
        return f"{row[column]:.3f}{ci}"

    lines = [
        "# Scale study: `scaled(baseline, f)`",
        "",
        f"Final values ({end}), mean over seeds {seeds} with 95% t-intervals. Simulator outputs "
        "(out-of-sample predictions): nothing here was fitted to them.",
        "",
        "| decoding | factor | seeds | " + " | ".join(OUTCOMES.values()) + " |",
        "|---|---|---|" + "---|" * len(OUTCOMES),
    ]
    for _, row in table.iterrows():
        cells = " | ".join(cell(row, c) for c in OUTCOMES)
        lines.append(f"| {row['decoding']} | {row['factor']:g}× | {row['seeds']} | {cells} |")
    if len(effect):
        lines += [
            "",
            "Change per decade of scale (least-squares slope on log10 f, 95% interval, p-value of "
            "no change):",
            "",
            "| decoding | outcome | runs | slope per 10× | 95% interval | p |",
            "|---|---|---|---|---|---|",
        ]
        for _, r in effect.iterrows():
            lines.append(
                f"| {r['decoding']} | {OUTCOMES[r['outcome']]} | {r['runs']} | "
                f"{r['slope_per_decade']:+.4f} | {span(r['lo'], r['hi'])} | {pval(r['p_value'])} |"
            )
    if steps is not None and len(steps):
        lines += [
            "",
            "Change from one factor to the next (difference of means, Welch's 95% interval and "
            "p-value; per 10×: over log10 of the factors' ratio, to set beside the slope):",
            "",
            "| decoding | outcome | factors | change | 95% interval | per 10× | p |",
            "|---|---|---|---|---|---|---|",
        ]
        for _, r in steps.iterrows():
            lines.append(
                f"| {r['decoding']} | {OUTCOMES[r['outcome']]} | {r['from']:g}× → {r['to']:g}× "
                f"| {r['change']:+.4f} | {span(r['lo'], r['hi'])} | "
                f"{r['per_decade']:+.4f} | {pval(r['p_value'])} |"
            )
    if any(" — |" in line for line in lines):
        lines += [
            "",
            "—: no interval or p-value: fewer than two seeds on a side, or every run gave the "
            "same value (no seed-to-seed spread to test a change against).",
        ]
    return "\n".join(lines) + "\n"


def figure(runs: pd.DataFrame, table: pd.DataFrame) -> Figure:
    fig, axes = plt.subplots(1, len(OUTCOMES), figsize=(14, 4))
    for ax, (column, title) in zip(axes, OUTCOMES.items(), strict=True):
        for decoding, group in table.groupby("decoding", sort=True):
            points = runs[runs["decoding"] == decoding]
            ax.scatter(points["factor"], points[column], s=12, alpha=0.5)
            err = np.vstack(
                [group[column] - group[f"{column}_lo"], group[f"{column}_hi"] - group[column]]
            )
            ax.errorbar(group["factor"], group[column], yerr=np.nan_to_num(err), label=decoding)
        ax.set(xscale="log", xlabel="scale factor f", title=title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="factors 0.1 and 0.3 to 2025-06")
    parser.add_argument("--factors", type=FACTOR, nargs="+", default=None, help="scale factors")
    parser.add_argument(
        "--seeds", type=integer(1, 1000), default=None, help="seeds per arm (default 4)"
    )
    parser.add_argument("--workers", type=COUNT, default=1, help="runs at a time (processes)")
    parser.add_argument(
        "--decoding",
        choices=list(ARMS),
        default="both",
        help="the decoding arms to run: both (default), the calibrated top-p, or top-p off",
    )
    parser.add_argument(
        "--store-dir",
        metavar="DIR",
        default=None,
        help="keep each run's document store in files in a private directory inside DIR, "
        "removed when the run ends (for 100x; the same results)",
    )
    parser.add_argument(
        "--force", action="store_true", help="run even where the memory or disk check refuses"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="finish an interrupted study in --out: the runs it kept are not run again",
    )
    parser.add_argument("--out", default="results/examples", help="output directory")
    args = parser.parse_args(argv)
    factors = args.factors or ([0.1, 0.3] if args.quick else [1.0, 3.0, 10.0])
    twice = sorted({f for f in factors if factors.count(f) > 1})
    if twice:  # the same runs twice, each seed counted twice in the factor's interval
        parser.error(f"--factors: {', '.join(f'{f:g}' for f in twice)} given more than once")
    n_seeds = args.seeds if args.seeds is not None else (2 if args.quick else 4)
    end = "2025-06" if args.quick else None
    seeds = list(range(1, n_seeds + 1))
    jobs = [(f, d, s, end) for f in factors for d in ARMS[args.decoding] for s in seeds]
    store_dir = None if args.store_dir is None else str(check_store_dir(args.store_dir))
    check_sizes(factors, end, min(args.workers, len(jobs)), store_dir, args.force)
    out = prepare_output_dir(
        args.out,
        command="examples",
        can_force=False,
        expect=["scale_study.csv", "scale_study.md", "scale_study.png"],
    )  # before any work: never a user's file
    kept = out / KEPT
    rows = kept_runs(kept, jobs, args.resume)
    if rows:
        print(f"resuming: {len(rows)} of {len(jobs)} runs kept in {kept}")
    elif args.resume:
        print(f"note: --resume: {out} holds no interrupted study; every run runs", file=sys.stderr)
    # the command line that finishes this study if it is interrupted (as typed, with --resume)
    again = shlex.join(["python", *sys.argv, *([] if args.resume else ["--resume"])])
    # big runs first, so the last minutes are not one 10x run alone
    todo = sorted((job for job in jobs if job not in rows), key=lambda job: -job[0])
    kept.mkdir(exist_ok=True)
    try:
        fresh = run_jobs(todo, args.workers, store_dir, kept, done=len(rows)) if todo else []
    except KeyboardInterrupt:
        done = len(list(kept.glob("*.json")))
        raise Interrupted(
            f"interrupted; the runs that finished ({done}) are kept in {kept}/; run only the "
            f"rest with: {again}"
        ) from None
    except Exception:  # a failed run: its error follows, unchanged
        done = len(list(kept.glob("*.json")))
        print(
            f"habsburg: a run failed; the runs that finished ({done}) are kept in {kept}/; "
            f"run only the rest with: {again}",
            file=sys.stderr,
        )
        raise
    runs = pd.DataFrame([*rows.values(), *fresh])
    runs = runs.sort_values(["decoding", "factor", "seed"], ignore_index=True)
    table, effect, steps = summary(runs), slopes(runs), changes(runs)
    text = markdown(table, effect, seeds, end or scenario(1.0, None).end, steps)
    fig = figure(runs, table)
    save_outputs(
        out,
        {
            "scale_study.csv": lambda p: runs.to_csv(p, index=False),
            "scale_study.md": lambda p: p.write_text(text),
            "scale_study.png": lambda p: fig.savefig(p, dpi=120, format="png"),
        },
        command="examples",
    )
    shutil.rmtree(kept)  # (the study's files hold its runs now)
    print(text)
    print(
        f"wrote {out / 'scale_study.csv'}, {out / 'scale_study.md'} and {out / 'scale_study.png'}"
    )
    return table


if __name__ == "__main__":
    run_script(main)
