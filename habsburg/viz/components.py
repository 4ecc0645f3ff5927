"""The SolaraViz panels: matplotlib figures of the running ecosystem, one builder per question.

Each ``*_figure`` is a pure function of the model (easy to test and reuse in a notebook); each
panel component renders one of them to PNG, again whenever the model steps (Mesa's
``update_counter``). Figures are drawn on ``matplotlib.figure.Figure`` (no pyplot), so sessions
rendering in parallel threads do not share state.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import reacton.ipywidgets as rw
import solara
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mesa.visualization.utils import update_counter

from habsburg.agents.generative import GenerativeModel
from habsburg.ecosystem.internet import SITE_KIND_NAMES
from habsburg.model.model import EcosystemModel

if TYPE_CHECKING:
    from habsburg.viz.model import EcosystemViz

#: detector-based measurements of AI-written new web articles (Graphite, Common Crawl samples):
#: months after the first mass-market chatbot -> share (SCIENCE.md, V5)
WEB_STUDY = {12: 0.36, 24: 0.48}
WEB_PLATEAU = 0.50
#: months of documents that colour a site in the network panel
SITE_WINDOW = 12
SITE_MARKERS = {"human": "o", "farm": "s", "aggregator": "^"}
FIGSIZE = (6.4, 3.8)
DPI = 80


# --- data ---------------------------------------------------------------------------------------
def model_series(eco: EcosystemModel) -> pd.DataFrame:
    """Model-level metrics so far, one row per month (``step`` 0-based)."""
    df = eco.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    df.insert(0, "step", np.arange(len(df)))
    return df


def agent_series(eco: EcosystemModel) -> pd.DataFrame:
    """Per-model metrics so far, one row per model and month (``step`` 0-based)."""
    if not eco.models or eco.steps == 0:  # nothing collected yet
        return pd.DataFrame(columns=["step", "name", "market_share", "capability"])
    df = eco.datacollector.get_agenttype_vars_dataframe(GenerativeModel).reset_index()
    df = df.rename(columns={"Step": "step"})
    df["step"] = df["step"].astype(int) - 1
    return df


def site_synthetic_share(eco: EcosystemModel, window: int = SITE_WINDOW) -> np.ndarray:
    """Ground-truth synthetic share of each site's documents of the last ``window`` months (NaN
    for a site that published nothing then)."""
    store, n = eco.internet.store, eco.internet.n_sites
    if eco.month < 0 or len(store) == 0:
        return np.full(n, np.nan)
    rows = store.step_slice(eco.month - window + 1, eco.month)
    sites = store.site[rows]
    docs = np.bincount(sites, minlength=n).astype(float)
    synthetic = np.bincount(sites, weights=store.synthetic_fraction[rows], minlength=n)
    return np.where(docs > 0, synthetic / np.maximum(docs, 1), np.nan)


def model_colors(eco: EcosystemModel) -> dict[str, tuple]:
    """One colour per model, the same in every panel."""
    cmap = colormaps["tab10"]
    return {a.name: cmap(a.index % 10) for a in eco.models}


def _month_axis(ax, eco: EcosystemModel, ticks: bool = True) -> None:
    """x axis over the whole scenario, ticks at Januaries, the chatbot launch marked. Axes that
    share x with one below pass ``ticks=False`` (they share its locator; setting it twice costs)."""
    sc = eco.config
    ax.set_xlim(0, max(sc.steps - 1, 1))
    if ticks:
        years = [s for s in range(sc.steps) if sc.step_to_month(s).endswith("-01")]
        years = years[:: max(1, len(years) // 11)]
        ax.set_xticks(years, [sc.step_to_month(s)[:4] for s in years])
    ax.axvline(sc.launch_step, color="0.6", lw=0.8, ls=":")
    ax.grid(alpha=0.25)


def _empty(ax, text: str = "no data yet — press Step") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.5")


# --- figures ------------------------------------------------------------------------------------
def network_figure(eco: EcosystemModel, layout: np.ndarray) -> Figure:
    """The site graph: each site coloured by the synthetic share of its recent documents, shaped
    by who runs it (human, content farm, scraper aggregator), sized by PageRank."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout=None)
    ax = fig.subplots()
    net = eco.internet
    edges = np.array(list(net.graph.edges()), dtype=int).reshape(-1, 2)
    ax.add_collection(LineCollection(layout[edges], colors="0.75", linewidths=0.3, zorder=0))
    share = site_synthetic_share(eco)
    norm = Normalize(0.0, 1.0)
    cmap = colormaps["coolwarm"].with_extremes(bad="0.85")  # grey: nothing published lately
    size = 15 + 600 * net.pagerank / net.pagerank.max()
    mappable = None
    for code, kind in enumerate(SITE_KIND_NAMES):
        idx = np.flatnonzero(net.site_kind == code)
        if idx.size == 0:
            continue
        mappable = ax.scatter(
            layout[idx, 0],
            layout[idx, 1],
            c=share[idx],
            cmap=cmap,
            norm=norm,
            s=size[idx],
            marker=SITE_MARKERS[kind],
            edgecolors="k",
            linewidths=0.4,
            plotnonfinite=True,
            zorder=2,
        )
    if mappable is not None:
        fig.colorbar(mappable, ax=ax, shrink=0.8, label=f"synthetic share, last {SITE_WINDOW} mo")
    kinds = [
        Line2D([], [], ls="", marker=SITE_MARKERS[kind], mfc="0.8", mec="k", label=f"{kind} ({n})")
        for code, kind in enumerate(SITE_KIND_NAMES)
        if (n := int((net.site_kind == code).sum()))
    ]
    ax.legend(handles=kinds, loc="lower left", fontsize=7, framealpha=0.8)
    ax.set_title(f"Sites — {eco.date}" if eco.month >= 0 else "Sites", fontsize=10)
    ax.set_axis_off()
    ax.autoscale_view()
    return fig


