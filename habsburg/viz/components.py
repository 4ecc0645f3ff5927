"""The page's panels and the status line, all drawn from a snapshot of the model.

A panel is a title over one chart. Series of model-level metrics are Mesa's own
``make_plot_component(..., backend="altair")`` drawn from the snapshot (its ``datacollector``
holds copied tables) and post-processed onto the month axis; the per-model series, the site
graph and the cascade graph are Altair charts of :mod:`habsburg.viz.charts` (Mesa's network
component lays the graph out anew on every draw and colours agents, not sites). Whatever goes
wrong while drawing one panel is logged on the server and shown in that panel as one line; the
page and the other panels carry on.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import altair as alt
import solara
import solara.lab
import solara.widgets
from mesa.visualization import make_plot_component
from mesa.visualization.utils import update_counter

from habsburg.model.model import EcosystemModel
from habsburg.viz import charts
from habsburg.viz.scenario import LEVER_BY_PATH, describe_error
from habsburg.viz.snapshot import Snapshot, snapshot

log = logging.getLogger("habsburg.viz")

#: a panel draws a snapshot, in the dark theme or not, as an Altair chart or a Solara element
Draw = Callable[[Snapshot, bool], Any]


@dataclass(frozen=True)
class PanelSpec:
    """A panel: title, what it draws, and the page (tab) it sits on."""

    title: str
    draw: Draw
    page: str


class MeasureSource:
    """What Mesa's plot component reads (``.datacollector``): the snapshot's model metrics with
    the chosen columns renamed to their legend labels."""

    def __init__(self, snap: Snapshot, measures: dict[str, str]) -> None:
        frame = snap.datacollector.get_model_vars_dataframe()[list(measures)]
        self.datacollector = type(snap.datacollector)(frame.rename(columns=measures))


def mesa_plot(measures: dict[str, str], post: Callable[[Snapshot], Callable]) -> Draw:
    """A panel drawn by Mesa's ``make_plot_component`` (Altair backend) from the snapshot;
    ``post(snapshot)`` puts it on the month axis and adds the markers."""

    def draw(snap: Snapshot, dark: bool):
        def post_process(chart: alt.Chart) -> alt.TopLevelMixin:
            try:
                return charts.theme(post(snap)(chart), dark)
            except Exception as err:  # runs inside Mesa's component: answer with a message chart
                log.exception("panel of %s failed", ", ".join(measures))
                return charts.theme(charts.message_chart(panel_error(err)), dark)

        make, _page = make_plot_component(
            list(measures.values()),
            post_process=post_process,
            backend="altair",
        )
        return make(MeasureSource(snap, measures))

    return draw


def vega_spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite spec of ``chart`` with its data inlined."""
    with alt.data_transformers.disable_max_rows():
        return chart.to_dict(validate=False)


def altair(build: Callable[[Snapshot], alt.TopLevelMixin]) -> Draw:
    def draw(snap: Snapshot, dark: bool):
        chart = charts.theme(build(snap), dark)
        # what solara.FigureAltair does, without re-validating the spec on every month
        return solara.widgets.VegaLite.element(spec=vega_spec(chart))

    return draw


WEB, MODELS, ERRORS = "The web", "The models", "Convergence and errors"

