"""Comparison figures: scenario means over seeds with confidence bands, and paired differences
from the base scenario with their intervals."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from habsburg.analysis.stats import band
from habsburg.reports.plots.base import grid


def compare_series(
    series: pd.DataFrame, metrics: list[str], labels: dict[str, str], confidence: float = 0.95
) -> Figure:
    """Monthly means of each scenario over seeds with a pointwise confidence band."""
    rows = (len(metrics) + 1) // 2
    fig, axes = grid(rows, 2, size=(11.5, 2.8 * rows), sharex=True, top=0.7, hspace=0.3, wspace=0.2)
    for k, metric in enumerate(metrics):
        ax = axes[k // 2, k % 2]
        for i, (scenario, g) in enumerate(series.groupby("scenario", sort=False)):
            wide = g.pivot_table(index="seed", columns="step", values=metric, dropna=False)
            x = wide.columns.to_numpy()
            mean, low, high = band(wide.to_numpy(dtype=float), confidence)
            ax.plot(x, mean, color=f"C{i}", label=scenario, lw=1.5)
            ax.fill_between(x, low, high, color=f"C{i}", alpha=0.2, lw=0)
        ax.set_title(f"{metric}: {labels.get(metric, metric)}", fontsize=8)
        if k // 2 == rows - 1:
            ax.set_xlabel("month of the run")
    for k in range(len(metrics), rows * 2):
        axes[k // 2, k % 2].set_axis_off()
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Scenario means over seeds with {confidence:.0%} bands")
    return fig


def compare_differences(differences: pd.DataFrame, confidence: float = 0.95) -> Figure:
    """Each outcome's paired difference against the base with its confidence interval, scaled
    by the base mean so outcomes of different units share an axis."""
    outcomes = list(pd.unique(differences["outcome"]))
    scenarios = list(pd.unique(differences["scenario"]))
    fig, ax = grid(size=(9.5, 0.35 * len(outcomes) + 1.5), left=2.6)
    ax = ax[0, 0]
    offset = np.linspace(-0.25, 0.25, len(scenarios)) if len(scenarios) > 1 else [0.0]
    zero_base = set(differences.loc[differences["base_mean"] == 0, "outcome"])
    for i, scenario in enumerate(scenarios):
        d = differences[differences["scenario"] == scenario].set_index("outcome").reindex(outcomes)
        # relative to a base mean of 0 is undefined: such a difference is not drawn
        scale = np.where(d["base_mean"].abs() > 0, d["base_mean"].abs(), np.nan)
        y = np.arange(len(outcomes)) + offset[i]
        rel = d["difference"] / scale
        ax.errorbar(
            rel,
            y,
            xerr=[
                (d["difference"] - d["ci_low"]) / scale,
                (d["ci_high"] - d["difference"]) / scale,
            ],
            fmt="o",
            color=f"C{i + 1}",
            label=scenario,
            ms=4,
            capsize=2,
        )
    ax.axvline(0, color="k", lw=0.8)
    # symmetric log: differences of 1% and of 300% both stay readable
    ax.set_xscale("symlog", linthresh=0.01)
    names = [f"{o} (base mean 0: not drawn)" if o in zero_base else o for o in outcomes]
    ax.set_yticks(range(len(outcomes)), names, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(f"difference from base, relative to the base mean ({confidence:.0%} CI)")
    ax.legend(fontsize=8)
    return fig
