"""Paired what-if comparisons: run scenarios on the same seeds and report each outcome's
difference against a base scenario with a confidence interval (Parquet, figures, a report).

Every scenario runs on the seeds ``base.seed + i`` (i = 0..N−1), so run i of every scenario
shares its random seed with run i of the base: differences are paired, which removes the
seed-to-seed variation the scenarios share. The interval is the t interval of the mean paired
difference (Student 1908): mean ± t_{0.975, n−1} · sd / √n.
"""

from __future__ import annotations

from habsburg.scenarios.errors import UserError

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from habsburg.reports import plots
from habsburg.reports.document import FIGURES, Document, sig, write_document
from habsburg.experiments.outcomes import (
    OUTCOMES,
    SCALAR,
    TIMESERIES,
    OutcomeTables,
    evaluate_outcomes,
    outcome_tables,
)
from habsburg.scenarios.schema import Scenario

#: the scalar outcomes every comparison reports, and the monthly series it draws with bands
#: (declared once, in :mod:`habsburg.experiments.outcomes`, for sweeps and comparisons alike)
SCALARS = tuple(n for n, o in OUTCOMES.items() if o.kind == SCALAR)
SERIES = tuple(n for n, o in OUTCOMES.items() if o.kind == TIMESERIES)


def run_outcomes(tables: OutcomeTables) -> dict[str, float]:
    """The scalar outcomes of one run."""
    return evaluate_outcomes(SCALARS, tables)[0]


def run_series(tables: OutcomeTables) -> pd.DataFrame:
    """The monthly outcome series of one run (``step``, ``month``, one column per series)."""
    return evaluate_outcomes(SERIES, tables)[1]


