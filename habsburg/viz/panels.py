"""The panels of the page, declared as data: a title, the tab it sits on, and what it draws.

A panel draws either model-level series through Mesa's own
``make_plot_component(measures, backend="altair")`` (from the snapshot's copied DataCollector
table, then post-processed onto the month axis), or an Altair chart of
:mod:`habsburg.viz.charts` / :mod:`habsburg.viz.graphs` where Mesa has no component (per-model
series, the site graph, the cascade graph). :func:`draw_panel` turns a panel and a snapshot into
what the page shows, and turns any error into a one-line message (and a log record).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import altair as alt

from habsburg.model.instruments import AHREFS_BINS
from habsburg.viz import charts, graphs
from habsburg.viz.scenario import describe_error
from habsburg.viz.snapshot import FrozenCollector, Snapshot

log = logging.getLogger("habsburg.viz")

WEB, MODELS, ERRORS = "Web", "Models", "Convergence"


@dataclass(frozen=True)
class PanelSpec:
    """A panel: ``chart`` builds an Altair chart of a snapshot, or ``measures`` (column ->
    legend label) are drawn by Mesa's plot component and ``post`` (snapshot -> post_process)
    puts them on the month axis."""

    title: str
    page: str
    chart: Callable[[Snapshot], alt.LayerChart] | None = None
    measures: dict[str, str] | None = None
    post: Callable[[Snapshot], Callable[[alt.Chart], alt.LayerChart]] | None = None


@dataclass(frozen=True)
class Drawn:
    """What a panel shows for one snapshot: a Vega-Lite spec, Mesa's plot inputs, or a message."""

    spec: dict | None = None
    source: MeasureSource | None = None
    post_process: Callable | None = None
    message: str = ""


class MeasureSource:
    """What Mesa's plot component reads (``.datacollector``): the snapshot's model metrics with
    the chosen columns renamed to their legend labels."""

    def __init__(self, snap: Snapshot, measures: dict[str, str]) -> None:
        frame = snap.datacollector.get_model_vars_dataframe()[list(measures)]
        self.datacollector = FrozenCollector(frame.rename(columns=measures))


def panel_error(err: BaseException) -> str:
    """The one line a failed panel shows (the traceback goes to the server log only)."""
    return (
        f"This panel could not be drawn ({describe_error(err)[:200]}). "
        "Details are in the server log."
    )


