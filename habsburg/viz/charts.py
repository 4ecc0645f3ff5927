"""Altair charts of a :class:`~habsburg.viz.snapshot.Snapshot`, one function per question.

Every chart is ``width="container"`` (Vega draws SVG at the panel's width, so text keeps its
size at any window width and nothing is an image stretched to fit), has a legend for every
series and marker, hover values, year ticks over the whole scenario and a dashed rule at each
intervention month (named in the legend). Series of model-level metrics go through Mesa's own
``make_plot_component(..., backend="altair")`` (see :mod:`habsburg.viz.components`); the
functions here add the markers (:func:`time_axis`) or draw what Mesa's components do not
(per-model series, the site graph, the cascade graph).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import altair as alt
import pandas as pd

from habsburg.scenarios.targets import WEB_STUDY, WEB_STUDY_PLATEAU, WEB_STUDY_PLATEAU_FROM
from habsburg.viz.scenario import LEVER_BY_PATH
from habsburg.viz.snapshot import Snapshot

if TYPE_CHECKING:
    from collections.abc import Callable

#: every chart fills its panel (whose CSS height is a share of the window, see
#: habsburg.viz.layout); Vega draws the SVG at that size
HEIGHT = "container"
MODEL_PALETTE: Final = "tableau10"
MARKER_TITLE = "markers"


#: what :func:`theme` takes: every chart a panel draws
ChartT = TypeVar("ChartT", alt.Chart, alt.LayerChart)


@functools.cache
def theme_config(dark: bool) -> alt.Config:
    """Colours for the page's theme: transparent background, readable text in dark mode."""
    text = "#e0e0e0" if dark else "#222"
    grid = "#555" if dark else "#ddd"
    base = alt.Chart().configure(background="transparent", font="Roboto, sans-serif")
    base = base.configure_axis(
        labelColor=text,
        titleColor=text,
        gridColor=grid,
        domainColor=grid,
        tickColor=grid,
        labelFontSize=11,
        titleFontSize=11,
    )
    base = base.configure_legend(
        labelColor=text,
        titleColor=text,
        labelFontSize=11,
        titleFontSize=11,
        orient="right",
        labelLimit=150,
    )
    base = base.configure_title(color=text, fontSize=13, anchor="start")
    return base.configure_view(strokeWidth=0).config


def theme(chart: ChartT, dark: bool) -> ChartT:
    """``chart`` in the page's theme (light or dark)."""
    out = chart.copy(deep=False)
    out.config = theme_config(dark)
    # SVG (crisp at any zoom, text a test can read) and no action menu (its "Open in Vega
    # Editor" would leave the machine)
    out.usermeta = {"embedOptions": {"renderer": "svg", "actions": False}}
    return out


def _year_expr(snap: Snapshot, field: str) -> str:
    y, m = (int(x) for x in snap.start.split("-"))
    return f"datetime({y}, {m - 1} + {field}, 1)"


