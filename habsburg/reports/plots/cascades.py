"""Cascade figures: how big errors' cascades grow, how fast, where they began, and the spread of
one error."""

from __future__ import annotations

import matplotlib as mpl
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from habsburg.analysis.cascades import origin_share_matrix, size_distribution
from habsburg.reports.plots.base import grid


def cascade_overview(cascades: pd.DataFrame, origins: pd.DataFrame) -> Figure:
    """Cascade sizes (complementary CDF of models and documents per error), time from origin to
    adoption, and where errors began."""
    fig, axes = grid(1, 3, size=(13.5, 3.8), wspace=0.55, top=0.35)
    ax = axes[0, 0]
    for col, color in (("models", "C3"), ("documents", "C0")):
        sizes = size_distribution(cascades[cascades[col] > 0], col)
        if len(sizes):
            ax.step(sizes[col], sizes["ccdf"], where="post", color=color, label=f"{col} per error")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cascade size")
    ax.set_ylabel("P(size ≥ s)")
    ax.legend(fontsize=8)
    ax.set_title("Cascade sizes")

    ax = axes[0, 1]
    first = cascades["months_to_first_adoption"].dropna()
    cross = cascades["months_to_cross_model"].dropna()
    top = max(first.max() if len(first) else 1, cross.max() if len(cross) else 1, 1)
    bins = np.arange(0, top + 7, 6)
    ax.hist(first, bins=bins, color="C0", alpha=0.6, label="to first model adoption")
    ax.hist(cross, bins=bins, color="C3", alpha=0.6, label="to first cross-model adoption")
    ax.set_xlabel("months after the error first appeared")
    ax.set_ylabel("errors")
    ax.legend(fontsize=8)
    ax.set_title("How fast errors are learned")

    ax = axes[0, 2]
    wide = origin_share_matrix(origins)
    left = np.zeros(len(wide))
    kind_color = {"human": "C2", "model": "C3", "farm": "C1", "hybrid": "C4", "repost": "C5"}
    for kind in wide.columns:
        ax.barh(wide.index, wide[kind], left=left, color=kind_color.get(kind), label=kind)
        left += wide[kind].to_numpy()
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0, decimals=0))
    ax.legend(fontsize=8, title="began with", title_fontsize=8, loc="lower right")
    ax.set_title("Where errors began")
    return fig


def cascade_graph(graph: nx.DiGraph, title: str) -> Figure:
    """One error's spread, left to right: origin, the others who published it, the models that
    came to believe it (arrows from the publishers whose documents came before)."""
    fig, ax = grid(size=(9.0, 5.5), left=0.2, right=0.2, bottom=0.1, top=0.7)
    ax = ax[0, 0]
    ax.set_axis_off()
    layer = {}
    for n, d in graph.nodes(data=True):
        role = d.get("role", "publisher")
        layer[n] = 0 if role.startswith("origin") else (2 if role.endswith("believer") else 1)
    nx.set_node_attributes(graph, layer, "layer")
    pos = nx.multipartite_layout(graph, subset_key="layer")
    color = {0: "C3", 1: "C0", 2: "C1"}
    sizes = [300 + 60 * np.sqrt(graph.nodes[n].get("documents", 0)) for n in graph.nodes]
    nx.draw_networkx_edges(
        graph,
        pos,
        ax=ax,
        edge_color="0.6",
        arrowsize=10,
        node_size=sizes,
        connectionstyle="arc3,rad=0.25",
    )
    nx.draw_networkx_nodes(
        graph, pos, ax=ax, node_color=[color[layer[n]] for n in graph.nodes], node_size=sizes
    )
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=7)
    for lay, name in ((0, "origin"), (1, "published it"), (2, "came to believe it")):
        xs = [pos[n][0] for n in graph.nodes if layer[n] == lay]
        if xs:
            ax.text(np.mean(xs), 1.02, name, ha="center", transform=ax.get_xaxis_transform())
    ax.set_title(title, pad=18)
    return fig