def synthetic_share_figure(eco: EcosystemModel) -> Figure:
    """Synthetic share of new documents, true and as a detector measures it, against the web
    studies' measured curve; and the share of the whole web (stock)."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout=None)
    ax = fig.subplots()
    df = model_series(eco)
    launch = eco.config.launch_step
    months = np.array(sorted(WEB_STUDY)) + launch
    ax.plot(months, [WEB_STUDY[m - launch] for m in months], "kD", ms=6, label="web study")
    ax.hlines(WEB_PLATEAU, launch + 30, eco.config.steps - 1, colors="k", lw=1, ls="--")
    if len(df):
        ax.plot(df.step, df.synthetic_share_new, color="C3", label="new docs, true")
        ax.plot(
            df.step, df.synthetic_share_new_measured, color="C1", ls="-.", label="new, measured"
        )
        ax.plot(df.step, df.synthetic_share_stock, color="C0", lw=1, label="whole web, true")
    else:
        _empty(ax)
    _month_axis(ax, eco)
    ax.set_ylim(0, 1)
    ax.set_ylabel("synthetic share")
    ax.set_title("Synthetic share of the web", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def models_figure(eco: EcosystemModel) -> Figure:
    """Capability (cross-entropy to the human distribution; lower is better, floor = entropy of
    p_H) and tail coverage of each model."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout=None)
    ax_cap, ax_tail = fig.subplots(2, 1, sharex=True)
    df = agent_series(eco)
    colors = model_colors(eco)
    if len(df) and df["capability"].notna().any():
        for name, g in df.groupby("name", sort=False):
            if g.capability.isna().all():  # not launched yet
                continue
            ax_cap.plot(g.step, g.capability, color=colors.get(name), lw=1.2, label=name)
            ax_tail.plot(g.step, g.tail_coverage, color=colors.get(name), lw=1.2)
        ax_cap.axhline(eco.world.human_entropy, color="k", ls="--", lw=0.8, label="H(p_H)")
        ax_cap.legend(fontsize=6, ncol=3, loc="upper left")
    else:
        _empty(ax_cap, "no model deployed yet")
    for ax in (ax_cap, ax_tail):
        _month_axis(ax, eco, ticks=ax is ax_tail)
    ax_cap.set_ylabel("cross-entropy (nats)", fontsize=8)
    ax_tail.set_ylabel("tail coverage", fontsize=8)
    ax_tail.set_ylim(0, 1.02)
    ax_cap.set_title("Capability and tail coverage per model", fontsize=10)
    return fig


