"""An AI-text classifier scored from the text itself, thresholded like a real filter.

The score of a document is its log-perplexity under a *reference* model (a model fitted on
pre-AI human text). With a second *baseline* model the score is the log of the ratio of the two
perplexities, ``log ppl_ref − log ppl_base`` (in the spirit of DetectGPT/Binoculars-style
normalisation: text that is easy for the reference model relative to how easy it is in general
looks machine-made). Machine text sampled from models close to the reference is unusually
probable under it, so low scores are flagged. The threshold is the ``fpr`` quantile of the scores
of calibration human documents: the filter's false-positive rate on human text is set, its recall
on synthetic text is whatever the text gives.

On the installed corpus (80-token passages, trigram reference) the ratio separates better than
the plain perplexity (AUC 0.85 vs 0.66 for τ = 1 samples, 0.96 vs 0.93 with top-p 0.9); on a
tiny low-entropy grammar the ratio fails for truncated sampling (frequent words make the
unigram perplexity low too), which is why the baseline model is optional.
"""

from __future__ import annotations

import numpy as np

from habsburg.ecosystem.rates import roc_auc, roc_points
from habsburg.ecosystem.text.ngram import NgramLearner


class PerplexityClassifier:
    """Flags documents whose (relative) perplexity under a reference model is unusually low."""

    def __init__(
        self, reference: NgramLearner, *, baseline: NgramLearner | None = None, fpr: float = 0.05
    ) -> None:
        if not 0.0 < fpr < 1.0:
            raise ValueError(f"classifier fpr must be in (0, 1), got {fpr}")
        self.reference, self.baseline, self.fpr = reference, baseline, float(fpr)
        self.threshold_ = -np.inf

    def score(self, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Per-document score (lower = more machine-like)."""
        s = np.log(self.reference.doc_perplexities(tokens, offsets))
        if self.baseline is not None:
            s = s - np.log(self.baseline.doc_perplexities(tokens, offsets))
        return s

    def calibrate(self, tokens: np.ndarray, offsets: np.ndarray) -> PerplexityClassifier:
        """Set the threshold so a share ``fpr`` of these human documents is flagged."""
        self.threshold_ = float(np.quantile(self.score(tokens, offsets), self.fpr))
        return self

    def flags(self, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """True where a document is classified as machine-made."""
        return self.score(tokens, offsets) < self.threshold_


def roc_curve(
    scores_negative: np.ndarray, scores_positive: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) over every distinct threshold, positives
    scoring higher: documents of equal score are flagged together, and a curve of one class
    has NaN rates (:func:`habsburg.ecosystem.rates.roc_points`, as the simulator's ROC)."""
    scores = np.concatenate([scores_negative, scores_positive]).astype(np.float64)
    positive = np.r_[np.zeros(scores_negative.size, bool), np.ones(scores_positive.size, bool)]
    _, fpr, tpr = roc_points(scores, positive)
    return fpr, tpr


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under a ROC curve (:func:`habsburg.ecosystem.rates.roc_auc`: trapezoid rule; NaN
    for a curve of one class only, not the 0 of a perfectly inverted detector)."""
    return roc_auc(fpr, tpr)
