"""Do watermark filters work?

Per scraper and over time: the AI filters' confusion matrix against ground truth (a document
counts as AI when its synthetic fraction reaches the measurement threshold), precision, recall,
false-positive rate, the synthetic share of crawled data before and after filtering and the
human documents lost (``crawls``); and an ROC curve of the watermark z-test over detector
thresholds from the recorded z-scores of crawled documents (``z_samples``). The counterfactual
(the same seed run with the AI filters off) is a simulation:
:mod:`habsburg.experiments.counterfactual`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from habsburg.ecosystem.rates import (
    auc_text,
    false_positive_rate,
    precision_recall,
    roc_auc,
    roc_points,
    safe_rate,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

COUNTS = ["sampled", "kept", "tp", "fp", "fn", "tn", "human_lost", "dedup_removed"]


def rates(
    tp: ArrayLike, fp: ArrayLike, fn: ArrayLike, tn: ArrayLike
) -> dict[str, float | np.ndarray]:
    """Precision tp/(tp+fp), recall tp/(tp+fn), false-positive rate fp/(fp+tn) (NaN when the
    denominator is 0)."""
    precision, recall = precision_recall(tp, fp, fn)
    return {
        "precision": precision,
        "recall": recall,
        "false_positive_rate": false_positive_rate(fp, tn),
    }


def _pool(crawls: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sum the confusion counts over groups; synthetic shares weighted by documents."""
    c = crawls.assign(
        _syn_before=crawls["synthetic_before"].fillna(0) * crawls["sampled"],
        _syn_after=crawls["synthetic_after"].fillna(0) * crawls["kept"],
    )
    g = c.groupby(by, sort=True)[[*COUNTS, "_syn_before", "_syn_after"]].sum()
    for k, v in rates(g["tp"], g["fp"], g["fn"], g["tn"]).items():
        g[k] = v
    g["synthetic_before"] = safe_rate(g["_syn_before"], g["sampled"])
    g["synthetic_after"] = safe_rate(g["_syn_after"], g["kept"])
    return g.drop(columns=["_syn_before", "_syn_after"]).reset_index()


def by_scraper(crawls: pd.DataFrame, since_step: int = 0) -> pd.DataFrame:
    """Each scraper's filter performance over all its crawls from ``since_step`` on, with a last
    row ``all`` pooling every scraper."""
    c = crawls[crawls["step"] >= since_step]
    per = _pool(c, ["scraper"])
    total = _pool(c.assign(scraper="all"), ["scraper"])
    return pd.concat([per, total], ignore_index=True)


def over_time(crawls: pd.DataFrame, *, pooled: bool = True) -> pd.DataFrame:
    """Filter performance per scraper and month (``pooled``: plus scraper ``all``)."""
    per = _pool(crawls, ["scraper", "step"])
    if not pooled:
        return per
    total = _pool(crawls.assign(scraper="all"), ["scraper", "step"])
    return pd.concat([per, total], ignore_index=True)


def roc_curve(scores: ArrayLike, positive: ArrayLike) -> pd.DataFrame:
    """ROC curve of "flag when score ≥ threshold" over every distinct threshold: columns
    ``threshold``, ``tpr``, ``fpr`` from (0, 0) at +inf to (1, 1). Without positive documents
    the true-positive rate is undefined (NaN), and without negative ones the false-positive
    rate: the AUC of such a curve is NaN, not the 0 of a perfectly inverted detector. A NaN
    score has no place among the thresholds and is refused (ValueError)."""
    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    if np.isnan(scores).any():
        raise ValueError(
            f"roc_curve: {int(np.isnan(scores).sum())} of {scores.size} scores are NaN"
        )
    threshold, fpr, tpr = roc_points(scores, positive)
    return pd.DataFrame({"threshold": threshold, "tpr": tpr, "fpr": fpr})


def auc(roc: pd.DataFrame) -> float:
    """Area under an ROC curve (:func:`~habsburg.ecosystem.rates.roc_auc`: trapezoid rule; NaN
    for a curve of one class only)."""
    return roc_auc(roc["fpr"].to_numpy(), roc["tpr"].to_numpy())


