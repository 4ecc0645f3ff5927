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
