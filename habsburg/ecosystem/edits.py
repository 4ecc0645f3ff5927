"""The edit process of paraphrasing and spinning: which token positions of a document change.

A green-list watermark seeds token t's green list from its h preceding tokens (Kirchenbauer et al.
2023), so a scored (context, token) pair keeps its evidence only if the token and all h context
tokens survive editing. How much evidence an edit of a fraction ε of tokens leaves therefore depends
on *where* the edits fall, not only on ε. This module draws edited positions and counts surviving
scored pairs per document (vectorised over documents in one flat array, no per-document loop).

The process (``EditProcess``) is a mix of two independent parts:

- **spans**: a stationary two-state Markov chain along the text, edited spans of mean length L
  (geometric) separated by kept runs of mean length L(1 − ε)/ε. With a = ε / (L(1 − ε)) the chance
  that a kept token is followed by an edited one, a scored position survives with probability

      retention(ε) = (1 − ε)(1 − a)^h,     h = 1:  1 − ε(1 + 1/L)

  (only the pair straddling each span's start is lost on top of the edited tokens themselves).
  Random single-token edits are the special case L = 1/(1 − ε) (the chain forgets its state at
  every position), where retention is (1 − ε)^(h+1); a span length shorter than that is raised to it.
- **random**: independent positions. ``random_share = w`` splits the edit between the parts so that
  the survival of a token is (1 − ε_r)(1 − ε_s) = 1 − ε with ε_r = 1 − (1 − ε)^w.

Two edit passes over one text are independent, so a token survives both with probability
(1 − ε₁)(1 − ε₂): the combined fraction is :func:`combine_fractions`, and for random edits the
retention of two passes equals one pass of the combined fraction exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EditProcess:
    """Where edits fall: spans of mean length ``span_length`` (1 = random single tokens), with a
    share ``random_share`` of the edit made at independent random positions instead."""

    span_length: float = 1.0
    random_share: float = 0.0

    def __post_init__(self) -> None:
        if not 1.0 <= self.span_length <= 1e6:
            raise ValueError(f"span_length must be in [1, 1e6] tokens, got {self.span_length!r}")
        if not 0.0 <= self.random_share <= 1.0:
            raise ValueError(f"random_share must be in [0, 1], got {self.random_share!r}")


RANDOM = EditProcess(span_length=1.0)


def combine_fractions(first: np.ndarray | float, second: np.ndarray | float) -> np.ndarray:
    """Fraction of tokens changed by two independent edits: 1 − (1 − ε₁)(1 − ε₂)."""
    return 1.0 - (1.0 - np.asarray(first, dtype=np.float64)) * (
        1.0 - np.asarray(second, dtype=np.float64)
    )


def _split(eps: np.ndarray, process: EditProcess) -> tuple[np.ndarray, np.ndarray]:
    """(ε_random, ε_spans) with (1 − ε_r)(1 − ε_s) = 1 − ε."""
    keep = 1.0 - eps
    w = 1.0 if process.span_length <= 1.0 else process.random_share  # L = 1: spans are random
    return 1.0 - keep**w, 1.0 - keep ** (1.0 - w)


def _span_switch(eps_s: np.ndarray, span_length: float) -> np.ndarray:
    """a = P(edited | previous kept) of the span chain, with L raised to at least 1/(1 − ε)."""
    keep = np.maximum(1.0 - eps_s, 1e-300)
    length = np.maximum(span_length, 1.0 / keep)
    return np.where(eps_s >= 1.0, 1.0, eps_s / (length * keep))


def retention(
    eps: np.ndarray | float, context_width: int = 1, process: EditProcess = RANDOM
) -> np.ndarray:
    """Expected share of scored pairs (a token and its ``context_width`` predecessors) that survive
    an edit of a fraction ``eps`` of tokens: the closed form in the module docstring."""
    eps = np.clip(np.asarray(eps, dtype=np.float64), 0.0, 1.0)
    h = int(context_width)
    eps_r, eps_s = _split(eps, process)
    a = _span_switch(eps_s, process.span_length)
    return (1.0 - eps_r) ** (h + 1) * (1.0 - eps_s) * (1.0 - a) ** h


def edited_positions(
    lengths: np.ndarray, eps: np.ndarray, process: EditProcess, rng: np.random.Generator
) -> np.ndarray:
    """Flat boolean array (documents back to back, ``lengths[i]`` tokens each): which tokens an edit
    of fraction ``eps[i]`` changes. The span chain starts in its stationary state in each document.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n_flat = int(lengths.sum())
    if n_flat == 0:
        return np.zeros(0, dtype=bool)
    eps = np.clip(np.broadcast_to(np.asarray(eps, dtype=np.float64), lengths.shape), 0.0, 1.0)
    eps_r, eps_s = _split(eps, process)
    edited = np.zeros(n_flat, dtype=bool)
    if eps_r.any():
        edited |= rng.random(n_flat, dtype=np.float32) < np.repeat(
            eps_r.astype(np.float32), lengths
        )
    if not eps_s.any():
        return edited
    # A two-state chain with P(kept→edited) = a, P(edited→kept) = b is, per position, "with
    # probability λ = a + b draw a fresh state from the stationary law, else copy the previous
    # state" (λ ≤ 1 because L ≥ 1/(1 − ε)). Each refresh's state then runs to the next refresh.
    a = _span_switch(eps_s, process.span_length)
    keep = np.maximum(1.0 - eps_s, 1e-300)
    b = np.where(eps_s >= 1.0, 0.0, a * keep / np.maximum(eps_s, 1e-300))
    refresh_rate = np.where(eps_s > 0, np.minimum(a + b, 1.0), 1.0).astype(np.float32)
    refresh = rng.random(n_flat, dtype=np.float32) < np.repeat(refresh_rate, lengths)
    starts = np.cumsum(lengths) - lengths
    refresh[starts[lengths > 0]] = True
    where = np.flatnonzero(refresh)
    doc_of_refresh = np.searchsorted(starts, where, side="right") - 1
    fresh = rng.random(where.size, dtype=np.float32) < eps_s[doc_of_refresh]
    return edited | np.repeat(fresh, np.diff(np.append(where, n_flat)))