def paired_ci(differences: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """Mean of paired differences and its t confidence interval: ``(mean, low, high, n)``; NaN
    pairs are dropped, and the interval is NaN with fewer than two pairs."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(d.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), n
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
    return mean, float(mean - half), float(mean + half), n


def band(values: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs (rows) for each column (month) and its pointwise t interval:
    ``(mean, low, high)``; NaN where a column has no value (interval: fewer than two)."""
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, v, 0.0).sum(axis=0) / n
        var = (np.where(finite, v - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
        half = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * np.sqrt(var / n)
    half = np.where(n > 1, half, np.nan)
    return mean, mean - half, mean + half


def paired_differences(runs: pd.DataFrame, base: str, confidence: float = 0.95) -> pd.DataFrame:
    """Each scenario's outcomes against ``base``, paired by seed: one row per (scenario,
    outcome) with both means, the mean difference and its confidence interval."""
    rows = []
    base_runs = runs[runs["scenario"] == base].set_index("seed")
    for scenario in [s for s in pd.unique(runs["scenario"]) if s != base]:
        alt = runs[runs["scenario"] == scenario].set_index("seed")
        seeds = base_runs.index.intersection(alt.index)
        for name in SCALARS:
            b = base_runs.loc[seeds, name].to_numpy(dtype=float)
            a = alt.loc[seeds, name].to_numpy(dtype=float)
            mean, low, high, n = paired_ci(a - b, confidence)
            rows.append(
                {
                    "scenario": scenario,
                    "outcome": name,
                    "meaning": OUTCOMES[name].description,
                    "base_mean": float(np.nanmean(b)) if np.isfinite(b).any() else np.nan,
                    "scenario_mean": float(np.nanmean(a)) if np.isfinite(a).any() else np.nan,
                    "difference": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "pairs": n,
                    "excludes_zero": bool(np.isfinite(low) and (low > 0 or high < 0)),
                }
            )
    return pd.DataFrame(rows)


@dataclass
class Comparison:
    """A finished comparison: per-run outcomes, monthly series, paired differences."""

    base: str
    scenarios: list[str]
    seeds: list[int]
    steps: int
    runs: pd.DataFrame
    series: pd.DataFrame
    differences: pd.DataFrame
    out_dir: Path | None = None
    confidence: float = 0.95


def _labels(scenarios: list[Scenario]) -> list[str]:
    """Scenario names, made unique (``name``, ``name-2``, ...) when two share a name."""
    labels, seen = [], {}
    for sc in scenarios:
        seen[sc.name] = seen.get(sc.name, 0) + 1
        labels.append(sc.name if seen[sc.name] == 1 else f"{sc.name}-{seen[sc.name]}")
    return labels


def check_comparison(
    base: Scenario, alternatives: list[Scenario], seeds: int, steps: int | None
) -> int:
    """Validate a comparison before any run starts; returns the months every run simulates."""
    from habsburg.experiments.run import check_steps

    if not alternatives:
        raise UserError("compare needs a base scenario and at least one alternative")
    if seeds < 1:
        raise UserError(
            f"--seeds must be at least 1 (2 or more for confidence intervals), got {seeds}"
        )
    everyone = [base, *alternatives]
    for sc in everyone:
        check_steps(sc, steps)
    return steps if steps is not None else min(sc.steps for sc in everyone)


def compare(
    base: Scenario,
    alternatives: list[Scenario],
    *,
    seeds: int = 5,
    steps: int | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    confidence: float = 0.95,
) -> Comparison:
    """Run ``base`` and each alternative on the seeds ``base.seed + i`` (i < ``seeds``) for
    ``steps`` months (default: the shortest scenario) and compare them, paired by seed.

    With ``out``: writes ``runs.parquet`` (one row per run, the scalar outcomes),
    ``series.parquet`` (one row per run and month), ``differences.parquet`` (one row per
    scenario and outcome: difference against the base and its CI) and a report.
    """
    from habsburg.experiments.run import simulate

    n_steps = check_comparison(base, alternatives, seeds, steps)
    scenarios = [base, *alternatives]
    labels = _labels(scenarios)
    seed_list = [int(base.seed) + i for i in range(seeds)]
    runs, series = [], []
    bar = tqdm(total=len(scenarios) * seeds, desc="compare", unit="run", disable=not progress)
    for label, sc in zip(labels, scenarios, strict=True):
        for seed in seed_list:
            bar.set_postfix_str(f"{label} seed {seed}", refresh=True)
            tables = outcome_tables(simulate(sc, seed=seed, steps=n_steps))
            runs.append({"scenario": label, "seed": seed, **run_outcomes(tables)})
            series.append(run_series(tables).assign(scenario=label, seed=seed))
            bar.update(1)
    bar.close()
    runs_df = pd.DataFrame(runs)
    series_df = pd.concat(series, ignore_index=True)
    result = Comparison(
        base=labels[0],
        scenarios=labels,
        seeds=seed_list,
        steps=n_steps,
        runs=runs_df,
        series=series_df,
        differences=paired_differences(runs_df, labels[0], confidence),
        confidence=confidence,
    )
    if out is not None:
        write_comparison(result, Path(out))
    return result


def write_comparison(result: Comparison, out: Path) -> Path:
    """Write a comparison's Parquet files, figures and report into ``out``; returns the report."""
    out.mkdir(parents=True, exist_ok=True)
    result.out_dir = out
    result.runs.to_parquet(out / "runs.parquet", index=False)
    result.series.to_parquet(out / "series.parquet", index=False)
    result.differences.to_parquet(out / "differences.parquet", index=False)
    return write_comparison_report(result, out)


def write_comparison_report(result, out: Path) -> Path:
    """``report.md`` / ``report.html`` and figures of a paired comparison
    (:class:`habsburg.experiments.compare.Comparison`)."""
    fig_dir = out / FIGURES
    if fig_dir.is_dir():
        for old in fig_dir.glob("*.png"):
            old.unlink()
    level = f"{result.confidence:.0%}"
    figures = []
    if len(result.differences):
        figures.append(
            (
                plots.save(
                    plots.compare_differences(result.differences, result.confidence),
                    fig_dir / "01-differences.png",
                ),
                f"Paired differences from {result.base} with {level} confidence intervals, "
                "relative to the base mean.",
            )
        )
    labels = {n: OUTCOMES[n].description for n in SERIES}
    figures.append(
        (
            plots.save(
                plots.compare_series(result.series, list(SERIES), labels, result.confidence),
                fig_dir / "02-series.png",
            ),
            f"Monthly means over {len(result.seeds)} seeds with pointwise {level} bands.",
        )
    )
    doc = Document(f"habsburg comparison: {' vs '.join(result.scenarios)}")
    doc.paragraph(
        f"Base {result.base}; alternatives {', '.join(result.scenarios[1:])}. Each scenario ran "
        f"on the same {len(result.seeds)} seeds ({_seed_range(result.seeds)}) for "
        f"{result.steps} months; differences are paired by seed, with {level} t intervals "
        f"(n − 1 degrees of freedom). Numbers are read from runs.parquet and differences.parquet."
    )
    doc.heading("Reading")
    for text in comparison_reading(result.differences, result.base, level):
        doc.paragraph(text)
    doc.heading("Differences from the base")
    d = result.differences
    if len(d):
        doc.table(
            pd.DataFrame(
                {
                    "scenario": d["scenario"],
                    "outcome": d["outcome"],
                    "base": [sig(x) for x in d["base_mean"]],
                    "scenario mean": [sig(x) for x in d["scenario_mean"]],
                    "difference": [sig(x) for x in d["difference"]],
                    f"{level} CI": [
                        f"[{sig(lo)}, {sig(hi)}]"
                        for lo, hi in zip(d["ci_low"], d["ci_high"], strict=True)
                    ],
                    "pairs": d["pairs"],
                    "CI excludes 0": ["yes" if x else "" for x in d["excludes_zero"]],
                }
            )
        )
    doc.heading("Runs")
    runs = result.runs
    table = {"outcome": list(runs.columns[2:])}
    for r in runs.itertuples(index=False):
        table[f"{r.scenario} {r.seed}"] = [sig(x) for x in r[2:]]
    doc.table(pd.DataFrame(table))
    doc.heading("Figures")
    for path, caption in figures:
        doc.figure(path, caption)
    return write_document(doc, out)


def _seed_range(seeds: Iterable[int]) -> str:
    seeds = list(seeds)
    return f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])


def comparison_reading(differences: pd.DataFrame, base: str, level: str) -> list[str]:
    """Plain-language lines: which differences the intervals resolve, and which they do not."""
    out = []
    for scenario, d in differences.groupby("scenario", sort=False):
        clear = d[d["excludes_zero"]]
        if clear.empty:
            out.append(
                f"{scenario}: no outcome differs from {base} clearly enough for a {level} "
                f"interval to exclude zero with these seeds."
            )
            continue
        parts = [
            f"{r.outcome} {'higher' if r.difference > 0 else 'lower'} "
            f"({sig(r.difference)}, CI [{sig(r.ci_low)}, {sig(r.ci_high)}])"
            for r in clear.itertuples(index=False)
        ]
        out.append(
            f"{scenario} vs {base} ({len(clear)} of {len(d)} outcomes resolved): "
            + "; ".join(parts)
            + "."
        )
    return out
