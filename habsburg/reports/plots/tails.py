"""Tail and capability figures: rank-frequency curves by generation, lost tails, and the collapse
symptoms generation by generation."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from habsburg.analysis.convergence import HUMAN
from habsburg.reports.plots.base import grid, model_colors, percent_axis


def _log_thin(curve: pd.DataFrame, points: int = 400) -> pd.DataFrame:
    """Rows at log-spaced positions (a log-x curve looks the same with far fewer points); the
    last row is kept so the curve still ends where the support ends."""
    n = len(curve)
    if n <= points:
        return curve
    idx = np.unique(np.r_[np.geomspace(1, n, points).astype(int) - 1, n - 1])
    return curve.iloc[idx]


def rank_frequency(rf: pd.DataFrame, ratio: pd.DataFrame, model: str) -> Figure:
    """Zipf plot of each generation of ``model`` against p_H, and its mass relative to p_H by
    p_H rank."""
    fig, axes = grid(1, 2, size=(11.5, 4.2), right=0.1, wspace=0.35)
    gens = sorted(rf.loc[rf["model"] == model, "generation"].unique())
    cmap = mpl.colormaps["viridis"]
    ax = axes[0, 0]
    for i, gen in enumerate(gens):
        g = _log_thin(rf[(rf["model"] == model) & (rf["generation"] == gen)])
        ax.plot(g["rank"], g["probability"], color=cmap(i / max(len(gens) - 1, 1)), lw=1)
    h = _log_thin(rf[rf["model"] == HUMAN])
    ax.plot(h["rank"], h["probability"], color="k", lw=2, ls="--", label="human p_H")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rank")
    ax.set_ylabel("probability")
    ax.legend(fontsize=8)
    ax.set_title(f"{model}: rank-frequency by generation")
    norm = mpl.colors.Normalize(min(gens, default=0), max(gens, default=1))
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="generation")
    ax = axes[0, 1]
    for i, gen in enumerate(gens):
        g = ratio[ratio["generation"] == gen]
        mid = np.sqrt(g["rank_low"] * np.maximum(g["rank_high"], g["rank_low"]))
        ax.plot(mid, g["ratio"], color=cmap(i / max(len(gens) - 1, 1)), lw=1, marker=".", ms=3)
    ax.axhline(1.0, color="k", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("concept rank in p_H")
    ax.set_ylabel("model mass / human mass")
    ax.set_title("over-produced head, vanishing tail")
    return fig


def tail_survival(survival: pd.DataFrame) -> Figure:
    """Tail concepts each lineage can still produce, by generation (and as a share of what its
    generation 0 knew)."""
    fig, axes = grid(1, 2, size=(11.5, 4.0), wspace=0.25)
    colors = model_colors(survival["model"])
    for model, g in survival.groupby("model", sort=True):
        axes[0, 0].plot(
            g["generation"], g["tail_known"], marker="o", ms=3, color=colors[model], label=model
        )
        axes[0, 1].plot(g["generation"], g["survival"], marker="o", ms=3, color=colors[model])
    total = int(survival["tail_total"].iloc[0]) if len(survival) else 0
    axes[0, 0].set_ylabel(f"tail concepts known (of {total})")
    axes[0, 0].legend(fontsize=7, ncols=2)
    axes[0, 1].set_ylabel("share of generation 0's tail still known")
    percent_axis(axes[0, 1])
    for ax in axes[0]:
        ax.set_xlabel("generation")
        ax.axvspan(-0.5, 0.5, color="0.93", zorder=0)
        ax.axvspan(0.5, 1.5, color="0.97", zorder=0)
    axes[0, 0].set_title("Lost tails")
    return fig


def generation_quality(quality: pd.DataFrame) -> Figure:
    """Capability (excess cross-entropy over p_H's entropy), fact accuracy on all and on tail
    facts, and style variance (relative to humans), generation by generation."""
    panels = [
        (
            "excess_nats" if "excess_nats" in quality else "capability",
            "capability loss (nats over H(p_H))",
        ),
        ("fact_accuracy", "fact accuracy"),
        ("tail_fact_accuracy", "fact accuracy, tail facts"),
        ("style_variance_ratio", "style variance / human"),
    ]
    fig, axes = grid(2, 2, size=(11.0, 6.8), sharex=True, top=0.6, hspace=0.1, wspace=0.22)
    colors = model_colors(quality["model"])
    for k, (col, label) in enumerate(panels):
        ax = axes[k // 2, k % 2]
        for model, g in quality.groupby("model", sort=True):
            ax.plot(g["generation"], g[col], marker="o", ms=3, color=colors[model], label=model)
        ax.set_ylabel(label)
        if k >= 2:
            ax.set_xlabel("generation")
    axes[1, 1].axhline(1.0, color="k", ls="--", lw=0.8)
    axes[0, 0].legend(fontsize=7, ncols=2)
    fig.suptitle("Collapse symptoms per generation: capability, errors, variance")
    return fig
