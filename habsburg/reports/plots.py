"""Figures (matplotlib, Agg): one function per figure, each taking analysis tables and returning
a :class:`matplotlib.figure.Figure`; :func:`save` writes it as PNG.

Figures are built on ``Figure`` objects, not pyplot, so nothing global is touched (safe in the
run command, in tests and in parallel workers).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib as mpl
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from habsburg.analysis.convergence import HUMAN

#: measured AI share of new English web articles (Graphite, Common Crawl samples; SCIENCE.md V5):
#: (months after the first mass-market chatbot, share)
GRAPHITE_POINTS = ((12, 0.36), (24, 0.48))
#: the plateau the same study reports after about two years
GRAPHITE_PLATEAU = 0.50
GRAPHITE_PLATEAU_FROM = 24

DPI = 110
HUMAN_COLOR = "black"


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def model_colors(names) -> dict[str, tuple]:
    """A fixed colour per model name (sorted order, tab10/tab20), the same in every figure."""
    names = sorted({str(n) for n in names if str(n) != HUMAN})
    cmap = mpl.colormaps["tab10" if len(names) <= 10 else "tab20"]
    colors = {n: cmap(i % cmap.N) for i, n in enumerate(names)}
    colors[HUMAN] = HUMAN_COLOR
    return colors


def months(labels) -> pd.DatetimeIndex:
    """'YYYY-MM' labels as dates (for time axes)."""
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(labels).astype(str), format="%Y-%m"))


def _figure(
    rows: int = 1,
    cols: int = 1,
    size=(8.0, 4.2),
    *,
    left: float = 0.85,
    right: float = 0.25,
    bottom: float = 0.55,
    top: float = 0.45,
    hspace: float = 0.3,
    wspace: float = 0.3,
    **kw,
):
    """A figure with a grid of axes and fixed margins (in inches). Fixed margins instead of a
    layout engine: constrained layout measures every tick label twice and took more than half
    of a report's drawing time."""
    fig = Figure(figsize=size)
    w, h = size
    fig.subplots_adjust(
        left=left / w,
        right=1 - right / w,
        bottom=bottom / h,
        top=1 - top / h,
        hspace=hspace,
        wspace=wspace,
    )
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, axes


def _room_for_legend(ax, ncols: int) -> None:
    """Legend in one row at the top, with the y range raised so it covers no line."""
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, 0.0), high + 0.3 * (high - min(low, 0.0)))
    ax.legend(fontsize=8, loc="upper left", ncols=ncols)


def _percent(ax) -> None:
    ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0, decimals=0))


# --- synthetic share ----------------------------------------------------------------------
def synthetic_share(model_metrics: pd.DataFrame, launch_month: str) -> Figure:
    """True and detector-measured synthetic share of new documents (and of the whole web)
    against the measured web curve (Graphite)."""
    fig, ax = _figure(size=(8.5, 4.2))
    ax = ax[0, 0]
    x = months(model_metrics["month"])
    ax.plot(x, model_metrics["synthetic_share_new"], color="C0", label="new documents, true")
    ax.plot(
        x,
        model_metrics["synthetic_share_new_measured"],
        color="C1",
        label="new documents, detector-measured",
    )
    ax.plot(x, model_metrics["synthetic_share_stock"], color="C0", ls=":", label="whole web, true")
    launch = pd.Timestamp(f"{launch_month}-01")
    gx = [launch + pd.DateOffset(months=m) for m, _ in GRAPHITE_POINTS]
    ax.scatter(
        gx,
        [s for _, s in GRAPHITE_POINTS],
        color="C3",
        zorder=5,
        s=50,
        marker="D",
        label="measured web (Graphite)",
    )
    plateau_from = launch + pd.DateOffset(months=GRAPHITE_PLATEAU_FROM)
    if plateau_from < x.max():
        ax.hlines(GRAPHITE_PLATEAU, plateau_from, x.max(), color="C3", ls="--", lw=1)
    ax.axvline(launch, color="grey", lw=0.8, ls="--")
    ax.text(
        launch,
        0.45,
        "chatbot launch ",
        transform=ax.get_xaxis_transform(),
        rotation=90,
        ha="right",
        va="center",
        fontsize=8,
        color="grey",
    )
    ax.set_ylabel("synthetic share")
    ax.set_ylim(0, 1)
    _percent(ax)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("How much of the web is written by models")
    return fig


