"""Precision, recall and false-positive rate: one definition, scalars and arrays alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from habsburg.ecosystem.rates import false_positive_rate, precision_recall, safe_rate


def test_rates_of_known_counts():
    precision, recall = precision_recall(8, 2, 4)
    assert isinstance(precision, float) and precision == pytest.approx(0.8)
    assert recall == pytest.approx(8 / 12)
    assert false_positive_rate(2, 86) == pytest.approx(2 / 88)


def test_an_empty_denominator_is_nan_not_zero():
    precision, recall = precision_recall(0, 0, 0)
    assert math.isnan(precision) and math.isnan(recall)
    assert math.isnan(false_positive_rate(0, 0))


def test_arrays_are_rated_elementwise():
    precision, recall = precision_recall(np.array([8, 0]), np.array([2, 0]), np.array([4, 3]))
    np.testing.assert_allclose(precision, [0.8, np.nan])
    np.testing.assert_allclose(recall, [8 / 12, 0.0])
    np.testing.assert_allclose(safe_rate([1.0, 2.0], [0, 4]), [np.nan, 0.5])
