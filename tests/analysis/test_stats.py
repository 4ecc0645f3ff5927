"""Confidence intervals over seeds: the t interval of scipy.stats, NaN-aware."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from habsburg.analysis.stats import band, paired_ci


def test_paired_ci_is_the_student_t_interval():
    d = np.array([0.3, -0.1, 0.4, 0.2, 0.25])
    mean, low, high, n = paired_ci(d, 0.9)
    half = stats.t.ppf(0.95, 4) * d.std(ddof=1) / np.sqrt(5)
    assert (mean, n) == (pytest.approx(d.mean()), 5)
    assert (low, high) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert paired_ci([np.nan, *d], 0.9) == pytest.approx((mean, low, high, 5))
    one = paired_ci([0.5, np.nan])
    assert one[0] == 0.5 and np.isnan(one[1]) and np.isnan(one[2]) and one[3] == 1
    assert np.isnan(paired_ci([])[0])


def test_band_is_a_pointwise_interval_per_column():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(6, 4))
    v[0, 1] = np.nan  # a run without this month
    v[1:, 2] = np.nan  # one run only: a mean, no interval
    v[:, 3] = np.nan  # no run: nothing
    mean, low, high = band(v, 0.95)
    col = v[1:, 1]
    half = stats.t.ppf(0.975, col.size - 1) * stats.sem(col)
    assert mean[1] == pytest.approx(col.mean())
    assert (low[1], high[1]) == (pytest.approx(col.mean() - half), pytest.approx(col.mean() + half))
    assert mean[2] == v[0, 2] and np.isnan(low[2]) and np.isnan(high[2])
    assert np.isnan(mean[3]) and np.isnan(low[3])
    assert np.all(low[:2] < mean[:2]) and np.all(mean[:2] < high[:2])