# --- convergence --------------------------------------------------------------------------
def convergence(
    pairs: pd.DataFrame,
    model_metrics: pd.DataFrame,
    style: pd.DataFrame | None = None,
) -> Figure:
    """JS divergence between every pair of deployed models over time (and each model's JS to
    p_H), the homogenization index, and style distances."""
    panels = 3 if style is not None and len(style) else 2
    fig, axes = _figure(panels, 1, size=(8.5, 2.6 * panels), sharex=True, hspace=0.12)
    step_month = dict(zip(model_metrics["step"], model_metrics["month"], strict=True))
    ax = axes[0, 0]
    between = pairs[pairs["model_b"] != HUMAN]
    for _, g in between.groupby(["model_a", "model_b"]):
        ax.plot(months(g["step"].map(step_month)), g["js"], color="0.75", lw=0.7)
    mean = between.groupby("step")["js"].mean()
    ax.plot(months(mean.index.map(step_month)), mean, color="C0", lw=2, label="mean between models")
    to_h = pairs[pairs["model_b"] == HUMAN].groupby("step")["js"].mean()
    ax.plot(months(to_h.index.map(step_month)), to_h, color="k", ls="--", label="mean to p_H")
    ax.set_ylabel("JS divergence (nats)")
    _room_for_legend(ax, ncols=2)
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
        sb = style[style["model_b"] != HUMAN].groupby("step")[["mean_distance", "w2"]].mean()
        sh = style[style["model_b"] == HUMAN].groupby("step")["w2"].mean()
        x = months(sb.index.map(step_month))
        ax.plot(x, sb["w2"], color="C2", label="W2 between models")
        ax.plot(x, sb["mean_distance"], color="C2", ls=":", label="|μa − μb| between models")
        ax.plot(months(sh.index.map(step_month)), sh, color="k", ls="--", label="W2 to humans")
        ax.set_ylabel("style distance")
        _room_for_legend(ax, ncols=2)
    return fig


def js_heatmap(matrix: pd.DataFrame, title: str) -> Figure:
    """A JS-divergence matrix as a heat map with the values written in."""
    n = len(matrix)
    fig, ax = _figure(size=(2.2 + 0.75 * n, 1.6 + 0.65 * n), left=1.0, bottom=1.0, right=1.2)
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
    fig, ax = _figure(size=(7.5, 6.5), left=0.1, right=0.1, bottom=0.1)
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


# --- cascades -----------------------------------------------------------------------------
def cascade_overview(cascades: pd.DataFrame, origins: pd.DataFrame) -> Figure:
    """Cascade sizes (complementary CDF of models and documents per error), time from origin to
    adoption, and where errors began."""
    fig, axes = _figure(1, 3, size=(13.5, 3.8), wspace=0.55, top=0.35)
    ax = axes[0, 0]
    for col, color in (("models", "C3"), ("documents", "C0")):
        sizes = cascades[col].to_numpy()
        values, counts = np.unique(sizes[sizes > 0], return_counts=True)
        if values.size:
            ccdf = counts[::-1].cumsum()[::-1] / counts.sum()
            ax.step(values, ccdf, where="post", color=color, label=f"{col} per error")
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
    wide = origins.pivot_table(index="errors", columns="origin_kind", values="share", aggfunc="sum")
    wide = wide.reindex(["all errors", "believed by a model", "believed by 2+ models"]).fillna(0)
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
    fig, ax = _figure(size=(9.0, 5.5), left=0.2, right=0.2, bottom=0.1, top=0.7)
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


# --- filters ------------------------------------------------------------------------------
def filter_performance(over_time: pd.DataFrame, step_month: dict[int, str]) -> Figure:
    """Precision, recall and false-positive rate of each scraper's AI filters by month."""
    fig, axes = _figure(3, 1, size=(8.5, 7.0), sharex=True, hspace=0.12)
    for i, (col, label) in enumerate(
        (("precision", "precision"), ("recall", "recall"), ("false_positive_rate", "FPR"))
    ):
        ax = axes[i, 0]
        for j, (scraper, g) in enumerate(over_time.groupby("scraper", sort=True)):
            style = {"color": "k", "lw": 2} if scraper == "all" else {"color": f"C{j}", "lw": 1}
            ax.plot(months(g["step"].map(step_month)), g[col], label=scraper, **style)
        ax.set_ylabel(label)
        ax.set_ylim(0, 1.02 if col != "false_positive_rate" else None)
        _percent(ax)
    axes[0, 0].legend(fontsize=8, ncols=4, loc="lower left")
    axes[0, 0].set_title("Do the watermark and AI-text filters work?")
    return fig