def surviving_pairs(
    scored: np.ndarray,
    eps: np.ndarray | float,
    rng: np.random.Generator,
    *,
    context_width: int = 1,
    process: EditProcess = RANDOM,
) -> np.ndarray:
    """Per document, how many of its ``scored`` contiguous scored positions keep their evidence
    after an edit of fraction ``eps``: the token and its ``context_width`` predecessors all unedited.

    Only documents with ``eps > 0`` and ``scored > 0`` are simulated (one flat array for all).
    """
    scored = np.asarray(scored, dtype=np.int64)
    eps = np.broadcast_to(np.asarray(eps, dtype=np.float64), scored.shape)
    out = scored.copy()
    todo = np.flatnonzero((eps > 0) & (scored > 0))
    if todo.size == 0:
        return out
    h = int(context_width)
    lengths = scored[todo] + h
    edited = edited_positions(lengths, eps[todo], process, rng)
    # a scored position is intact if it and its h predecessors are unedited; the shifted ORs
    # leak across documents only into each document's first h (context, unscored) positions
    broken = edited.copy()
    for d in range(1, h + 1):
        broken[d:] |= edited[:-d]
    intact = ~broken
    starts = np.cumsum(lengths) - lengths
    for d in range(h):
        intact[starts + d] = False
    out[todo] = np.add.reduceat(intact.view(np.int8), starts, dtype=np.int64)
    return out


def broken_pairs(
    tokens: np.ndarray,
    eps: np.ndarray | float,
    rng: np.random.Generator,
    *,
    context_width: int = 1,
    process: EditProcess = RANDOM,
) -> np.ndarray:
    """Per document of ``tokens`` scored positions, how many an edit of fraction ``eps`` breaks."""
    tokens = np.asarray(tokens, dtype=np.int64)
    kept = surviving_pairs(tokens, eps, rng, context_width=context_width, process=process)
    return tokens - kept
