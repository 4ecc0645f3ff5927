"""The perplexity classifier: its threshold sets the false-positive rate on human text, and it
separates machine text; the ROC helpers agree with known cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from habsburg.ecosystem.text.classifier import PerplexityClassifier, auc, roc_curve
from habsburg.ecosystem.text.ngram import NgramLearner, flatten


def test_roc_and_auc_on_known_cases():
    fpr, tpr = roc_curve(np.array([0.0, 1.0]), np.array([2.0, 3.0]))
    assert auc(fpr, tpr) == 1.0 and fpr[-1] == 1.0 and tpr[-1] == 1.0
    rng = np.random.default_rng(0)
    same = auc(*roc_curve(rng.normal(size=4000), rng.normal(size=4000)))
    assert abs(same - 0.5) < 0.03
    # distinct scores: the AUC is the Mann–Whitney statistic U / (n⁺ n⁻)
    negative, positive = rng.normal(size=500), rng.normal(0.7, size=400)
    u = stats.mannwhitneyu(positive, negative).statistic
    assert auc(*roc_curve(negative, positive)) == pytest.approx(u / (500 * 400), abs=1e-12)


def test_tied_scores_are_one_threshold_and_count_half():
    """Whole-count z-scores repeat: a tie between a positive and a negative is flagged together
    (Mann–Whitney counts it half). The curve stepped up then across in concatenation order,
    so two equal scores gave an AUC of 0 and every tie counted against the detector."""
    assert auc(*roc_curve(np.array([1.0, 1.0]), np.array([1.0, 1.0]))) == 0.5
    fpr, tpr = roc_curve(np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0] and tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    rng = np.random.default_rng(1)
    negative = np.round(rng.normal(size=600), 1)
    positive = np.round(rng.normal(0.5, size=500), 1)
    assert np.unique(np.r_[negative, positive]).size < 100  # many ties
    u = stats.mannwhitneyu(positive, negative).statistic  # ties count half
    assert auc(*roc_curve(negative, positive)) == pytest.approx(u / (600 * 500), abs=1e-12)


def test_threshold_sets_false_positive_rate_and_machine_text_is_flagged(small_corpus):
    V = len(small_corpus.vocab)
    train = small_corpus.train_documents()
    reference = NgramLearner(V).fit(train)
    clf = PerplexityClassifier(reference, fpr=0.1)
    human = flatten(small_corpus.heldout_documents())
    clf.calibrate(*human)
    assert clf.flags(*human).mean() == pytest.approx(0.1, abs=0.06)
    machine = NgramLearner(V, top_p=0.8).fit(train).sample(200, 60, np.random.default_rng(2))
    offsets = np.arange(0, machine.size + 1, 60)
    assert clf.flags(machine.ravel(), offsets).mean() > 0.5
    with pytest.raises(ValueError, match="fpr"):
        PerplexityClassifier(reference, fpr=0.0)
