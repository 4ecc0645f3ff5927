"""The validation repeated over seeds (``habsburg validate --seeds N``): how often each row fails,
against how often a correct simulator would fail it by chance.

A single run judges ~40 rows, each at its own level (3 standard errors, a 99% binomial interval),
so on a seed other than the suite's own a correct simulator fails at least one row about one run
in twelve. A failure on one seed says little; a row that fails on *more* seeds than its level
allows is a bug (or a rule that does not keep its level, as 3 SE did not for V1's E[W2²] at
M = 20, n = 50 before it got its own test). This module makes that judgement a test: each row's
false-failure rate on each seed (:meth:`~.framework.Tolerance.false_failure_rate`), an exact
one-sided test of its failure count against those rates (the count of independent failures at
per-seed rates is Poisson-binomial: ``scipy.stats.poisson_binom``), and Benjamini–Hochberg
adjusted p-values over the rows (``scipy.stats.false_discovery_control``): a row whose
adjusted p-value is below :data:`ALPHA` "fails more often than chance", and the command exits 1.

Seeds are ``seed, seed + 1, ...``, so a failing seed reruns alone with ``--seed``. Groups whose
estimates do not depend on the seed (:data:`SEED_FREE`: V5 runs the calibrated baseline with its
scenario's own seed) are left out: repeating them would repeat one run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from habsburg.experiments.files import save_outputs
from habsburg.experiments.validation.experiments import EXPERIMENTS
from habsburg.experiments.validation.framework import Check, Report, fmt
from habsburg.experiments.validation.output import markdown_rows
from habsburg.experiments.validation.runner import run_validation
from habsburg.scenarios.errors import UserError

#: groups whose estimates are the same on every seed (V5: the calibrated baseline, its own seed)
SEED_FREE = ("V5",)
#: false discovery rate at which a row is said to fail more often than chance
ALPHA = 0.01
#: how many failing seeds a row lists
LISTED_SEEDS = 5


def repeat_groups(groups: Sequence[str]) -> list[str]:
    """``groups`` without the seed-free ones; refused (naming them and the allowed groups) if
    nothing else is left."""
    kept = [g for g in groups if g not in SEED_FREE]
    if not kept:
        allowed = ", ".join(g for g in EXPERIMENTS if g not in SEED_FREE)
        raise UserError(
            f"--seeds: {', '.join(groups)} does not depend on --seed (V5 runs the calibrated "
            f"baseline with its scenario's own seed), so repeating it would repeat one run; "
            f"choose --only from {allowed}"
        )
    return kept


@dataclass
class RowRepeat:
    """One row of the suite over every seed."""

    check: Check
    seeds: int = 0
    failed_at: list[int] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)  # each seed's false-failure rate

    @property
    def rate(self) -> float:
        """The mean false-failure rate over the seeds."""
        return float(np.mean(self.rates)) if self.rates else 0.0

    @property
    def p_value(self) -> float:
        """One-sided and exact: the chance that a correct simulator fails at least this many of
        the seeds, each independently at its own rate (Poisson-binomial; binomial when the rates
        are equal; 0 for a row that never fails a correct simulator and failed)."""
        k = len(self.failed_at)
        if k == 0:
            return 1.0
        return float(stats.poisson_binom(np.asarray(self.rates, dtype=float)).sf(k - 1))


@dataclass
class RepeatReport:
    """Every row over ``seeds`` seeds, and each seed's runs with at least one failure."""

    rows: list[RowRepeat]
    seeds: list[int]
    quick: bool
    groups: list[str]
    seconds: float = 0.0
    runs_failing: int = 0
    runs_failing_expected: float = 0.0

    def frame(self) -> pd.DataFrame:
        """One line a row: its rate, expected and observed failures, p-value, BH-adjusted."""
        p = np.array([r.p_value for r in self.rows])
        adjusted = stats.false_discovery_control(p) if len(p) else p
        return pd.DataFrame(
            {
                "check": [r.check.name for r in self.rows],
                "kind": [r.check.kind for r in self.rows],
                "setting": [r.check.setting for r in self.rows],
                "false-failure rate": [r.rate for r in self.rows],
                "expected failures": [r.rate * r.seeds for r in self.rows],
                "failures": [len(r.failed_at) for r in self.rows],
                "seeds": [r.seeds for r in self.rows],
                "failing seeds": [" ".join(map(str, r.failed_at)) for r in self.rows],
                "p": p,
                "p (BH)": adjusted,
                "verdict": ["more often than chance" if q < ALPHA else "chance" for q in adjusted],
            }
        )

    @property
    def flagged(self) -> list[str]:
        """The rows failing more often than chance (name and setting)."""
        f = self.frame()
        bad = f[f["verdict"] != "chance"]
        return [f"{c} ({s})" for c, s in zip(bad["check"], bad["setting"], strict=True)]

    @property
    def passed(self) -> bool:
        return not self.flagged