def x_months(snap: Snapshot, field: str = "step", title: str | None = None) -> alt.X:
    """x over the whole scenario in steps, labelled by year at Januaries."""
    januaries = [s for s in range(snap.total) if month_label(snap, s).endswith("-01")]
    januaries = januaries[:: max(1, len(januaries) // 11)]
    return alt.X(
        f"{field}:Q",
        scale=alt.Scale(domain=[0, max(snap.total - 1, 1)], nice=False),
        axis=alt.Axis(
            values=januaries,
            labelExpr=f"timeFormat({_year_expr(snap, 'datum.value')}, '%Y')",
            title=title,
            grid=True,
            labelFlush=False,  # the first year under its tick, not pushed right into the next
            labelOverlap=True,  # narrow panels drop every other year rather than overprint
        ),
    )


def month_label(snap: Snapshot, step: int) -> str:
    y, m = (int(x) for x in snap.start.split("-"))
    total = y * 12 + m - 1 + step
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def with_month(chart: alt.Chart, snap: Snapshot, field: str = "step") -> alt.Chart:
    """Adds a ``month`` (YYYY-MM) field computed from ``field`` for hover values."""
    return chart.transform_calculate(
        month=f"timeFormat({_year_expr(snap, 'datum.' + field)}, '%Y-%m')"
    )


def marker_rows(snap: Snapshot) -> pd.DataFrame:
    """The vertical markers of every time axis: the chatbot launch and each intervention month
    (one row per month; the label names what changed)."""
    rows = [{"step": snap.launch_step, "marker": "chatbot launch"}]
    iv = snap.interventions
    for step, g in iv.groupby("step", sort=True) if len(iv) else []:
        changes = ", ".join(
            f"{short_name(p)} {'×' if times else ''}{fmt(v)}"
            for p, v, times in zip(g.path, g.value, g.times, strict=False)
        )
        rows.append({"step": int(step), "marker": f"{month_label(snap, int(step))}: {changes}"})
    df = pd.DataFrame(rows)
    df["month"] = [month_label(snap, int(s)) for s in df.step]
    return df


def short_name(path: str) -> str:
    """A lever's short name for a setting path (``*`` or a named item), else the path."""
    parts = path.split(".")
    for lever_path, lever in LEVER_BY_PATH.items():
        lp = lever_path.split(".")
        if len(lp) == len(parts) and all(
            a == b or a == "*" for a, b in zip(lp, parts, strict=False)
        ):
            return lever.short
    return path


def fmt(value: Any) -> str:
    return (
        f"{value:g}"
        if isinstance(value, float | int) and not isinstance(value, bool)
        else str(value)
    )


def markers(snap: Snapshot) -> alt.Chart:
    """Dashed rules at the launch and intervention months, in the legend, with hover text."""
    df = marker_rows(snap)
    return (
        alt.Chart(df)
        .mark_rule(strokeWidth=1.5)
        .encode(
            x=alt.X("step:Q"),
            strokeDash=alt.StrokeDash(
                "marker:N",
                title=MARKER_TITLE,
                scale=alt.Scale(domain=list(df.marker), range=[[2, 2]] + [[6, 3]] * (len(df) - 1)),
            ),
            color=alt.value("#888"),
            tooltip=[alt.Tooltip("marker:N", title="marker"), alt.Tooltip("month:N")],
        )
    )


def time_axis(snap: Snapshot, chart: alt.Chart, y: alt.Y | None = None) -> alt.LayerChart:
    """Puts ``chart`` (with x field ``Step``, as Mesa's plot component draws it) on the
    scenario's month axis with the launch and intervention markers, full panel width."""
    # Mesa's component sizes its chart 450 x 350 px; the layer takes the panel's width instead
    # and its pan/zoom (scales bound to a selection) collapses a layered, container-wide chart
    chart = chart.copy(deep=False)
    chart.width, chart.height, chart.params = alt.Undefined, alt.Undefined, alt.Undefined
    chart = with_month(chart, snap, "Step").encode(
        x=x_months(snap, "Step"),
        tooltip=[
            alt.Tooltip("Measure:N", title="series"),
            alt.Tooltip("month:N"),
            alt.Tooltip("Value:Q", format=".3f"),
        ],
    )
    if y is not None:
        chart = chart.encode(y=y)
    return layered(snap, chart)


def panel_layer(*charts: alt.Chart, **properties: Any) -> alt.LayerChart:
    """``charts`` layered, filling the panel (``properties``: more chart properties)."""
    # alt.layer returns a FacetChart only for layers with facet encodings, which none has
    out = cast("alt.LayerChart", alt.layer(*charts))
    return out.properties(width="container", height=HEIGHT, **properties)


def layered(snap: Snapshot, *charts: alt.Chart, title: str = "") -> alt.LayerChart:
    out = panel_layer(*charts, markers(snap))
    return out.properties(title=title) if title else out


def message_chart(text: str) -> alt.Chart:
    """A chart that only says ``text`` (what a panel shows when it cannot draw)."""
    return (
        alt.Chart(pd.DataFrame({"t": [text]}))
        .mark_text(align="left", baseline="top", color="#e8a33d", fontSize=12, limit=600)
        .encode(text="t:N", x=alt.value(0), y=alt.value(0))
        .properties(width="container", height=40)
    )


def empty_note(snap: Snapshot, text: str = "no data yet — press Step") -> alt.Chart:
    """A note in the upper right corner, clear of reference markers."""
    return (
        alt.Chart(pd.DataFrame({"t": [text]}))
        .mark_text(align="right", baseline="top", color="#888", fontSize=12)
        .encode(text="t:N", x=alt.value("width"), y=alt.value(4))
    )


# --- model-level series: post-processing of Mesa's plot component --------------------------------
def synthetic_share_post(
    snap: Snapshot, title: str = "synthetic share"
) -> Callable[[alt.Chart], alt.LayerChart]:
    """Mesa's plot of the synthetic shares plus the web study's points and plateau."""

    def post(chart: alt.Chart) -> alt.LayerChart:
        launch = snap.launch_step
        study = pd.DataFrame(
            {
                "step": [launch + m for m in sorted(WEB_STUDY)],
                "share": [WEB_STUDY[m] for m in sorted(WEB_STUDY)],
                "reference": "web study (measured)",
            }
        )
        study["month"] = [month_label(snap, s) for s in study.step]
        points = (
            alt.Chart(study)
            .mark_point(shape="diamond", size=90, filled=True, color="#bbb")
            .encode(
                x="step:Q",
                y="share:Q",
                shape=alt.Shape("reference:N", title=None),
                tooltip=["reference:N", "month:N", alt.Tooltip("share:Q", format=".0%")],
            )
        )
        plateau = pd.DataFrame(
            {
                "step": [launch + WEB_STUDY_PLATEAU_FROM],
                "end": [snap.total - 1],
                "share": [WEB_STUDY_PLATEAU],
            }
        )
        plateau["reference"] = "web plateau (~50%)"
        rule = (
            alt.Chart(plateau)
            .mark_rule(color="#bbb", strokeDash=[8, 4])
            .encode(
                x="step:Q",
                x2="end:Q",
                y="share:Q",
                strokeWidth=alt.StrokeWidth(
                    "reference:N",
                    title=None,
                    scale=alt.Scale(range=[1.5]),
                    legend=alt.Legend(
                        symbolType="stroke", symbolStrokeColor="#bbb", symbolDash=[8, 4]
                    ),
                ),
                tooltip=["reference:N", alt.Tooltip("share:Q", format=".0%")],
            )
        )
        y = alt.Y(
            "Value:Q",
            scale=alt.Scale(domain=[0, 1]),
            axis=alt.Axis(format="%"),
            title=title,
        )
        return time_axis(snap, chart, y) + points + rule

    return post


def share_post(snap: Snapshot, title: str) -> Callable[[alt.Chart], alt.LayerChart]:
    """Mesa's plot of 0–1 series (shares, precision, recall) on the month axis."""

    def post(chart: alt.Chart) -> alt.LayerChart:
        y = alt.Y("Value:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=title)
        return time_axis(snap, chart, y)

    return post


def value_post(
    snap: Snapshot, title: str, count: bool = False
) -> Callable[[alt.Chart], alt.LayerChart]:
    """Mesa's plot of unbounded series on the month axis; ``count``: integer ticks."""

    def post(chart: alt.Chart) -> alt.LayerChart:
        axis = alt.Axis(tickMinStep=1, format="d") if count else alt.Axis()
        return time_axis(snap, chart, alt.Y("Value:Q", axis=axis, title=title))

    return post


# --- per-model series ---------------------------------------------------------------------------
def model_colors(snap: Snapshot) -> alt.Scale:
    return alt.Scale(domain=list(snap.model_names), scheme=MODEL_PALETTE)


def per_model_chart(
    snap: Snapshot, column: str, title: str, floor: float | None = None
) -> alt.LayerChart:
    """One line per model (after its launch) of an agent-level metric, with hover values."""
    df = snap.agents
    layers = []
    if len(df) and column in df and df[column].notna().any():
        data = df[["step", "month", "name", column]].dropna()
        layers.append(
            alt.Chart(data)
            .mark_line(strokeWidth=1.6)
            .encode(
                x=x_months(snap),
                y=alt.Y(f"{column}:Q", title=title, scale=alt.Scale(zero=False)),
                color=alt.Color("name:N", title=None, scale=model_colors(snap)),
                tooltip=["name:N", "month:N", alt.Tooltip(f"{column}:Q", format=".3f")],
            )
        )
    else:
        layers.append(axes_only(snap, title))
        layers.append(empty_note(snap, "no model deployed yet"))
    if floor is not None:
        ref = pd.DataFrame({"y": [floor], "reference": ["H(p_H): floor"]})
        layers.append(
            alt.Chart(ref)
            .mark_rule(color="#999", strokeDash=[4, 2])
            .encode(
                y="y:Q", opacity=alt.Opacity("reference:N", title=None, scale=alt.Scale(range=[1]))
            )
        )
    return layered(snap, *layers)


def axes_only(snap: Snapshot, title: str | None, domain: tuple[float, float] = (0, 1)) -> alt.Chart:
    frame = pd.DataFrame({"step": [0, snap.total - 1], "v": list(domain)})
    return (
        alt.Chart(frame).mark_point(opacity=0).encode(x=x_months(snap), y=alt.Y("v:Q", title=title))
    )


def market_chart(snap: Snapshot) -> alt.LayerChart:
    """Market shares of AI demand, stacked, one colour per model (legend: models)."""
    df = snap.agents
    if not len(df) or "market_share" not in df:
        return layered(snap, axes_only(snap, "market share"), empty_note(snap))
    data = df[["step", "month", "name", "market_share"]].fillna({"market_share": 0.0})
    area = (
        alt.Chart(data)
        .mark_area()
        .encode(
            x=x_months(snap),
            y=alt.Y(
                "market_share:Q",
                stack="zero",
                title="market share",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            color=alt.Color(
                "name:N", title=None, scale=model_colors(snap), sort=list(snap.model_names)
            ),
            order=alt.Order("name:N"),
            tooltip=["name:N", "month:N", alt.Tooltip("market_share:Q", format=".1%")],
        )
    )
    return layered(snap, area)


def lineage_chart(snap: Snapshot) -> alt.LayerChart:
    """Each model's generations: a mark at the month each was trained (hover: its figures)."""
    names = list(snap.model_names)
    lin = snap.lineage
    if lin.empty:
        return layered(
            snap,
            axes_only(snap, None).encode(y=alt.Y("v:Q", axis=None)),
            empty_note(snap, "no generation trained yet"),
        )
    cols = [
        c
        for c in (
            "model",
            "generation",
            "step",
            "month",
            "capability",
            "tail_coverage",
            "synthetic_share",
        )
        if c in lin
    ]
    data = lin[cols]
    y = alt.Y("model:N", sort=names, title=None, scale=alt.Scale(domain=names))
    line = (
        alt.Chart(data)
        .mark_line(strokeWidth=1)
        .encode(
            x=x_months(snap), y=y, color=alt.Color("model:N", scale=model_colors(snap), legend=None)
        )
    )
    dots = (
        alt.Chart(data)
        .mark_point(filled=True, size=45)
        .encode(
            x=x_months(snap),
            y=y,
            color=alt.Color("model:N", scale=model_colors(snap), legend=None),
            tooltip=[alt.Tooltip(c) for c in cols],
        )
    )
    return layered(snap, line, dots)
