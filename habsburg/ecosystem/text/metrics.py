"""Collapse you can read: the per-generation measures of a text model.

- ``heldout_perplexity``: perplexity of held-out human text under the model; it rises as the
  model forgets the human distribution (Shumailov et al. 2024).
- own-sample perplexity under generation 0 (``NgramLearner.doc_perplexities`` of the model's
  samples under the first model): it falls as the model becomes over-confident.
- ``ngram_share``: the share of the human corpus's distinct n-grams (of the model's order) that
  the model still holds an explicit count for, i.e. can still produce as an n-gram rather than
  only through back-off smoothing. Lost n-grams are the tails a finite resample misses.
- ``vocabulary_share``: the share of the human vocabulary that still appears in training data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from habsburg.ecosystem.text.ngram import NgramLearner, flatten, windows


def distinct_ngrams(sequences: Sequence[np.ndarray], order: int, vocab_size: int) -> np.ndarray:
    """Sorted distinct n-gram keys (same encoding as ``NgramLearner``) of the sequences."""
    tokens, offsets = flatten(sequences)
    win = windows(tokens, offsets, order)
    return np.unique(win @ (vocab_size ** np.arange(order - 1, -1, -1, dtype=np.int64)))


def ngram_share(model: NgramLearner, human_ngrams: np.ndarray) -> float:
    """Share of ``human_ngrams`` (distinct keys) the model holds an explicit count for."""
    if human_ngrams.size == 0:
        return float("nan")
    return float(np.isin(human_ngrams, model.known_ngrams(), assume_unique=True).mean())


def vocabulary_share(model: NgramLearner, human_vocab: np.ndarray) -> float:
    """Share of the human word types whose continuation count (raw count for order 1) is
    non-zero in the model, i.e. that it was trained on."""
    known = np.flatnonzero(model.word_counts_)
    return float(np.isin(human_vocab, known).mean()) if human_vocab.size else float("nan")


def heldout_perplexity(model: NgramLearner, heldout: Sequence[np.ndarray]) -> float:
    """Perplexity of held-out human documents under the model."""
    return model.perplexity(heldout)