def repeat_validation(
    groups: Iterable[str],
    seeds: Sequence[int],
    *,
    quick: bool = False,
    progress: bool = False,
    checks: Iterable[Check] | None = None,
    workers: int | None = None,
) -> RepeatReport:
    """Run the suite's ``groups`` (none seed-free) once per seed and count each row's failures
    (predictions, which never fail, are left out). ``workers``: the seeds run on a local Dask
    cluster of that many processes (:func:`~habsburg.experiments.sweep.executors.connect`);
    each seed's run is the same wherever it runs, and the runs are counted in seed order, so
    the report is the same as a serial one."""
    groups = list(groups)
    rows: dict[Check, RowRepeat] = {}
    report = RepeatReport([], list(seeds), quick, groups)
    checks = None if checks is None else tuple(checks)
    runs = _runs(groups, report.seeds, quick, checks, workers)
    for seed, one in zip(
        report.seeds,
        tqdm(runs, desc="validate", unit="seed", total=len(report.seeds), disable=not progress),
        strict=True,
    ):
        report.seconds += sum(one.seconds.values())
        chance_clean = 1.0
        for result in one.checks:
            c = result.check
            rate = c.tolerance.false_failure_rate(c.expected, result.estimate, quick)
            row = rows.setdefault(c, RowRepeat(c))
            row.seeds += 1
            row.rates.append(rate)
            chance_clean *= 1.0 - rate
            if not result.passed:
                row.failed_at.append(seed)
        report.runs_failing += not one.passed
        report.runs_failing_expected += 1.0 - chance_clean
    report.rows = list(rows.values())
    return report


def _runs(
    groups: list[str],
    seeds: list[int],
    quick: bool,
    checks: tuple[Check, ...] | None,
    workers: int | None,
) -> Iterator[Report]:
    """Each seed's :class:`Report`, in seed order: here, or on a local Dask cluster."""
    if workers is None or workers == 1:
        for seed in seeds:
            yield run_validation(groups, quick=quick, seed=seed, checks=checks)
        return
    from habsburg.experiments.sweep.executors import close_client, connect

    client = connect(None, workers)
    futures = []
    try:
        futures = [
            client.submit(run_validation, groups, quick=quick, seed=s, checks=checks, pure=False)
            for s in seeds
        ]
        for future in futures:
            yield future.result()
    finally:
        client.cancel(futures)
        close_client(client)


def _listed(seeds: list[int]) -> str:
    shown = ", ".join(str(s) for s in seeds[:LISTED_SEEDS])
    return shown + (f" and {len(seeds) - LISTED_SEEDS} more" if len(seeds) > LISTED_SEEDS else "")


def summary_line(report: RepeatReport) -> str:
    """The verdict in one line: rows failing more often than chance, and runs with a failure."""
    n = len(report.seeds)
    mode = "quick" if report.quick else "full"
    runs = (
        f"{report.runs_failing} of {n} runs failed at least one row (a correct simulator: "
        f"{report.runs_failing_expected:.1f} expected)"
    )
    head = (
        f"{len(report.rows)} rows × {n} seeds ({report.seeds[0]}–{report.seeds[-1]}, {mode} "
        f"mode, {', '.join(report.groups)}, {report.seconds:.1f} s): "
    )
    if flagged := report.flagged:
        return head + f"{len(flagged)} fail more often than chance: {'; '.join(flagged)}. {runs}."
    return head + f"no row fails more often than chance (BH-adjusted p ≥ {ALPHA:g}). {runs}."


#: the columns of the printed and Markdown tables (the CSV has them all, unrounded)
SHOWN = (
    "check",
    "setting",
    "false-failure rate",
    "expected failures",
    "failures",
    "p (BH)",
    "verdict",
)


def shown_frame(report: RepeatReport) -> pd.DataFrame:
    f = report.frame()
    shown = f[list(SHOWN)].copy()
    for column in ("false-failure rate", "expected failures", "p (BH)"):
        shown[column] = [fmt(x) for x in f[column]]
    shown["failures"] = [
        f"{len(r.failed_at)} ({_listed(r.failed_at)})" if r.failed_at else "0" for r in report.rows
    ]
    return shown


def format_repeat(report: RepeatReport) -> str:
    """The printed table and its verdict."""
    return shown_frame(report).to_string(index=False) + "\n\n" + summary_line(report)


def repeat_markdown(report: RepeatReport) -> str:
    """``validation_seeds.md``: the table, the verdict and how to read them."""
    shown = shown_frame(report)
    lines = [
        "# habsburg validation over seeds",
        "",
        f"**{summary_line(report)}**",
        "",
        *markdown_rows(list(shown.columns), shown.itertuples(index=False)),
        "",
        "Each row's *false-failure rate* is how often a correct simulator fails it on one seed "
        "(a bound of b standard errors: 2(1 − Φ(b)), the estimate normal about the expected "
        "value; a 99% binomial interval: at most 1%; a row judged by its own test at level α "
        "(V1's E[W2²] at M = 20, n = 50): at most α; a row that states what a correct "
        "simulator always does: 0); the table shows its mean over the seeds. *p (BH)*: an "
        "exact one-sided test of the row's failures against each seed's rate "
        "(Poisson-binomial), Benjamini–Hochberg adjusted over the rows; below "
        f"{ALPHA:g} the row fails more often than chance: a bug, or a rule that does not keep "
        "its level. Rerun one seed with `habsburg validate --seed S`. "
        f"{', '.join(SEED_FREE)} does not depend on the seed and is left out.",
        "",
    ]
    return "\n".join(lines)


#: the files ``habsburg validate --seeds`` writes into ``--out``
REPEAT_FILES = ("validation_seeds.md", "validation_seeds.csv")


def write_repeat(report: RepeatReport, out: Path) -> list[Path]:
    """:data:`REPEAT_FILES` in ``out`` (checked beforehand), each atomic, recorded in the
    directory's manifest with what wrote them."""
    return save_outputs(
        out,
        {
            "validation_seeds.md": lambda p: p.write_text(repeat_markdown(report), "utf-8"),
            "validation_seeds.csv": lambda p: report.frame().to_csv(p, index=False),
        },
        command="validate",
    )
