"""How well each detector separates each kind of AI text from human text.

The crawl sample (``z_samples``) records, per crawled document, the watermark z-score (``z``), the
crawling scraper's AI-text classifier score (``classifier_score``), its synthetic fraction and the
fraction of its tokens paraphrased (``paraphrase``). Documents fall in four groups:

- ``human``: no model-written token (the negatives of every curve);
- ``pure``: entirely model-written and never paraphrased;
- ``hybrid``: partly model-written (0 < synthetic fraction < 1), not paraphrased;
- ``paraphrased``: model-written text (any fraction) that was paraphrased or spun.

Each (detector, group) ROC curve is the group's documents against all human ones, so the curves
show what the headline ROC hides: hybrids and paraphrases sit much closer to the diagonal.
Pure functions of the table; nothing here runs a simulation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from habsburg.analysis.filters import auc, roc_curve

GROUPS = ("pure", "hybrid", "paraphrased")
#: score columns of ``z_samples`` and the detector each belongs to
DETECTORS = {"z": "watermark z-test", "classifier_score": "AI-text classifier"}
ROC_COLUMNS = ["detector", "group", "threshold", "tpr", "fpr"]


def document_group(z_samples: pd.DataFrame) -> np.ndarray:
    """``human`` / ``pure`` / ``hybrid`` / ``paraphrased`` for each sampled document."""
    sf = z_samples["synthetic_fraction"].to_numpy(dtype=float)
    para = (
        z_samples["paraphrase"].to_numpy(dtype=float)
        if "paraphrase" in z_samples
        else np.zeros(sf.size)
    )
    return np.select(
        [sf <= 0, para > 0, sf >= 1],
        ["human", "paraphrased", "pure"],
        default="hybrid",
    )


def roc_by_group(z_samples: pd.DataFrame) -> pd.DataFrame:
    """ROC curves (columns :data:`ROC_COLUMNS`) of every detector recorded in ``z_samples``, one
    per group that has documents, each against all human documents."""
    group = document_group(z_samples)
    human = group == "human"
    curves = []
    if not human.any():
        return pd.DataFrame(columns=ROC_COLUMNS)
    for column, detector in DETECTORS.items():
        if column not in z_samples:
            continue
        scores = z_samples[column].to_numpy(dtype=float)
        for name in GROUPS:
            members = group == name
            if not members.any():
                continue
            keep = human | members
            curve = roc_curve(scores[keep], members[keep])
            curves.append(curve.assign(detector=detector, group=name))
    if not curves:
        return pd.DataFrame(columns=ROC_COLUMNS)
    return pd.concat(curves, ignore_index=True)[ROC_COLUMNS]


def auc_table(curves: pd.DataFrame) -> pd.DataFrame:
    """AUC per detector (rows) and group (columns) of :func:`roc_by_group`'s curves."""
    if not len(curves):
        return pd.DataFrame()
    rows = [
        {"detector": d, "group": g, "auc": auc(c)}
        for (d, g), c in curves.groupby(["detector", "group"], sort=False)
    ]
    table = pd.DataFrame(rows).pivot(index="detector", columns="group", values="auc")
    return table[[g for g in GROUPS if g in table.columns]]


def recall_at(z_samples: pd.DataFrame, column: str, threshold: float) -> dict[str, float]:
    """Share of each group's documents scoring above ``threshold`` on ``column`` (human: the
    false-positive rate)."""
    group = document_group(z_samples)
    flagged = z_samples[column].to_numpy(dtype=float) > threshold
    return {
        name: float(flagged[group == name].mean())
        for name in ("human", *GROUPS)
        if (group == name).any()
    }