PANELS: list[PanelSpec] = [
    PanelSpec("Sites: synthetic share of what each publishes", altair(charts.network_chart), WEB),
    PanelSpec(
        "Synthetic share of the web",
        mesa_plot(
            {
                "synthetic_share_new": "new documents (true)",
                "synthetic_share_new_measured": "new documents (detector)",
                "synthetic_share_stock": "whole web (true)",
            },
            charts.synthetic_share_post,
        ),
        WEB,
    ),
    PanelSpec(
        "AI-text filters of the scrapers",
        mesa_plot(
            {
                "filter_precision": "filter precision",
                "filter_recall": "filter recall",
                "training_synthetic_before": "synthetic share of crawls",
                "training_synthetic_after": "… after filtering",
            },
            lambda s: charts.share_post(s, "share"),
        ),
        WEB,
    ),
    PanelSpec("Largest error cascade so far", altair(charts.cascade_chart), WEB),
    PanelSpec("Market shares of AI demand", altair(charts.market_chart), MODELS),
    PanelSpec("Model lineage: a mark per generation trained", altair(charts.lineage_chart), MODELS),
    PanelSpec(
        "Capability: cross-entropy to human text (lower is better)",
        altair(
            lambda s: charts.per_model_chart(
                s, "capability", "cross-entropy (nats)", s.human_entropy
            )
        ),
        MODELS,
    ),
    PanelSpec(
        "Tail coverage of each model",
        altair(lambda s: charts.per_model_chart(s, "tail_coverage", "tail coverage")),
        MODELS,
    ),
    PanelSpec(
        "Convergence: mean pairwise JS divergence between models",
        mesa_plot(
            {"mean_pairwise_js": "mean pairwise JS"},
            lambda s: charts.value_post(s, "JS divergence"),
        ),
        ERRORS,
    ),
    PanelSpec(
        "Wrong beliefs held by the models",
        mesa_plot(
            {"active_wrong_beliefs": "active wrong beliefs"},
            lambda s: charts.value_post(s, "facts", count=True),
        ),
        ERRORS,
    ),
    PanelSpec(
        "Error cascades across models",
        mesa_plot(
            {
                "largest_cascade_models": "models in the largest cascade",
                "cross_model_adoptions": "cross-model adoptions",
            },
            lambda s: charts.value_post(s, "count", count=True),
        ),
        ERRORS,
    ),
]

#: where the instruments' series (issue "Grounded in every measurement") plug in: append
#: PanelSpec(title, draw, page) entries here (or to PANELS) once the instruments land
INSTRUMENT_PANELS: list[PanelSpec] = []


def pages() -> dict[str, list[PanelSpec]]:
    out: dict[str, list[PanelSpec]] = {}
    for spec in [*PANELS, *INSTRUMENT_PANELS]:
        out.setdefault(spec.page, []).append(spec)
    return out


# --- components ---------------------------------------------------------------------------------
def panel_error(err: BaseException) -> str:
    """The one line a failed panel shows (the traceback goes to the server log only)."""
    return f"This panel could not be drawn ({describe_error(err)[:200]}). Details are in the server log."


@solara.component
def Panel(model: EcosystemModel, spec: PanelSpec):
    """One panel: its title over its chart, drawn from the model's snapshot; an error becomes a
    one-line message here (and a log record), never a traceback."""
    update_counter.get()
    dark = solara.lab.use_dark_effective()
    with solara.Column(classes=["habsburg-panel"], gap="4px") as column:
        solara.HTML(
            tag="div", unsafe_innerHTML=html.escape(spec.title), classes=["habsburg-panel-title"]
        )
        try:
            spec.draw(snapshot(model), dark)
        except Exception as err:  # a panel must never take the page down
            log.exception("panel %r failed", spec.title)
            solara.HTML(
                tag="div",
                unsafe_innerHTML=html.escape(panel_error(err)),
                classes=["habsburg-problem"],
            )
    return column


@solara.component
def PanelPages(model: EcosystemModel):
    """The panels on tabs; only the open tab is drawn. Panels fill each row (flex), so a row is
    never left a quarter empty, and size to the window (charts are container-wide SVG)."""
    with solara.lab.Tabs(lazy=True) as tabs:
        for name, specs in pages().items():
            with solara.lab.Tab(name):
                with solara.Div(classes=["habsburg-panels"]):
                    for spec in specs:
                        Panel(model, spec).key(spec.title)
    return tabs


@solara.component
def StatusLine(model: EcosystemModel):
    """Where the run is, its headline numbers, the settings the model has now, and each lever
    an intervention overrode."""
    update_counter.get()
    try:
        text = status_html(snapshot(model))
    except Exception as err:
        log.exception("status line failed")
        text = html.escape(panel_error(err))
    return solara.HTML(tag="div", unsafe_innerHTML=text, classes=["habsburg-status"])


def status_html(snap: Snapshot) -> str:
    where = f"month {snap.month}" if snap.steps else "not started"
    head = f"<b>Step {min(snap.steps, snap.total)} of {snap.total}</b> · {where} · {html.escape(snap.name)}, seed {snap.seed}"
    if snap.steps:
        deployed = int(snap.last("deployed_models", 0))
        head += (
            f" · {snap.documents:,} docs · synthetic share of new docs "
            f"{snap.last('synthetic_share_new'):.0%} (detector: "
            f"{snap.last('synthetic_share_new_measured'):.0%}) · "
            f"{deployed}/{len(snap.model_names)} models deployed"
        )
    if snap.steps >= snap.total:
        head += " · <b>last month reached</b> (Reset to run again)"
    settings = " · ".join(
        f"{LEVER_BY_PATH[p].short} {charts.fmt(v)}"
        for p, v in snap.settings.items()
        if p in LEVER_BY_PATH
    )
    lines = [head, f"<span class='habsburg-settings'>settings now: {html.escape(settings)}</span>"]
    lines += [f"<span class='habsburg-override'>⚑ {html.escape(o)}</span>" for o in overrides(snap)]
    return "<br>".join(lines)