def training_data(over_time: pd.DataFrame, step_month: dict[int, str]) -> Figure:
    """Synthetic share of crawled data before and after filtering, and human documents the
    filters wrongly removed, by month."""
    fig, axes = _figure(2, 1, size=(8.5, 5.6), sharex=True, hspace=0.12)
    ax = axes[0, 0]
    for j, (scraper, g) in enumerate(over_time.groupby("scraper", sort=True)):
        x = months(g["step"].map(step_month))
        color = "k" if scraper == "all" else f"C{j}"
        ax.plot(x, g["synthetic_before"], color=color, ls=":", lw=1)
        ax.plot(
            x, g["synthetic_after"], color=color, label=scraper, lw=2 if scraper == "all" else 1
        )
    ax.set_ylabel("synthetic share of crawl")
    _percent(ax)
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
    from habsburg.analysis.filters import auc

    fig, ax = _figure(size=(5.8, 5.4), left=0.7)
    ax = ax[0, 0]
    fixed = {"all AI documents": "k", "watermarking labs": "C2", "non-watermarking labs": "C1"}
    for i, (group, g) in enumerate(curves.groupby("group", sort=False)):
        ax.plot(
            g["fpr"],
            g["tpr"],
            color=fixed.get(group, f"C{i + 3}"),
            lw=2 if i == 0 else 1,
            label=f"{group} (AUC {auc(g):.2f})",
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
    ``n`` rows of :func:`habsburg.analysis.filters.filter_counterfactual`'s table."""
    t = table.head(n)
    fig, axes = _figure(1, len(t), size=(2.1 * max(len(t), 1), 3.4), left=0.6, top=0.75, wspace=0.6)
    for i, row in enumerate(t.itertuples(index=False)):
        ax = axes[0, i]
        # dots, not bars: the axis is zoomed in and bars would exaggerate the difference
        ax.plot([0, 1], [row.filters_on, row.filters_off], color="0.7", zorder=1)
        ax.scatter([0, 1], [row.filters_on, row.filters_off], color=["C0", "C7"], s=60, zorder=2)
        ax.set_xticks([0, 1], ["on", "off"])
        ax.set_xlim(-0.5, 1.5)
        lo, hi = sorted((row.filters_on, row.filters_off))
        pad = max((hi - lo) * 1.5, abs(hi) * 0.02, 1e-6)
        ax.set_ylim(lo - pad, hi + pad)
        ax.text(
            0.5,
            0.03,
            f"on − off: {row.effect:+.4g}",
            transform=ax.transAxes,
            ha="center",
            fontsize=7,
        )
        title = row.outcome.removeprefix("final_").removeprefix("mean_").replace("_", " ")
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("AI filters on vs off (same seed, end of run)")
    return fig


# --- tails and capability -----------------------------------------------------------------
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
    fig, axes = _figure(1, 2, size=(11.5, 4.2), right=0.1, wspace=0.35)
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
    fig, axes = _figure(1, 2, size=(11.5, 4.0), wspace=0.25)
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
    _percent(axes[0, 1])
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
    fig, axes = _figure(2, 2, size=(11.0, 6.8), sharex=True, top=0.6, hspace=0.1, wspace=0.22)
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


# --- comparisons --------------------------------------------------------------------------
def compare_series(
    series: pd.DataFrame, metrics: list[str], labels: dict[str, str], confidence: float = 0.95
) -> Figure:
    """Monthly means of each scenario over seeds with a pointwise confidence band."""
    from habsburg.experiments.compare import band

    rows = (len(metrics) + 1) // 2
    fig, axes = _figure(
        rows, 2, size=(11.5, 2.8 * rows), sharex=True, top=0.7, hspace=0.3, wspace=0.2
    )
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
    fig, ax = _figure(size=(9.5, 0.35 * len(outcomes) + 1.5), left=2.6)
    ax = ax[0, 0]
    offset = np.linspace(-0.25, 0.25, len(scenarios)) if len(scenarios) > 1 else [0.0]
    for i, scenario in enumerate(scenarios):
        d = differences[differences["scenario"] == scenario].set_index("outcome").reindex(outcomes)
        scale = np.where(d["base_mean"].abs() > 0, d["base_mean"].abs(), 1.0)
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
    ax.set_yticks(range(len(outcomes)), outcomes, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(f"difference from base, relative to the base mean ({confidence:.0%} CI)")
    ax.legend(fontsize=8)
    return fig
