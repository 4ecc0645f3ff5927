"""The sensitivity figure: Sobol S1 / ST and Morris μ* bars with their confidence intervals, read
from the indices table of :func:`habsburg.experiments.sensitivity.run_sensitivity`
(``sensitivity.parquet``: one row per outcome and parameter)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from habsburg.reports import plots

#: each method's first index column: a method is drawn when its columns are in the table
METHOD_COLUMNS = {"sobol": "S1", "morris": "mu_star"}


def plot_indices(table: pd.DataFrame, title: str = "") -> Figure:
    """Bars of Sobol S1 / ST (with confidence intervals) and Morris μ* (with its interval), one
    row per outcome."""
    outcomes = list(dict.fromkeys(table["outcome"]))
    methods = [m for m, column in METHOD_COLUMNS.items() if column in table]
    fig = Figure(figsize=(5.5 * len(methods), 0.6 + 2.6 * len(outcomes)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(outcomes), len(methods), squeeze=False))
    for i, outcome in enumerate(outcomes):
        rows = table[table["outcome"] == outcome]
        y = np.arange(len(rows))
        names = rows["parameter"].tolist()
        for j, method in enumerate(methods):
            ax = axes[i, j]
            if method == "sobol":
                h = 0.38
                ax.barh(y - h / 2, rows["S1"], h, xerr=rows["S1_conf"], label="first order S1")
                ax.barh(y + h / 2, rows["ST"], h, xerr=rows["ST_conf"], label="total order ST")
                ax.set_xlabel("Sobol index")
                ax.axvline(0, color="0.3", lw=0.8)
            else:
                ax.barh(y, rows["mu_star"], 0.6, xerr=rows["mu_star_conf"], color="tab:green")
                ax.set_xlabel("Morris μ* (mean |elementary effect|)")
            ax.set_yticks(y, names)
            ax.invert_yaxis()
            ax.set_title(f"{outcome} — {method}", fontsize=10)
            if method == "sobol" and i == 0:
                ax.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(f"Sensitivity: {title}")
    return fig


def write_sensitivity_figure(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Draw the indices of ``table`` and write the PNG to ``path`` (atomically)."""
    return plots.save(plot_indices(table, title), Path(path))
