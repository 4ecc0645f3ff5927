"""Concept and fact views derived from real text, so the abstract mode's analyses have inputs.

- **Concepts** are content-word types: every token id at or above ``first_content_id`` (ids
  are ranked by frequency, so the lowest ones are punctuation and function words). A document's
  concept distribution is its content-word counts.
- **Facts** are one fixed subject–relation pattern, ``SUBJECT the son of VALUE`` (the corpus's
  genealogies: "joshua the son of nun"). The subject is the word before "the son of" (a comma
  before it is skipped); the claimed value is the word after. The *true* value of a subject is
  its most frequent value in the human corpus; a claim about a known subject with any other value
  is an error (a hallucinated or mixed-up lineage). The idiom "son of man" is not a lineage
  and is left out.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon

from habsburg.ecosystem.text.corpus import UNK, Vocabulary

RELATION = ("the", "son", "of")


FIRST_CONTENT_ID = 63  # 3 specials + the 60 most frequent words (punctuation, function words)


def fact_claims(
    tokens: np.ndarray,
    vocab: Vocabulary,
    first_content_id: int = FIRST_CONTENT_ID,
    offsets: np.ndarray | None = None,
) -> np.ndarray:
    """(n, 2) array of (subject, value) claims found in a flat token array (subject and value
    must be content words: names, not "of" or "."). With document ``offsets``, a pattern that
    runs across two documents is not a claim."""
    ids = [vocab.index.get(w, -1) for w in RELATION]
    t = np.asarray(tokens, dtype=np.int64)
    if -1 in ids or t.size < 6:
        return np.zeros((0, 2), dtype=np.int64)
    n = t.size
    at = (
        np.flatnonzero(
            (t[1 : n - 3] == ids[0]) & (t[2 : n - 2] == ids[1]) & (t[3 : n - 1] == ids[2])
        )
        + 1
    )
    subj_pos = at - 1
    comma = vocab.index.get(",", -1)
    shift = (t[subj_pos] == comma) & (subj_pos > 0)
    subj_pos = np.where(shift, subj_pos - 1, subj_pos)
    subj = t[subj_pos]
    value = t[at + 3]
    idiom = vocab.index.get("man", -1)
    same_doc = np.ones(at.size, dtype=bool)
    if offsets is not None:
        doc = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
        same_doc = doc[subj_pos] == doc[at + 3]
    keep = (
        same_doc
        & (value != idiom)
        & (subj >= first_content_id)
        & (value >= first_content_id)
        & (subj != UNK)
        & (value != UNK)
    )
    return np.stack([subj[keep], value[keep]], axis=1)


def true_values(claims: np.ndarray, vocab_size: int) -> dict[int, int]:
    """Subject -> its most frequent value among (human) claims."""
    if claims.size == 0:
        return {}
    keys, counts = np.unique(claims[:, 0] * vocab_size + claims[:, 1], return_counts=True)
    subj, val = keys // vocab_size, keys % vocab_size
    order = np.lexsort((-counts, subj))
    subj, val = subj[order], val[order]
    first = np.concatenate([[True], subj[1:] != subj[:-1]])
    return dict(zip(subj[first].tolist(), val[first].tolist(), strict=True))


def fact_accuracy(claims: np.ndarray, truth: dict[int, int]) -> tuple[float, int]:
    """(share of claims about known subjects with the true value, number of such claims)."""
    if claims.size == 0 or not truth:
        return float("nan"), 0
    subjects = np.fromiter(truth, dtype=np.int64)
    values = np.fromiter(truth.values(), dtype=np.int64)
    order = np.argsort(subjects)
    subjects, values = subjects[order], values[order]
    i = np.minimum(np.searchsorted(subjects, claims[:, 0]), subjects.size - 1)
    known = subjects[i] == claims[:, 0]
    if not known.any():
        return float("nan"), 0
    return float((values[i][known] == claims[known, 1]).mean()), int(known.sum())


def concept_distribution(
    tokens: np.ndarray, vocab_size: int, first_content_id: int = FIRST_CONTENT_ID
) -> np.ndarray:
    """Normalised content-word counts of a body of text (the concept view)."""
    t = np.asarray(tokens, dtype=np.int64)
    counts = np.bincount(t[t >= first_content_id], minlength=vocab_size).astype(np.float64)
    total = counts.sum()
    return counts / total if total else counts


def concept_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence (nats) between two concept distributions."""
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    return float(jensenshannon(p, q) ** 2)
