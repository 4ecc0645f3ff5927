"""The page's Solara components: the panels on their tabs, the status line and the scenario's
description, all drawn from a snapshot of the model (:mod:`habsburg.viz.snapshot`).

What each panel draws is declared in :mod:`habsburg.viz.panels`; a panel draws once per month
(memoised on the snapshot), and whatever goes wrong in one panel is logged on the server and shown
in that panel as one line, while the page and the other panels carry on.
"""

from __future__ import annotations

import html
import logging

import solara
import solara.lab
import solara.widgets
from mesa.visualization import make_plot_component
from mesa.visualization.utils import update_counter

from habsburg.model.model import EcosystemModel
from habsburg.viz import charts, layout
from habsburg.viz.panels import PanelSpec, draw_panel, pages, panel_error
from habsburg.viz.scenario import LEVER_BY_PATH
from habsburg.viz.snapshot import Snapshot, snapshot

log = logging.getLogger("habsburg.viz")


# --- components ---------------------------------------------------------------------------------
@solara.component
def Panel(model: EcosystemModel, spec: PanelSpec, steps: int = 0) -> solara.Element:
    """One panel: its title over its chart, drawn once per month from the model's snapshot; an
    error becomes a one-line message here (and a log record), never a traceback. ``steps`` (from
    :func:`Live`) makes it redraw when the model steps."""
    dark = solara.lab.use_dark_effective()
    try:
        snap = snapshot(model)
    except Exception:
        log.exception("snapshot for panel %r failed", spec.title)
        snap = None
    drawn = solara.use_memo(lambda: draw_panel(spec, snap, dark), [snap, dark])
    with solara.Column(classes=["habsburg-panel"], gap="4px") as column:
        solara.HTML(
            tag="div", unsafe_innerHTML=html.escape(spec.title), classes=["habsburg-panel-title"]
        )
        if drawn.message:
            solara.HTML(
                tag="div", unsafe_innerHTML=html.escape(drawn.message), classes=["habsburg-problem"]
            )
        elif drawn.spec is not None:
            solara.widgets.VegaLite.element(spec=drawn.spec)
        else:
            assert spec.measures is not None  # drawn by Mesa's component: a measures panel
            make, _page = make_plot_component(
                list(spec.measures.values()), post_process=drawn.post_process, backend="altair"
            )
            make(drawn.source)
    return column


@solara.component
def Live(model: EcosystemModel) -> solara.Element:
    """The status line over the panels; the one component that listens to Mesa's step counter
    (``update_counter``) and hands the step down, so a month is drawn in one render pass (each
    listener of the counter costs a pass over the whole page)."""
    update_counter.get()
    with solara.Column(gap="0px") as column:
        StatusLine(model, model.steps)
        PanelPages(model, model.steps)
    return column


@solara.component
def PanelPages(model: EcosystemModel, steps: int = 0) -> solara.Element:
    """The panels on tabs; only the open tab is drawn. A tab's panels share the window's height
    and width in a grid (:func:`habsburg.viz.layout.grid_style`), so a row is never left a
    quarter empty and nothing is below the fold (charts are container-sized SVG)."""
    with solara.lab.Tabs(lazy=True) as tabs:
        for name, specs in pages().items():
            with solara.lab.Tab(name):
                with solara.Div(classes=["habsburg-panels"], style=layout.grid_style(len(specs))):
                    for spec in specs:
                        Panel(model, spec, steps).key(spec.title)
    return tabs


@solara.component
def StatusLine(model: EcosystemModel, steps: int = 0) -> solara.Element:
    """Where the run is, its headline numbers, the settings the model has now, and each lever
    an intervention overrode."""
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
        f"{LEVER_BY_PATH[p].short} {fmt_values(v)}"
        for p, v in snap.settings.items()
        if p in LEVER_BY_PATH
    )
    lines = [head, f"<span class='habsburg-settings'>settings now: {html.escape(settings)}</span>"]
    lines += [f"<span class='habsburg-override'>⚑ {html.escape(o)}</span>" for o in overrides(snap)]
    return "<br>".join(lines)


def fmt_values(values: tuple) -> str:
    """A lever's values across its items: one value, a range of numbers, or the choices."""
    if len(values) == 1:
        return charts.fmt(values[0])
    if all(isinstance(v, float | int) and not isinstance(v, bool) for v in values):
        return f"{charts.fmt(min(values))}–{charts.fmt(max(values))}"
    return "/".join(charts.fmt(v) for v in values)


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
        if before is not None and row.times and row.value != 1:
            out.append(
                f"{row.month}: an intervention multiplied {charts.short_name(row.path)} by "
                f"{charts.fmt(row.value)} (the run started with {charts.fmt(before)})"
            )
        elif before is not None and charts.fmt(before) != charts.fmt(row.value):
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
def ScenarioInfo(model: EcosystemModel) -> solara.Element:
    """The running scenario's description and its interventions. Drawn once per model, not per
    month: it sits in the sidebar, and redrawing the sidebar redraws the whole page."""
    text = solara.use_memo(lambda: scenario_html(snapshot(model)), [model])
    return solara.HTML(tag="div", unsafe_innerHTML=text, classes=["habsburg-info"])


def scenario_html(snap: Snapshot) -> str:
    """The scenario's name, description and interventions (month: setting = value, note)."""
    out = f"<b>{html.escape(snap.name)}</b>: {html.escape(snap.description) or '(no description)'}"
    iv = snap.interventions
    if not len(iv):
        return out + "<br>No interventions."
    items = []
    for (_step, month), g in iv.groupby(["step", "month"], sort=True):
        changes = ", ".join(
            f"{html.escape(p)} {'×' if times else '='} {html.escape(charts.fmt(v))}"
            for p, v, times in zip(g.path, g.value, g.times, strict=True)
        )
        note = str(g.note.iloc[0])
        items.append(
            f"<li><b>{month}</b>: {changes}{f' <i>{html.escape(note)}</i>' if note else ''}</li>"
        )
    return out + "<br>Interventions:<ul>" + "".join(items) + "</ul>"


CSS = (
    layout.CSS
    + """
.habsburg-status { font-size: 13px; line-height: 1.55; padding: 4px 0 4px 0; }
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
)