def auc_label(roc: pd.DataFrame) -> str:
    """A curve's AUC for a legend: ``"AUC 0.87"``, or ``"no AUC: one class only"`` (NaN)."""
    return auc_text(auc(roc))


def watermark_roc(
    z_samples: pd.DataFrame, *, ai_threshold: float = 0.5, by: str | None = None
) -> pd.DataFrame:
    """ROC of the watermark z-test on crawled documents: AI documents (synthetic fraction ≥
    ``ai_threshold``) against human ones. ``by="kind"`` gives one curve per producer kind
    (its AI documents against all human ones); column ``group`` names the curve."""
    positive = z_samples["synthetic_fraction"].to_numpy() >= ai_threshold
    z = z_samples["z"].to_numpy()
    curves = [roc_curve(z, positive).assign(group="all AI documents")]
    if by is not None:
        groups = z_samples[by].astype(str).to_numpy()
        for name in pd.unique(groups[positive]):
            keep = ~positive | (groups == name)
            curves.append(roc_curve(z[keep], positive[keep]).assign(group=str(name)))
    return pd.concat(curves, ignore_index=True)


def operating_point(
    z_samples: pd.DataFrame,
    z_threshold: float,
    *,
    ai_threshold: float = 0.5,
    history: Sequence[tuple[int, float]] | None = None,
) -> dict[str, float]:
    """True- and false-positive rate of the watermark z-test alone where the scrapers used it:
    a document is flagged when its z exceeds the threshold (``z > threshold``, as the scrapers'
    filter flags it), ``z_threshold``, or, with ``history`` (``(first step, threshold)`` pairs:
    :meth:`~habsburg.analysis.results.Run.z_threshold_history`), the threshold in force in the
    month each sample was crawled. ``threshold`` is the last one in force."""
    positive = z_samples["synthetic_fraction"].to_numpy() >= ai_threshold
    thresholds: np.ndarray | float = float(z_threshold)
    if history:
        starts = np.array([step for step, _ in history])
        values = np.array([value for _, value in history], dtype=np.float64)
        at = np.searchsorted(starts, z_samples["step"].to_numpy(), side="right") - 1
        thresholds = values[np.maximum(at, 0)]
        z_threshold = float(values[-1])
    flagged = z_samples["z"].to_numpy(dtype=np.float64) > thresholds  # (float32 column)
    return {
        "threshold": float(z_threshold),
        "tpr": float(flagged[positive].mean()) if positive.any() else float("nan"),
        "fpr": float(flagged[~positive].mean()) if (~positive).any() else float("nan"),
    }


def short_training_sets(lineage: pd.DataFrame, below: float = 0.95) -> pd.DataFrame:
    """The models whose training sets fell short of their data budget (the ``lineage`` table:
    ``documents`` against ``budget``): what their crawls since the last retrain, or ever, held
    after the filters and deduplication was less than the budget asked for.

    One row per model whose median set is below ``below`` of its budget, in the order of the
    shortest first: ``model``, ``sets``, ``budget`` (the latest set's), ``median_share``,
    ``min_share`` (documents / budget), ``short_sets`` (sets below ``below``). Empty when the
    table predates the ``budget`` column (results written before 2026-12-03) or none fell short.
    """
    columns = ["model", "sets", "budget", "median_share", "min_share", "short_sets"]
    if not len(lineage) or "budget" not in lineage.columns:
        return pd.DataFrame(columns=columns)
    share = lineage["documents"] / lineage["budget"].where(lineage["budget"] > 0)
    table = (
        lineage.assign(share=share)
        .groupby("model", sort=True)
        .agg(
            sets=("share", "size"),
            budget=("budget", "last"),
            median_share=("share", "median"),
            min_share=("share", "min"),
            short_sets=("share", lambda s: int((s < below).sum())),
        )
        .reset_index()
    )
    short = table[table["median_share"] < below].sort_values("median_share", kind="stable")
    return short[columns].reset_index(drop=True)
