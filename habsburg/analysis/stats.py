"""Confidence intervals of means over runs (seeds), from :mod:`scipy.stats`.

A comparison pairs runs by seed and reports the mean paired difference with its Student t
interval (Student 1908: mean ± t_{(1+c)/2, n−1} · sd / √n); its figures draw each scenario's
monthly mean over seeds with the same interval month by month. Both are
:func:`scipy.stats.ttest_1samp` confidence intervals; NaN and infinite values (a run without the
outcome) are left out of the mean, the interval and the count alike, and the interval is NaN
with fewer than two values.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


def t_interval(
    values: ArrayLike, confidence: float = 0.95, axis: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean of ``values`` along ``axis`` and its t confidence interval, ignoring NaN and ±inf:
    ``(mean, low, high, n)``, all of the same finite values; the mean is NaN without values, the
    interval with fewer than two."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    n = finite.sum(axis=axis)
    v = np.where(finite, v, np.nan)  # (ttest_1samp's nan_policy omits NaN, not inf)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # columns with fewer than two values
        mean = np.nanmean(v, axis=axis)
        ci = stats.ttest_1samp(v, 0.0, axis=axis, nan_policy="omit").confidence_interval(confidence)
    low = np.where(n > 1, ci.low, np.nan)
    high = np.where(n > 1, ci.high, np.nan)
    return mean, low, high, n


def band(values: ArrayLike, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs (rows) of each column (month) and its pointwise t interval:
    ``(mean, low, high)``."""
    mean, low, high, _ = t_interval(values, confidence, axis=0)
    return mean, low, high


def paired_ci(differences: ArrayLike, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """Mean of paired differences and its t interval: ``(mean, low, high, n)``."""
    d = np.asarray(differences, dtype=np.float64).ravel()
    mean, low, high, n = t_interval(d, confidence)
    return float(mean), float(low), float(high), int(n)
