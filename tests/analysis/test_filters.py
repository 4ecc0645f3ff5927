"""Watermark-filter effectiveness: confusion-matrix rates, pooling, ROC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from habsburg.analysis import filters as F


def crawl(step, scraper, tp, fp, fn, tn, synthetic_before, kept, synthetic_after):
    sampled = tp + fp + fn + tn
    return {
        "step": step,
        "scraper": scraper,
        "sampled": sampled,
        "kept": kept,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "synthetic_before": synthetic_before,
        "synthetic_after": synthetic_after,
        "human_lost": fp,
        "dedup_removed": 0,
    }


def test_detector_with_known_counts_gives_expected_precision_and_recall():
    r = F.rates(8, 2, 4, 86)
    assert r["precision"] == pytest.approx(0.8)
    assert r["recall"] == pytest.approx(8 / 12)
    assert r["false_positive_rate"] == pytest.approx(2 / 88)
    assert np.isnan(F.rates(0, 0, 0, 5)["precision"])


def test_pooling_over_crawls_sums_counts_and_weights_shares():
    crawls = pd.DataFrame(
        [
            crawl(
                0, "x", tp=8, fp=2, fn=4, tn=86, synthetic_before=0.2, kept=90, synthetic_after=0.1
            ),
            crawl(
                1, "x", tp=2, fp=0, fn=6, tn=92, synthetic_before=0.4, kept=60, synthetic_after=0.3
            ),
            crawl(
                1, "y", tp=0, fp=5, fn=0, tn=45, synthetic_before=0.0, kept=45, synthetic_after=0.0
            ),
        ]
    )
    per = F.by_scraper(crawls).set_index("scraper")
    assert per.loc["x", "precision"] == pytest.approx(10 / 12)
    assert per.loc["x", "recall"] == pytest.approx(10 / 20)
    assert per.loc["x", "synthetic_before"] == pytest.approx((0.2 * 100 + 0.4 * 100) / 200)
    assert per.loc["x", "synthetic_after"] == pytest.approx((0.1 * 90 + 0.3 * 60) / 150)
    assert per.loc["all", "human_lost"] == 7
    assert per.loc["all", "false_positive_rate"] == pytest.approx(7 / (7 + 86 + 92 + 45))
    since = F.by_scraper(crawls, since_step=1).set_index("scraper")
    assert since.loc["x", "tp"] == 2
    monthly = F.over_time(crawls).set_index(["scraper", "step"])
    assert monthly.loc[("all", 1), "fp"] == 5
    assert monthly.loc[("x", 0), "recall"] == pytest.approx(8 / 12)


def test_roc_curve_and_auc_on_known_scores():
    perfect = F.roc_curve([3.0, 2.0, 1.0, 0.0], [True, True, False, False])
    assert F.auc(perfect) == pytest.approx(1.0)
    assert F.auc(F.roc_curve([3.0, 2.0, 1.0, 0.0], [False, False, True, True])) == 0.0
    # one positive ranked below one negative: 3 of 4 pairs ordered right
    assert F.auc(F.roc_curve([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0])) == pytest.approx(0.75)
    tied = F.roc_curve([1.0, 1.0, 1.0, 1.0], [1, 0, 1, 0])
    assert len(tied) == 2 and F.auc(tied) == pytest.approx(0.5)
    assert perfect["tpr"].is_monotonic_increasing and perfect["fpr"].is_monotonic_increasing


def test_roc_curve_refuses_nan_scores():
    """A NaN score would sort below every threshold and count as flagged last, an AUC of a
    score nobody computed; it is refused, naming how many."""
    with pytest.raises(ValueError, match="1 of 3 scores are NaN"):
        F.roc_curve([1.0, np.nan, 0.0], [True, False, False])


def test_watermark_roc_matches_the_binormal_closed_form():
    """Human z ~ N(0, 1), watermarked z ~ N(Δ, 1): AUC = Φ(Δ/√2) (e.g. Hanley & McNeil 1982)."""
    rng = np.random.default_rng(3)
    n, delta = 20_000, 1.0
    z = pd.DataFrame(
        {
            "z": np.r_[rng.normal(0, 1, n), rng.normal(delta, 1, n)],
            "synthetic_fraction": np.r_[np.zeros(n), np.ones(n)],
            "kind": ["human"] * n + ["model"] * n,
        }
    )
    curves = F.watermark_roc(z, by="kind")
    aucs = {g: F.auc(c) for g, c in curves.groupby("group")}
    assert aucs["all AI documents"] == pytest.approx(stats.norm.cdf(delta / np.sqrt(2)), abs=0.01)
    assert aucs["model"] == pytest.approx(aucs["all AI documents"])
    point = F.operating_point(z, 4.0)
    assert point["fpr"] == pytest.approx(stats.norm.sf(4.0), abs=2e-4)
    assert point["tpr"] == pytest.approx(stats.norm.sf(3.0), abs=0.005)


def test_short_training_sets_lists_the_models_below_their_budget():
    lineage = pd.DataFrame(
        {
            "model": ["full", "full", "half", "half", "half", "low", "zero"],
            "documents": [100, 100, 50, 40, 100, 10, 0],
            "budget": [100, 100, 100, 100, 100, 100, 0],
        }
    )
    short = F.short_training_sets(lineage)
    # the shortest first; a model whose median set fills its budget is not listed, nor one
    # without a budget
    assert short["model"].tolist() == ["low", "half"]
    half = short.set_index("model").loc["half"]
    assert half["sets"] == 3 and half["budget"] == 100 and half["short_sets"] == 2
    assert half["median_share"] == 0.5 and half["min_share"] == 0.4
    assert F.short_training_sets(lineage, below=0.05)["model"].tolist() == []


def test_short_training_sets_of_results_without_a_budget_column():
    old = pd.DataFrame({"model": ["a"], "documents": [10]})  # written before 2026-12-03
    assert F.short_training_sets(old).empty
    assert F.short_training_sets(pd.DataFrame()).empty