def overrides(snap: Snapshot) -> list[str]:
    """One line per applied intervention that set a lever to another value than the run was
    started with (the slider shows the start value; the model now runs with the new one)."""
    out = []
    iv = snap.interventions
    for row in iv[iv.applied].itertuples() if len(iv) else []:
        lever = _lever_for(row.path)
        if lever is None:
            continue
        before = snap.built_with.get(lever)
        if before is not None and charts.fmt(before) != charts.fmt(row.value):
            out.append(
                f"{row.month}: an intervention set {charts.short_name(row.path)} to "
                f"{charts.fmt(row.value)} (the run started with {charts.fmt(before)})"
            )
    return out


def _lever_for(path: str) -> str | None:
    parts = path.split(".")
    for lever_path in LEVER_BY_PATH:
        lp = lever_path.split(".")
        if len(lp) == len(parts) and all(
            a == b or a == "*" or b == "*" for a, b in zip(lp, parts, strict=False)
        ):
            return lever_path
    return None


@solara.component
def ScenarioInfo(model: EcosystemModel):
    """The running scenario's description and its interventions (✓ once applied)."""
    update_counter.get()
    snap = snapshot(model)
    with solara.Column(gap="4px") as column:
        solara.HTML(
            tag="div",
            unsafe_innerHTML=f"<b>{html.escape(snap.name)}</b>: {html.escape(snap.description) or '(no description)'}",
            classes=["habsburg-info"],
        )
        iv = snap.interventions
        if not len(iv):
            solara.HTML(tag="div", unsafe_innerHTML="No interventions.", classes=["habsburg-info"])
        else:
            items = []
            for (_step, month), g in iv.groupby(["step", "month"], sort=True):
                done = "✓" if bool(g.applied.iloc[0]) else "·"
                changes = ", ".join(
                    f"{html.escape(p)} = {html.escape(charts.fmt(v))}"
                    for p, v in zip(g.path, g.value, strict=False)
                )
                note = f" <i>{html.escape(str(g.note.iloc[0]))}</i>" if str(g.note.iloc[0]) else ""
                items.append(f"<li>{done} <b>{month}</b>: {changes}{note}</li>")
            solara.HTML(
                tag="div",
                unsafe_innerHTML="Interventions:<ul>" + "".join(items) + "</ul>",
                classes=["habsburg-info"],
            )
    return column


CSS = """
.habsburg-panels { display: flex; flex-wrap: wrap; gap: 12px; padding: 8px 0; }
.habsburg-panel { flex: 1 1 440px; min-width: 0; max-width: 100%; box-sizing: border-box;
  padding: 8px 10px; border: 1px solid rgba(128,128,128,.35); border-radius: 6px; overflow: hidden; }
.habsburg-panel-title { font-weight: 500; font-size: 14px; }
.habsburg-panel > * { width: 100%; align-self: stretch; }
.habsburg-panel .vega-embed { width: 100%; display: block; }
.habsburg-panel .vega-embed summary { display: none; }
.habsburg-status { font-size: 13px; line-height: 1.55; padding: 4px 0 8px 0; }
.habsburg-settings { opacity: .85; }
.habsburg-override { color: #e8a33d; font-weight: 500; }
.habsburg-info { font-size: 12.5px; line-height: 1.45; }
.habsburg-info ul { padding-left: 14px; margin: 2px 0; }
.habsburg-changed { color: #e8a33d; font-size: 12px; font-weight: 600; margin: -10px 0 6px 0; }
.habsburg-problem { color: #ff6e6e; font-size: 12.5px; }
.habsburg-levers .v-input__slider { flex-wrap: wrap; }
.habsburg-levers .v-input__slider .v-input__slot { flex-wrap: wrap; }
.habsburg-levers .v-input__slider .v-input__slot > .v-label { flex: 1 0 100%; max-width: 100%; margin-bottom: 2px; white-space: normal; }
"""