def vega_spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite spec of ``chart`` (what ``solara.FigureAltair`` sends, without checking it
    against the schema again every month: the charts are fixed code, tested in tests/viz)."""
    with alt.data_transformers.disable_max_rows():
        return chart.to_dict(validate=False)


def draw_panel(spec: PanelSpec, snap: Snapshot | None, dark: bool) -> Drawn:
    """What ``spec`` shows for ``snap``; any error becomes a message and a log record."""
    if snap is None:
        return Drawn(message="This panel could not be drawn (no snapshot). See the server log.")
    try:
        if spec.measures is None:
            assert spec.chart is not None  # a panel without measures draws a chart
            return Drawn(spec=vega_spec(charts.theme(spec.chart(snap), dark)))
        return Drawn(
            source=MeasureSource(snap, spec.measures),
            post_process=cached_post(spec, snap, dark),
        )
    except Exception as err:  # a panel must never take the page down
        log.exception("panel %r failed", spec.title)
        return Drawn(message=panel_error(err))


def cached_post(spec: PanelSpec, snap: Snapshot, dark: bool) -> Callable:
    """Mesa's ``post_process`` for ``spec``: the month axis, markers and theme, computed once per
    snapshot (Mesa's component redraws on its own too). It runs inside Mesa's component, so an
    error answers with a chart that says so."""
    done: list[alt.Chart | alt.LayerChart] = []

    def post_process(chart: alt.Chart) -> alt.Chart | alt.LayerChart:
        if not done:
            # the legend lists every measure from the start: with no rows yet, Vega would
            # otherwise size an empty legend to an infinite height
            assert spec.measures is not None  # called for measures panels only
            labels = list(spec.measures.values())
            chart = chart.encode(
                color=alt.Color("Measure:N", title=None, scale=alt.Scale(domain=labels))
            )
            try:
                assert spec.post is not None  # measures panels have a post
                done.append(charts.theme(spec.post(snap)(chart), dark))
            except Exception as err:
                log.exception("panel %r failed", spec.title)
                done.append(charts.theme(charts.message_chart(panel_error(err)), dark))
        return done[0]

    return post_process


PANELS: list[PanelSpec] = [
    PanelSpec("Sites: synthetic share of what each publishes", WEB, chart=graphs.network_chart),
    PanelSpec(
        "Synthetic share of the web",
        WEB,
        measures={
            "synthetic_share_new": "new documents (true)",
            "synthetic_share_new_measured": "new documents (detector)",
            "synthetic_share_stock": "whole web (true)",
        },
        post=charts.synthetic_share_post,
    ),
    PanelSpec(
        "AI-text filters of the scrapers",
        WEB,
        measures={
            "filter_precision": "filter precision",
            "filter_recall": "filter recall",
            "training_synthetic_before": "synthetic share of crawls",
            "training_synthetic_after": "… after filtering",
        },
        post=lambda s: charts.share_post(s, "share"),
    ),
    PanelSpec("Largest error cascade so far", WEB, chart=graphs.cascade_chart),
    PanelSpec("Market shares of AI demand", MODELS, chart=charts.market_chart),
    PanelSpec("Model lineage: a mark per generation trained", MODELS, chart=charts.lineage_chart),
    PanelSpec(
        "Capability: cross-entropy to human text (lower is better)",
        MODELS,
        chart=lambda s: charts.per_model_chart(
            s, "capability", "cross-entropy (nats)", s.human_entropy
        ),
    ),
    PanelSpec(
        "Tail coverage of each model",
        MODELS,
        chart=lambda s: charts.per_model_chart(s, "tail_coverage", "tail coverage"),
    ),
    PanelSpec(
        "Convergence: mean pairwise JS divergence between models",
        ERRORS,
        measures={"mean_pairwise_js": "mean pairwise JS"},
        post=lambda s: charts.value_post(s, "JS divergence"),
    ),
    PanelSpec(
        "Wrong beliefs held by the models",
        ERRORS,
        measures={"active_wrong_beliefs": "active wrong beliefs"},
        # a count of (model, fact) pairs: two models wrong about one fact count twice
        post=lambda s: charts.value_post(s, "wrong beliefs (model × fact)", count=True),
    ),
    PanelSpec(
        "Error cascades across models",
        ERRORS,
        measures={
            "largest_cascade_models": "models in the largest cascade",
            "cross_model_adoptions": "cross-model adoptions",
        },
        post=lambda s: charts.value_post(s, "count", count=True),
    ),
]

#: The web studies as instruments on the simulated web (habsburg.model.instruments), on their own
#: tab; another instrument's series is one more entry here.
STUDIES = "Web studies"
INSTRUMENT_PANELS: list[PanelSpec] = [
    PanelSpec(
        "Graphite and Liang et al. measured on the simulated web",
        STUDIES,
        measures={
            "graphite_ai_share": "Graphite (AI articles)",
            "liang_llm_modified_share": "Liang et al. (LLM-modified)",
        },
        post=lambda s: charts.synthetic_share_post(s, "share"),
    ),
    PanelSpec(
        "Ahrefs: new pages by estimated AI share",
        STUDIES,
        measures={
            f"ahrefs_{b}": label
            for b, label in zip(
                AHREFS_BINS,
                ("pure human", "1–10% AI", "11–40% AI", "41–70% AI", "71–99% AI", "pure AI"),
                strict=True,
            )
        },
        post=lambda s: charts.share_post(s, "share of new pages"),
    ),
]


def pages() -> dict[str, list[PanelSpec]]:
    """The panels by tab, in order."""
    out: dict[str, list[PanelSpec]] = {}
    for spec in [*PANELS, *INSTRUMENT_PANELS]:
        out.setdefault(spec.page, []).append(spec)
    return out
