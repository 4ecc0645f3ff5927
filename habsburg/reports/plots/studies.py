"""The study instruments of a run (``graphite_ai_share``, ``liang_llm_modified_share``, the Ahrefs
bins: :mod:`habsburg.model.instruments`) against the published measurements
(:mod:`habsburg.scenarios.measurements`), calibration targets apart from out-of-sample points."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from habsburg.reports.plots.base import grid, months, percent_axis, posterior_band
from habsburg.scenarios.measurements import MEASUREMENTS, Measurement

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: the instruments' time series drawn against their published points
SERIES = {
    "graphite_ai_share": "Graphite: new articles classified AI",
    "liang_llm_modified_share": "Liang et al.: human text LLM-modified",
}
#: the Ahrefs-style bins (model metric names), in order, with their labels
AHREFS = {
    "ahrefs_pure_human": "0%",
    "ahrefs_ai_1_10": "1–10%",
    "ahrefs_ai_11_40": "11–40%",
    "ahrefs_ai_41_70": "41–70%",
    "ahrefs_ai_71_99": "71–99%",
    "ahrefs_pure_ai": "100%",
}


def has_instruments(model_metrics: pd.DataFrame) -> bool:
    return all(k in model_metrics for k in (*SERIES, *AHREFS))


def _point(ax: Axes, m: Measurement, color: str, x: pd.Timestamp | float) -> None:
    low, high = m.interval
    target = m.calibration_target
    ax.errorbar(
        x,
        m.value,
        yerr=[[m.value - low], [high - m.value]],
        fmt="D" if target else "o",
        mfc=color if target else "white",
        color=color,
        ms=6,
        capsize=3,
        zorder=5,
    )


def _bar_bands(ax: Axes, bands: pd.DataFrame | None, month: str | None, pos: np.ndarray) -> None:
    """The 5–95% posterior band of each Ahrefs bin in ``month`` as a vertical interval."""
    if bands is None or not len(bands):
        return
    rows = bands[bands["month"] == month].set_index("metric")
    keep = [i for i, s in enumerate(AHREFS) if s in rows.index]
    if not keep:
        return
    names = [list(AHREFS)[i] for i in keep]
    ax.vlines(
        pos[keep],
        rows.loc[names, "q05"].to_numpy(float),
        rows.loc[names, "q95"].to_numpy(float),
        color="k",
        lw=1.5,
        label=f"5–95% of {int(rows.loc[names, 'draws'].max())} posterior draws",
    )


def study_instruments(model_metrics: pd.DataFrame, bands: pd.DataFrame | None = None) -> Figure:
    """Left and middle: each instrument's monthly series with the published points (filled
    diamonds: calibration targets, months up to 2024-12; open circles: out-of-sample). Right: the
    Ahrefs bins of new pages in the month Ahrefs measured, simulated against published. With a
    run's posterior ``bands`` (``bands.parquet``), the 5–95% band of the draws is shaded behind
    each series and drawn as an interval on each bar."""
    fig, axes = grid(1, 3, size=(13.5, 4.0))
    x = months(model_metrics["month"])
    for ax, (series, label) in zip(axes[0, :2], SERIES.items(), strict=True):
        posterior_band(ax, bands, series, "C0", "simulated")
        ax.plot(x, model_metrics[series], color="C0", lw=1.2, label="simulated instrument")
        for m in MEASUREMENTS:
            if m.series == series:
                _point(ax, m, "C3", pd.Timestamp(f"{m.month}-01"))
        ax.plot([], [], "D", color="C3", label="published: calibration target")
        ax.plot([], [], "o", mfc="white", color="C3", label="published: out-of-sample")
        ax.set_title(label, fontsize=9)
        ax.set_ylim(0, 1)
        percent_axis(ax)
        ax.legend(loc="upper left", fontsize=7)
    ax = axes[0, 2]
    points = {m.series: m for m in MEASUREMENTS if m.series in AHREFS}
    month = next(iter(points.values())).month if points else None
    row = model_metrics[model_metrics["month"] == month]
    pos = np.arange(len(AHREFS))
    if len(row):
        ax.bar(pos - 0.2, row[list(AHREFS)].iloc[0].to_numpy(), 0.4, color="C0", label="simulated")
        _bar_bands(ax, bands, month, pos - 0.2)
    for i, series in enumerate(AHREFS):
        if series in points:
            _point(ax, points[series], "C3", i + 0.2)
    ax.plot([], [], "o", mfc="white", color="C3", label="published (out-of-sample)")
    ax.set_xticks(pos, list(AHREFS.values()), fontsize=8)
    ax.set_xlabel("estimated AI share of a new page")
    ax.set_title(f"Ahrefs: new pages by AI share ({month or 'not in this run'})", fontsize=9)
    percent_axis(ax)
    ax.legend(loc="upper right", fontsize=7)
    return fig
