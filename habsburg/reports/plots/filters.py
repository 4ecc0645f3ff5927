"""Filter figures: the AI filters' precision and recall by month, what reaches the training data,
the watermark z-test's ROC curve, and the filters-off counterfactual."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from habsburg.analysis.filters import auc_label
from habsburg.reports.plots.base import grid, months, percent_axis


def filter_performance(over_time: pd.DataFrame, step_month: dict[int, str]) -> Figure:
    """Precision, recall and false-positive rate of each scraper's AI filters by month."""
    fig, axes = grid(3, 1, size=(8.5, 7.0), sharex=True, hspace=0.12)
    for i, (col, label) in enumerate(
        (("precision", "precision"), ("recall", "recall"), ("false_positive_rate", "FPR"))
    ):
        ax = axes[i, 0]
        for j, (scraper, g) in enumerate(over_time.groupby("scraper", sort=True)):
            style = {"color": "k", "lw": 2} if scraper == "all" else {"color": f"C{j}", "lw": 1}
            ax.plot(months(g["step"].map(step_month)), g[col], label=scraper, **style)
        ax.set_ylabel(label)
        ax.set_ylim(0, 1.02 if col != "false_positive_rate" else None)
        percent_axis(ax)
    axes[0, 0].legend(fontsize=8, ncols=4, loc="lower left")
    axes[0, 0].set_title("Do the watermark and AI-text filters work?")
    return fig


def training_data(over_time: pd.DataFrame, step_month: dict[int, str]) -> Figure:
    """Synthetic share of crawled data before and after filtering, and human documents the
    filters wrongly removed, by month."""
    fig, axes = grid(2, 1, size=(8.5, 5.6), sharex=True, hspace=0.12)
    ax = axes[0, 0]
    for j, (scraper, g) in enumerate(over_time.groupby("scraper", sort=True)):
        x = months(g["step"].map(step_month))
        color = "k" if scraper == "all" else f"C{j}"
        ax.plot(x, g["synthetic_before"], color=color, ls=":", lw=1)
        ax.plot(
            x, g["synthetic_after"], color=color, label=scraper, lw=2 if scraper == "all" else 1
        )
    ax.set_ylabel("synthetic share of crawl")
    percent_axis(ax)
    ax.legend(
        fontsize=8, loc="upper left", title="after filtering (dotted: before)", title_fontsize=8
    )
    ax.set_title("What reaches the training data")
    ax = axes[1, 0]
    for j, (scraper, g) in enumerate(over_time.groupby("scraper", sort=True)):
        if scraper == "all":
            continue
        ax.plot(months(g["step"].map(step_month)), g["human_lost"], color=f"C{j}", label=scraper)
    ax.set_ylabel("human documents lost / month")
    return fig


def roc(curves: pd.DataFrame, point: dict[str, float] | None = None) -> Figure:
    """ROC curves of the watermark z-test (one per group), with the configured operating
    point."""
    fig, ax = grid(size=(5.8, 5.4), left=0.7)
    ax = ax[0, 0]
    fixed = {"all AI documents": "k", "watermarking labs": "C2", "non-watermarking labs": "C1"}
    for i, (group, g) in enumerate(curves.groupby("group", sort=False)):
        ax.plot(
            g["fpr"],
            g["tpr"],
            color=fixed.get(group, f"C{i + 3}"),
            lw=2 if i == 0 else 1,
            label=f"{group} ({auc_label(g)})",
        )
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8)
    if point is not None:
        ax.scatter(
            [point["fpr"]],
            [point["tpr"]],
            color="C3",
            zorder=5,
            label=f"z ≥ {point['threshold']:g} (TPR {point['tpr']:.0%}, FPR {point['fpr']:.1%})",
        )
    ax.set_xlabel("false-positive rate (human documents flagged)")
    ax.set_ylabel("true-positive rate (AI documents flagged)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Watermark z-test over thresholds")
    return fig


def counterfactual(table: pd.DataFrame, n: int = 6) -> Figure:
    """Outcomes at the end of the run with the AI filters on and off (same seed): the first
    ``n`` rows of :func:`habsburg.experiments.counterfactual.filter_counterfactual`'s table."""
    t = table.head(n)
    fig, axes = grid(1, len(t), size=(2.1 * max(len(t), 1), 3.4), left=0.6, top=0.75, wspace=0.6)
    for i, row in enumerate(t.itertuples(index=False)):
        ax = axes[0, i]
        # dots, not bars: the axis is zoomed in and bars would exaggerate the difference
        ax.plot([0, 1], [row.filters_on, row.filters_off], color="0.7", zorder=1)
        ax.scatter([0, 1], [row.filters_on, row.filters_off], color=["C0", "C7"], s=60, zorder=2)
        ax.set_xticks([0, 1], ["on", "off"])
        ax.set_xlim(-0.5, 1.5)
        # an outcome undefined in a run (NaN: e.g. a share of the last month's crawls in a
        # month without any) has no dot there; the axis is zoomed on the values there are
        shown = [v for v in (row.filters_on, row.filters_off) if np.isfinite(v)]
        if shown:
            lo, hi = min(shown), max(shown)
            pad = max((hi - lo) * 1.5, abs(hi) * 0.02, 1e-6)
            ax.set_ylim(lo - pad, hi + pad)
        arms = (("on", row.filters_on), ("off", row.filters_off))
        undefined = " and ".join(arm for arm, v in arms if not np.isfinite(v))
        ax.text(
            0.5,
            0.03,
            f"{undefined}: undefined" if undefined else f"on − off: {row.effect:+.4g}",
            transform=ax.transAxes,
            ha="center",
            fontsize=7,
        )
        title = row.outcome.removeprefix("final_").removeprefix("mean_").replace("_", " ")
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("AI filters on vs off (same seed, end of run)")
    return fig
