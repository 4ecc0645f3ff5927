"""Detection rates from confusion counts: precision, recall and false-positive rate.

One definition for every caller (a scraper's crawl statistics, the model's monthly filter
metrics, the analysis of crawl tables): a rate whose denominator is zero is NaN, not 0, so "no
document was flagged" is not read as "every flag was wrong". Scalars give floats, arrays give
arrays (vectorised over crawls or months).
"""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import ArrayLike


@overload
def safe_rate(numerator: float, denominator: float) -> float: ...
@overload
def safe_rate(numerator: ArrayLike, denominator: ArrayLike) -> float | np.ndarray: ...
def safe_rate(numerator: ArrayLike, denominator: ArrayLike) -> float | np.ndarray:
    """``numerator / denominator``, NaN where the denominator is 0."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    return float(out) if out.ndim == 0 else out


@overload
def precision_recall(tp: float, fp: float, fn: float) -> tuple[float, float]: ...
@overload
def precision_recall(
    tp: ArrayLike, fp: ArrayLike, fn: ArrayLike
) -> tuple[float | np.ndarray, float | np.ndarray]: ...
def precision_recall(
    tp: ArrayLike, fp: ArrayLike, fn: ArrayLike
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Precision tp / (tp + fp) and recall tp / (tp + fn) of a filter against ground truth."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    return safe_rate(tp, tp + fp), safe_rate(tp, tp + fn)


@overload
def false_positive_rate(fp: float, tn: float) -> float: ...
@overload
def false_positive_rate(fp: ArrayLike, tn: ArrayLike) -> float | np.ndarray: ...
def false_positive_rate(fp: ArrayLike, tn: ArrayLike) -> float | np.ndarray:
    """The share of negatives (human documents) wrongly flagged: fp / (fp + tn)."""
    fp, tn = (np.asarray(x, dtype=np.float64) for x in (fp, tn))
    return safe_rate(fp, fp + tn)


def tie_ends(sorted_scores: np.ndarray) -> np.ndarray:
    """Positions of the last of each run of equal values in ``sorted_scores`` (sorted either
    way): the points of an ROC curve, where documents of equal score are flagged together (a
    tie between a positive and a negative is one diagonal step, half credit in the area, as the
    Mann–Whitney statistic counts it)."""
    if not sorted_scores.size:
        return np.zeros(0, dtype=np.intp)
    return np.r_[np.flatnonzero(np.diff(sorted_scores) != 0), sorted_scores.size - 1]


def roc_points(
    scores: np.ndarray, positive: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, false-positive rates, true-positive rates) of "flag when score ≥ threshold"
    over every distinct score (:func:`tie_ends`), from (0, 0) at +inf to (1, 1), for float
    ``scores`` and boolean labels ``positive``. Without positives the true-positive rate is
    undefined (NaN), and without negatives the false-positive rate: the simulator's and text
    mode's ROC curves."""
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positive[order]
    last = tie_ends(s)
    n_pos, n_neg = int(p.sum()), int((~p).sum())
    tps, fps = np.cumsum(p)[last], np.cumsum(~p)[last]
    tpr = np.r_[0.0, tps / n_pos] if n_pos else np.full(last.size + 1, np.nan)
    fpr = np.r_[0.0, fps / n_neg] if n_neg else np.full(last.size + 1, np.nan)
    return np.r_[np.inf, s[last]], fpr, tpr


def roc_auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under an ROC curve (trapezoid rule; 0.5 is chance, 1 a perfect detector); NaN for a
    curve of one class only (:func:`roc_points` gives it NaN rates), not the 0 of a perfectly
    inverted detector."""
    if not (np.isfinite(tpr).all() and np.isfinite(fpr).all()):
        return float("nan")
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def auc_text(value: float, digits: int = 2) -> str:
    """An AUC for a legend: ``"AUC 0.87"``, or ``"no AUC: one class only"`` (NaN)."""
    return f"AUC {value:.{digits}f}" if np.isfinite(value) else "no AUC: one class only"
