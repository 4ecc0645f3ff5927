"""The perplexity classifier: its threshold sets the false-positive rate on human text, and it
separates machine text; the ROC helpers agree with known cases."""

from __future__ import annotations

import numpy as np
import pytest

from habsburg.ecosystem.text.classifier import PerplexityClassifier, auc, roc_curve
from habsburg.ecosystem.text.ngram import NgramLearner, flatten


def test_roc_and_auc_on_known_cases():
    fpr, tpr = roc_curve(np.array([0.0, 1.0]), np.array([2.0, 3.0]))
    assert auc(fpr, tpr) == 1.0 and fpr[-1] == 1.0 and tpr[-1] == 1.0
    rng = np.random.default_rng(0)
    same = auc(*roc_curve(rng.normal(size=4000), rng.normal(size=4000)))
    assert abs(same - 0.5) < 0.03


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
