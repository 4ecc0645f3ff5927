"""The web figure: how much of the web models write, against the measured web curve."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from habsburg.reports.plots.base import grid, months, percent_axis, posterior_band
from habsburg.scenarios.targets import (
    WEB_STUDY,
    WEB_STUDY_NAME,
    WEB_STUDY_PLATEAU,
    WEB_STUDY_PLATEAU_FROM,
)


def synthetic_share(
    model_metrics: pd.DataFrame, launch_month: str, bands: pd.DataFrame | None = None
) -> Figure:
    """True and detector-measured synthetic share of new documents (and of the whole web)
    against the measured web curve (:mod:`habsburg.scenarios.targets`); with a run's posterior
    ``bands`` (``bands.parquet``), the 5–95% band of the draws shaded behind the run."""
    fig, ax = grid(size=(8.5, 4.2))
    ax = ax[0, 0]
    x = months(model_metrics["month"])
    posterior_band(ax, bands, "synthetic_share_new", "C0", "new, true")
    posterior_band(ax, bands, "synthetic_share_new_measured", "C1", "new, measured")
    ax.plot(x, model_metrics["synthetic_share_new"], color="C0", label="new documents, true")
    ax.plot(
        x,
        model_metrics["synthetic_share_new_measured"],
        color="C1",
        label="new documents, detector-measured",
    )
    ax.plot(x, model_metrics["synthetic_share_stock"], color="C0", ls=":", label="whole web, true")
    launch = pd.Timestamp(f"{launch_month}-01")
    gx = [launch + pd.DateOffset(months=m) for m in WEB_STUDY]
    ax.scatter(
        gx,
        list(WEB_STUDY.values()),
        color="C3",
        zorder=5,
        s=50,
        marker="D",
        label=f"measured web ({WEB_STUDY_NAME})",
    )
    plateau_from = launch + pd.DateOffset(months=WEB_STUDY_PLATEAU_FROM)
    if plateau_from < x.max():
        ax.hlines(WEB_STUDY_PLATEAU, plateau_from, x.max(), color="C3", ls="--", lw=1)
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
    percent_axis(ax)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("How much of the web is written by models")
    return fig
