"""What a calibration leaves behind: the posterior (Parquet), its diagnostics (acceptance rates,
effective sample sizes, a pairwise posterior plot), a calibrated scenario file, posterior-
predictive runs and the table of every published point against them.

The prediction table marks each row's role (a calibration is not evidence): a
calibration target (measured up to 2024-12, fitted) or an out-of-sample prediction (measured
later, never fitted), with the 90% posterior-predictive interval.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from habsburg.experiments.calibration.simulator import summaries, target_key
from habsburg.experiments.calibration.spec import Prior
from habsburg.scenarios.measurements import MEASUREMENTS, Measurement
from habsburg.scenarios.schema import Scenario, from_dict, set_setting

#: series the posterior-predictive runs keep (forecast bands)
BAND_SERIES = (
    "synthetic_share_new",
    "synthetic_share_new_measured",
    "mean_tail_coverage",
    "mean_fact_accuracy",
    "graphite_ai_share",
    "ahrefs_pure_human",
    "ahrefs_pure_ai",
    "liang_llm_modified_share",
    "assisted_authors",
)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The least value whose cumulative weight share reaches ``q`` (the inverse of the
    weighted CDF: numpy's ``inverted_cdf`` of the particles replicated by weight)."""
    order = np.argsort(values)
    v, w = np.asarray(values)[order], np.asarray(weights)[order]
    cdf = np.cumsum(w) / w.sum()
    # (a share that is exactly q, such as 10 of 20 equal weights, may sum to just below it)
    return float(v[min(int(np.searchsorted(cdf, q - 1e-12)), v.size - 1)])


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size (Σw)² / Σw²."""
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / (w**2).sum()) if w.size else 0.0


#: below this share of the population the last generation's effective sample size is called thin
THIN_SHARE = 0.25


def last_generation_line(diagnostics: pd.DataFrame) -> tuple[str, bool]:
    """A line on the last generation of a calibration's ``diagnostics`` (threshold, effective
    sample size of its particles), and whether that effective sample size is thin: below
    :data:`THIN_SHARE` of the particles, so the posterior's medians and intervals are those of a
    few heavily weighted particles."""
    last = diagnostics.iloc[-1]
    ess, n = float(last["effective_sample_size"]), int(last["particles"])
    line = (
        f"last generation ({int(last['generation'])}): threshold {last['epsilon']:.3g}, "
        f"effective sample size {ess:.1f} of {n} particles"
    )
    return line, ess < THIN_SHARE * n


def posterior_summary(posterior: pd.DataFrame, priors: Sequence[Prior]) -> pd.DataFrame:
    """Per parameter: prior range, weighted mean, median and 90% credible interval."""
    w = posterior["weight"].to_numpy()
    rows = []
    for p in priors:
        x = posterior[p.path].to_numpy()
        rows.append(
            {
                "parameter": p.path,
                "prior": p.law,
                "low": p.low,
                "high": p.high,
                "mean": float(np.average(x, weights=w)),
                "median": weighted_quantile(x, w, 0.5),
                "q05": weighted_quantile(x, w, 0.05),
                "q95": weighted_quantile(x, w, 0.95),
            }
        )
    return pd.DataFrame(rows)


def pairplot(posterior: pd.DataFrame, priors: Sequence[Prior], path: Path) -> None:
    """Pairwise posterior plot: weighted histograms on the diagonal, particles (size ∝ weight)
    below it, over the prior ranges."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = len(priors)
    fig, axes = plt.subplots(d, d, figsize=(2.6 * d + 1, 2.6 * d + 1), squeeze=False)
    w = posterior["weight"].to_numpy()
    for i, pi in enumerate(priors):
        for j, pj in enumerate(priors):
            ax = axes[i][j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(posterior[pi.path], bins=20, weights=w, range=(pi.low, pi.high))
                ax.set_yticks([])
            else:
                ax.scatter(
                    posterior[pj.path], posterior[pi.path], s=2 + 400 * w / w.sum(), alpha=0.5
                )
                ax.set_xlim(pj.low, pj.high)
                ax.set_ylim(pi.low, pi.high)
            if i == d - 1:
                ax.set_xlabel(pj.path, fontsize=7)
            if j == 0 and i > 0:
                ax.set_ylabel(pi.path, fontsize=7)
    fig.suptitle("ABC-SMC posterior (last generation)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def calibrated_scenario(base: Scenario, values: Mapping[str, Any], name: str) -> Scenario:
    """``base`` with the posterior point estimates set (validated again as a whole)."""
    sc = copy.deepcopy(base)
    for path, value in values.items():
        set_setting(sc, path, value)
    sc.name = name
    data = sc.to_dict()
    data.pop("source", None)
    return from_dict(data, f"calibrated scenario {name!r}")


# ---------------------------------------------------------------------------- predictions
def prediction_table(
    runs: Sequence[pd.DataFrame], scenario: Scenario, window: int, fitted: Sequence[Measurement]
) -> pd.DataFrame:
    """Every published point within the runs' months against the posterior-predictive runs:
    median and 90% interval, the published value and interval, and the row's role: "calibrated"
    for the points fitted (a point, not its statistic: another study's point of the same series
    and month, e.g. Graphite's second analysis of 2023-11 when only the first was fitted, is
    "not fitted"), "not fitted" for other points up to the cutoff, "out-of-sample" after it."""
    fitted_points = set(fitted)
    last = min(len(r) for r in runs) - 1 if runs else -1
    rows = []
    for m in MEASUREMENTS:
        step = scenario.month_to_step(m.month, m.month)
        if step > last or m.series not in runs[0]:
            continue
        sims = np.array([summaries(r, [m], scenario, window)[target_key(m)] for r in runs])
        lo, hi = np.nanquantile(sims, [0.05, 0.95])
        plo, phi = m.interval
        role = (
            "calibrated"
            if m in fitted_points
            else ("out-of-sample" if not m.calibration_target else "not fitted")
        )
        rows.append(
            {
                "study": m.study,
                "series": m.series,
                "month": m.month,
                "role": role,
                "published": m.value,
                "published_low": plo,
                "published_high": phi,
                "simulated_median": float(np.nanmedian(sims)),
                "simulated_q05": float(lo),
                "simulated_q95": float(hi),
                # targets: the median run within the published uncertainty; predictions: the
                # 90% posterior-predictive interval meets the published uncertainty interval
                "agrees": bool(
                    plo <= np.nanmedian(sims) <= phi
                    if role == "calibrated"
                    else max(lo, plo) <= min(hi, phi)
                ),
                "citation": m.citation,
            }
        )
    return pd.DataFrame(rows)


def band_frame(
    draw: int, settings: Mapping[str, Any], metrics: pd.DataFrame, scenario: Scenario
) -> pd.DataFrame:
    """One posterior-predictive run as long rows (draw, step, month, the band series)."""
    cols = [c for c in BAND_SERIES if c in metrics]
    out = metrics[cols].reset_index(drop=True).copy()
    out.insert(0, "month", [scenario.step_to_month(i) for i in range(len(out))])
    out.insert(0, "step", np.arange(len(out), dtype=np.int32))
    out.insert(0, "draw", np.int32(draw))
    return out


#: the key of a calibration's manifest that records the fitted settings' values in the scenario
#: calibrated (where the fit started; :func:`habsburg.experiments.bands.own_settings`)
CALIBRATED_FROM = "calibrated_from"


def posterior_settings(directory: str | Path, n: int, seed: int = 0) -> list[dict[str, float]]:
    """``n`` settings drawn from a calibration's posterior (by weight), e.g. to run a scenario
    or a policy comparison over the posterior ensemble instead of one point estimate."""
    posterior = pd.read_parquet(
        Path(directory) / "posterior.parquet", page_checksum_verification=True
    )
    rng = np.random.default_rng(seed)
    w = posterior["weight"].to_numpy()
    picks = rng.choice(len(posterior), size=n, p=w / w.sum())
    cols = [c for c in posterior.columns if c != "weight"]
    return [{c: float(posterior[c].iloc[i]) for c in cols} for i in picks]


def forecast_bands(long: pd.DataFrame) -> pd.DataFrame:
    """Per month and series of the posterior-predictive runs: median and 50% / 90% bands."""
    series = [c for c in BAND_SERIES if c in long]
    melted = long.melt(id_vars=["draw", "step", "month"], value_vars=series, var_name="series")
    grouped = melted.groupby(["series", "step", "month"])["value"]
    out = grouped.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
    out.columns = ["q05", "q25", "median", "q75", "q95"]
    return out.reset_index()
