"""Paired differences between scenarios: each outcome of each scenario against the base, paired
by seed, with the t interval of the mean difference (:func:`habsburg.analysis.stats.paired_ci`).

A pure function of a comparison's runs table (one row per scenario and seed, one column per
scalar outcome: ``runs.parquet`` of ``habsburg compare``); it never runs a simulation.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from habsburg.analysis.stats import paired_ci

#: columns of a comparison's runs table that identify a run (every other column is an outcome)
RUN_COLUMNS = ("scenario", "seed")


def _mean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def paired_differences(
    runs: pd.DataFrame,
    base: str,
    confidence: float = 0.95,
    descriptions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Each scenario's outcomes against ``base``, paired by seed: one row per (scenario,
    outcome) with both means, the mean difference and its confidence interval, all over the same
    pairs (a seed whose outcome is missing, NaN, in either scenario is left out of both means as
    of the difference, so ``scenario_mean − base_mean`` is ``difference``); no interval with
    fewer than two pairs."""
    outcomes = [c for c in runs.columns if c not in RUN_COLUMNS]
    descriptions = descriptions or {}
    base_runs = runs[runs["scenario"] == base].set_index("seed")
    rows = []
    for scenario in [s for s in pd.unique(runs["scenario"]) if s != base]:
        alt = runs[runs["scenario"] == scenario].set_index("seed")
        seeds = base_runs.index.intersection(alt.index)
        for name in outcomes:
            b = base_runs.loc[seeds, name].to_numpy(dtype=float)
            a = alt.loc[seeds, name].to_numpy(dtype=float)
            paired = np.isfinite(a) & np.isfinite(b)
            a, b = a[paired], b[paired]
            mean, low, high, n = paired_ci(a - b, confidence)
            rows.append(
                {
                    "scenario": scenario,
                    "outcome": name,
                    "meaning": descriptions.get(name, ""),
                    "base_mean": _mean(b),
                    "scenario_mean": _mean(a),
                    "difference": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "pairs": n,
                    "excludes_zero": bool(np.isfinite(low) and (low > 0 or high < 0)),
                }
            )
    return pd.DataFrame(rows)
