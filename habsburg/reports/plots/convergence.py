"""Convergence figures: JS divergence between models over time, the JS matrix at the end, and
who trains on whose output."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from habsburg.analysis.convergence import HUMAN, means_over_time
from habsburg.reports.plots.base import grid, model_colors, months, room_for_legend


def convergence(
    pairs: pd.DataFrame,
    model_metrics: pd.DataFrame,
    style: pd.DataFrame | None = None,
) -> Figure:
    """JS divergence between every pair of deployed models over time (and each model's JS to
    p_H), the homogenization index, and style distances."""
    panels = 3 if style is not None and len(style) else 2
    fig, axes = grid(panels, 1, size=(8.5, 2.6 * panels), sharex=True, hspace=0.12)
    step_month = dict(zip(model_metrics["step"], model_metrics["month"], strict=True))
    ax = axes[0, 0]
    for _, g in pairs[pairs["model_b"] != HUMAN].groupby(["model_a", "model_b"]):
        ax.plot(months(g["step"].map(step_month)), g["js"], color="0.75", lw=0.7)
    mean, to_h = means_over_time(pairs, "js")
    ax.plot(months(mean.index.map(step_month)), mean, color="C0", lw=2, label="mean between models")
    ax.plot(months(to_h.index.map(step_month)), to_h, color="k", ls="--", label="mean to p_H")
    ax.set_ylabel("JS divergence (nats)")
    room_for_legend(ax, ncols=2)
    ax.set_title("Are the models converging on each other?")

    ax = axes[1, 0]
    h = model_metrics.dropna(subset=["systemic_failure_ratio"])
    ax.plot(months(h["month"]), h["systemic_failure_ratio"], color="C3")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    if len(h) and h["systemic_failure_ratio"].max() > 20:
        ax.set_yscale("log")
    ax.set_ylabel("systemic-failure ratio")
    ax.text(0.01, 0.92, "1 = models fail independently", transform=ax.transAxes, fontsize=8)

    if panels == 3:
        ax = axes[2, 0]
        sb, sh = means_over_time(style, ["mean_distance", "w2"])
        x = months(sb.index.map(step_month))
        ax.plot(x, sb["w2"], color="C2", label="W2 between models")
        ax.plot(x, sb["mean_distance"], color="C2", ls=":", label="|μa − μb| between models")
        ax.plot(
            months(sh.index.map(step_month)), sh["w2"], color="k", ls="--", label="W2 to humans"
        )
        ax.set_ylabel("style distance")
        room_for_legend(ax, ncols=2)
    return fig


def js_heatmap(matrix: pd.DataFrame, title: str) -> Figure:
    """A JS-divergence matrix as a heat map with the values written in."""
    n = len(matrix)
    fig, ax = grid(size=(2.2 + 0.75 * n, 1.6 + 0.65 * n), left=1.0, bottom=1.0, right=1.2)
    ax = ax[0, 0]
    im = ax.imshow(matrix.to_numpy(), cmap="viridis")
    ax.set_xticks(range(n), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(n), matrix.index)
    vmax = float(np.nanmax(matrix.to_numpy())) if n else 1.0
    for i in range(n):
        for j in range(n):
            v = matrix.iat[i, j]
            ax.text(
                j,
                i,
                f"{v:.3f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if v < 0.5 * vmax else "black",
            )
    fig.colorbar(im, ax=ax, label="JS divergence (nats)")
    ax.set_title(title)
    return fig


def training_graph(graph: nx.DiGraph, paths: pd.DataFrame | None = None) -> Figure:
    """Who trains on whose output: arrows A → B as wide as the share of B's training data A
    wrote; the heaviest chain of two or more hops in red."""
    fig, ax = grid(size=(7.5, 6.5), left=0.1, right=0.1, bottom=0.1)
    ax = ax[0, 0]
    ax.set_axis_off()
    if graph.number_of_nodes() == 0:
        ax.text(0.5, 0.5, "no model has retrained yet", ha="center", transform=ax.transAxes)
        return fig
    pos = nx.circular_layout(sorted(graph.nodes))
    colors = model_colors(graph.nodes)
    edges = [(a, b) for a, b in graph.edges if a != b]
    weights = np.array([graph[a][b]["weight"] for a, b in edges])
    highlight = set()
    if paths is not None and len(paths):
        chains = paths[paths["hops"] >= 2]
        if len(chains):
            nodes = chains.iloc[0]["path"].split(" → ")
            highlight = set(itertools.pairwise(nodes))
    scale = 12.0 / max(weights.max(), 1e-9) if weights.size else 1.0
    nx.draw_networkx_edges(
        graph,
        pos,
        edgelist=edges,
        width=np.maximum(weights * scale, 0.3),
        edge_color=["C3" if e in highlight else "0.55" for e in edges],
        alpha=0.8,
        arrowsize=12,
        connectionstyle="arc3,rad=0.12",
        ax=ax,
        node_size=1800,
    )
    self_share = {n: graph[n][n]["weight"] for n in graph.nodes if graph.has_edge(n, n)}
    nx.draw_networkx_nodes(
        graph, pos, node_color=[colors[n] for n in graph.nodes], node_size=1800, alpha=0.9, ax=ax
    )
    labels = {
        n: f"{n}\n{d.get('synthetic_share', float('nan')):.0%} synth."
        + (f"\n{self_share[n]:.0%} own" if n in self_share else "")
        for n, d in graph.nodes(data=True)
    }
    nx.draw_networkx_labels(graph, pos, labels=labels, font_size=7, ax=ax)
    ax.set_title("Who trains on whose output (arrow width: share of the target's training data)")
    return fig