def convergence_figure(eco: EcosystemModel) -> Figure:
    """Convergence (mean pairwise Jensen–Shannon divergence between deployed models) and error
    cascades (active wrong beliefs; most models that came to believe one error)."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout=None)
    ax_js, ax_err = fig.subplots(2, 1, sharex=True)
    df = model_series(eco)
    if len(df):
        ax_js.plot(df.step, df.mean_pairwise_js, color="C4")
        ax_err.plot(df.step, df.active_wrong_beliefs, color="C3", label="active wrong beliefs")
        ax_casc = ax_err.twinx()
        ax_casc.step(
            df.step, df.largest_cascade_models, color="C2", where="post", label="largest cascade"
        )
        ax_casc.set_ylabel("models", fontsize=8, color="C2")
        ax_casc.set_ylim(0, max(len(eco.models), 1) + 0.5)
        handles = ax_err.get_legend_handles_labels()[0] + ax_casc.get_legend_handles_labels()[0]
        ax_err.legend(handles=handles, fontsize=7, loc="upper left")
    else:
        _empty(ax_js)
    for ax in (ax_js, ax_err):
        _month_axis(ax, eco, ticks=ax is ax_err)
    ax_js.set_ylabel("mean pairwise JS", fontsize=8)
    ax_err.set_ylabel("wrong beliefs", fontsize=8, color="C3")
    ax_js.set_title("Convergence and error cascades", fontsize=10)
    return fig


def filters_figure(eco: EcosystemModel) -> Figure:
    """The scrapers' AI filters against ground truth: precision and recall, and the synthetic share
    of crawled data before and after filtering."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout=None)
    ax_pr, ax_syn = fig.subplots(2, 1, sharex=True)
    df = model_series(eco)
    if len(df) and "filter_precision" in df:
        ax_pr.plot(df.step, df.filter_precision, color="C0", label="precision")
        ax_pr.plot(df.step, df.filter_recall, color="C1", label="recall")
        ax_pr.legend(fontsize=7, loc="lower left")
        ax_syn.plot(df.step, df.training_synthetic_before, color="C3", label="before filters")
        ax_syn.plot(df.step, df.training_synthetic_after, color="C2", label="after filters")
        ax_syn.legend(fontsize=7, loc="upper left")
    else:
        _empty(ax_pr)
    for ax in (ax_pr, ax_syn):
        _month_axis(ax, eco, ticks=ax is ax_syn)
        ax.set_ylim(0, 1.02)
    ax_pr.set_ylabel("filter", fontsize=8)
    ax_syn.set_ylabel("synthetic share\nof crawls", fontsize=8)
    ax_pr.set_title("Watermark / AI-text filters", fontsize=10)
    return fig


