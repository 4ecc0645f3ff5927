"""Detector ROC curves split by document group: the watermark z-test and the AI-text classifier,
each on pure, hybrid and paraphrased AI text against human text
(:func:`habsburg.analysis.detection.roc_by_group`)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from habsburg.analysis.filters import auc_label
from habsburg.reports.plots.base import grid

GROUP_COLORS = {"pure": "k", "hybrid": "C0", "paraphrased": "C3"}


def detector_roc(curves: pd.DataFrame) -> Figure:
    """One panel per detector, one curve per document group, AUC in the legend."""
    detectors = list(pd.unique(curves["detector"]))
    fig, axes = grid(1, len(detectors), size=(5.0 * len(detectors), 4.8), left=0.7, wspace=0.3)
    for i, detector in enumerate(detectors):
        ax = axes[0, i]
        for group, g in curves[curves["detector"] == detector].groupby("group", sort=False):
            ax.plot(
                g["fpr"],
                g["tpr"],
                color=GROUP_COLORS.get(group, "C7"),
                label=f"{group} ({auc_label(g)})",
            )
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8)
        ax.set_xlabel("false-positive rate (human documents flagged)")
        if i == 0:
            ax.set_ylabel("true-positive rate")
        ax.set_title(detector)
        ax.legend(fontsize=7, loc="lower right")
    return fig