def lineage_figure(eco: EcosystemModel) -> Figure:
    """Market shares (stacked) and the model lineage: a marker per generation at the month it was
    trained, the deployed generation's number beside the last."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout=None)
    ax_mkt, ax_gen = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.2))
    df = agent_series(eco)
    colors = model_colors(eco)
    names = [a.name for a in eco.models]
    if len(df):
        shares = df.pivot_table(index="step", columns="name", values="market_share", sort=False)
        shares = shares.reindex(columns=names).fillna(0.0)
        ax_mkt.stackplot(
            shares.index,
            shares.to_numpy().T,
            colors=[colors[n] for n in names],
            labels=names,
        )
    else:
        _empty(ax_mkt)
    ax_mkt.set_ylim(0, 1)
    ax_mkt.set_ylabel("market share", fontsize=8)
    lineage = pd.DataFrame(eco.lineage)
    for row, name in enumerate(names):
        ax_gen.axhline(row, color="0.9", lw=0.8, zorder=0)
        if lineage.empty:
            continue
        g = lineage[lineage.model == name]
        ax_gen.plot(g.step, np.full(len(g), row), "-o", color=colors[name], ms=4, lw=1)
        if len(g):  # the generation now deployed, beside its marker
            ax_gen.annotate(
                f"g{g.generation.iloc[-1]}",
                (g.step.iloc[-1], row),
                xytext=(4, -3),
                textcoords="offset points",
                fontsize=6,
            )
    ax_gen.set_yticks(range(len(names)), names, fontsize=7)
    ax_gen.set_ylim(-0.6, len(names) - 0.4)
    ax_gen.invert_yaxis()
    for ax in (ax_mkt, ax_gen):
        _month_axis(ax, eco, ticks=ax is ax_gen)
    ax_mkt.set_title("Market shares and model lineage (generations)", fontsize=10)
    return fig


# --- panels -------------------------------------------------------------------------------------
def figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


@solara.component
def FigurePanel(model: EcosystemViz, build: Callable[[EcosystemViz], Figure]):
    """A figure of ``model``, drawn again only when the model or its step changes."""
    update_counter.get()
    png = solara.use_memo(lambda: figure_png(build(model)), [model, model.steps])
    return rw.Image(value=png, format="png", layout={"width": "100%", "height": "auto"})


@solara.component
def SiteNetwork(model: EcosystemViz):
    """The status line (step, month, headline numbers, settings in force) over the site graph."""
    update_counter.get()
    with solara.Column(gap="0px") as column:
        # plain HTML: solara.Markdown would fetch KaTeX from a CDN, which is not bundled offline
        rw.HTML(value=status_html(model), layout={"margin": "0 0 4px 8px"})
        FigurePanel(model, lambda m: network_figure(m.ecosystem, m.layout))
    return column


@solara.component
def SyntheticShare(model: EcosystemViz):
    return FigurePanel(model, lambda m: synthetic_share_figure(m.ecosystem))


@solara.component
def ModelQuality(model: EcosystemViz):
    return FigurePanel(model, lambda m: models_figure(m.ecosystem))


@solara.component
def ConvergenceCascades(model: EcosystemViz):
    return FigurePanel(model, lambda m: convergence_figure(m.ecosystem))


@solara.component
def Filters(model: EcosystemViz):
    return FigurePanel(model, lambda m: filters_figure(m.ecosystem))


@solara.component
def LineageMarket(model: EcosystemViz):
    return FigurePanel(model, lambda m: lineage_figure(m.ecosystem))


def status_html(model: EcosystemViz) -> str:
    """The status lines: where the run is, headline numbers, the lever values the model was built
    with (Mesa's sliders show their value only while dragged), and any control value refused."""
    from habsburg.viz.model import LEVERS

    eco = model.ecosystem
    sc = eco.config
    where = f"month {eco.date}" if eco.month >= 0 else "not started"
    head = f"<b>Step {model.steps} of {sc.steps}</b> · {where} · seed {sc.seed}"
    if eco.month >= 0:
        cur = eco.current
        head += (
            f" · {len(eco.internet.store):,} docs · synthetic share of new docs "
            f"{cur.get('synthetic_share_new', float('nan')):.0%} "
            f"(measured {cur.get('synthetic_share_new_measured', float('nan')):.0%}) · "
            f"{cur.get('deployed_models', 0)}/{len(eco.models)} models deployed"
        )
    short = {lever.path: lever.short for lever in LEVERS}
    settings = " · ".join(
        f"{short.get(k, k)} {v:g}" if isinstance(v, float | int) else f"{short.get(k, k)} {v}"
        for k, v in model.settings.items()
    )
    lines = [head, f"<small>{html.escape(settings)}</small>" if settings else ""]
    lines += [f"<span style='color:#b00'>⚠ {html.escape(p)}</span>" for p in model.problems]
    return (
        "<div style='font-size:0.85em;line-height:1.5'>"
        + "<br>".join(line for line in lines if line)
        + "</div>"
    )


#: (component, page) pairs for SolaraViz: the web and the models on page 0, what happens to their
#: quality on page 1 (Mesa draws only the open page, which halves the drawing per step)
PANELS = [
    (SiteNetwork, 0),
    (SyntheticShare, 0),
    (LineageMarket, 0),
    (ModelQuality, 1),
    (ConvergenceCascades, 1),
    (Filters, 1),
]
