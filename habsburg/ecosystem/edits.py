"""The edit process of paraphrasing and spinning: which token positions of a document change.

A green-list watermark seeds token t's green list from its h preceding tokens (Kirchenbauer et al.
2023), so a scored (context, token) pair keeps its evidence only if the token and all h context
tokens survive editing. How much evidence an edit of a fraction ε of tokens leaves therefore depends
on *where* the edits fall, not only on ε. This module draws edited positions and counts surviving
scored pairs per document (vectorised over documents in one flat array, no per-document loop):
random edits take one uniform per token, compared as integers against each document's threshold;
spans are counted run by run (where the chain draws a fresh state and how long it holds), without
a per-token array. Either way the draws, and so a run's random stream, are those of the plain
per-token simulation (:func:`edited_positions`).

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
from typing import TYPE_CHECKING, cast

import numpy as np

from habsburg.ecosystem.rawdraws import draws32

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


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
    lengths: ArrayLike, eps: ArrayLike, process: EditProcess, rng: np.random.Generator
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
    edited = _random_edits(lengths, eps_r, rng) if eps_r.any() else np.zeros(n_flat, dtype=bool)
    if not eps_s.any():
        return edited
    where, _, fresh = _span_refreshes(lengths, eps_s, process, rng)
    return edited | np.repeat(fresh, np.diff(where, append=n_flat))


def _random_edits(lengths: np.ndarray, eps_r: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Independent edits: token j of document i is edited with probability ``eps_r[i]``."""
    return _below(lengths, eps_r, rng)


#: tokens compared per pass in :func:`_below`: its per-token temporaries (a uint32 bound and a
#: uint32 draw each) stay at 16 MB, which the C heap reuses from pass to pass; one pass over a
#: 100× month's tokens made ~300 MB of fresh pages for the kernel to zero each time
_BELOW_CHUNK = 1 << 21


def _below(lengths: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The draws of ``rng.random(n, dtype=np.float32) < np.repeat(p.astype(np.float32), lengths)``.

    Compared as integers: numpy's float32 uniform is (x >> 8)/2²⁴ for a 32-bit draw x, and
    (x >> 8)/2²⁴ < q  ⟺  x < 2⁸·⌈q·2²⁴⌉ (exact in float64), so no per-token float is made.
    The tokens are compared :data:`_BELOW_CHUNK` at a time, drawing each pass's uniforms in
    turn, so the stream is the one of a single draw of all ``n``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = int(lengths.sum())
    limit = np.ceil(p.astype(np.float32).astype(np.float64) * 2.0**24) * 2.0**8  # in [0, 2³²]
    bound = np.maximum(limit - 1, 0).astype(np.uint32)
    never = limit == 0  # q rounds to 0 in float32
    ends = np.cumsum(lengths)
    flagged = np.empty(n, dtype=bool)
    for a in range(0, n, _BELOW_CHUNK):
        b = min(a + _BELOW_CHUNK, n)
        first, last = np.searchsorted(ends, [a, b - 1], side="right")  # documents a .. b-1 meet
        counts = np.minimum(ends[first : last + 1], b) - np.maximum(
            ends[first : last + 1] - lengths[first : last + 1], a
        )
        out = flagged[a:b]
        spare, draws = draws32(rng, b - a)
        bounds = np.repeat(bound[first : last + 1], counts)
        if spare is not None:
            out[0] = spare <= bounds[0]
        np.less_equal(draws, bounds[out.size - draws.size :], out=out[out.size - draws.size :])
        if never[first : last + 1].any():
            out[np.repeat(never[first : last + 1], counts)] = False
    return flagged


def _span_refreshes(
    lengths: np.ndarray, eps_s: np.ndarray, process: EditProcess, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The span chain as runs: ``(where, doc, fresh)``, the flat positions where the chain draws a
    fresh state, their documents, and whether that state is edited (it holds to the next one).

    A two-state chain with P(kept→edited) = a, P(edited→kept) = b is, per position, "with
    probability λ = a + b draw a fresh state from the stationary law, else copy the previous
    state" (λ ≤ 1 because L ≥ 1/(1 − ε)). Every document's first token is a refresh.
    """
    a = _span_switch(eps_s, process.span_length)
    keep = np.maximum(1.0 - eps_s, 1e-300)
    b = np.where(eps_s >= 1.0, 0.0, a * keep / np.maximum(eps_s, 1e-300))
    refresh_rate = np.where(eps_s > 0, np.minimum(a + b, 1.0), 1.0)
    refresh = _below(lengths, refresh_rate, rng)
    starts = np.cumsum(lengths) - lengths
    refresh[starts[lengths > 0]] = True
    where = np.flatnonzero(refresh)
    first = np.searchsorted(where, starts)  # each document's first refresh
    doc = np.repeat(np.arange(lengths.size), np.diff(first, append=where.size))
    fresh = rng.random(where.size, dtype=np.float32) < eps_s[doc]
    return where, doc, fresh


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

    Only documents with ``eps > 0`` and ``scored > 0`` are simulated (one flat array for all, with
    the draws of :func:`edited_positions`; edits in spans only are counted run by run, without a
    per-token array).
    """
    scored = np.asarray(scored, dtype=np.int64)
    eps = np.broadcast_to(np.asarray(eps, dtype=np.float64), scored.shape)
    out = scored.copy()
    todo = np.flatnonzero((eps > 0) & (scored > 0))
    if todo.size == 0:
        return out
    h = int(context_width)
    lengths = scored[todo] + h  # each document's first h tokens are context only
    eps = cast("np.ndarray", np.clip(eps[todo], 0.0, 1.0))  # (np.clip is typed Any)
    eps_r, eps_s = _split(eps, process)
    if not eps_s.any():
        if eps_r.any():  # (ε so small that 1 − ε rounds to 1 edits nothing and draws nothing)
            out[todo] = _intact_windows(_random_edits(lengths, eps_r, rng), lengths, h)
    elif not eps_r.any():
        out[todo] = _intact_runs(*_span_refreshes(lengths, eps_s, process, rng), lengths, h)
    else:
        out[todo] = _intact_windows(edited_positions(lengths, eps, process, rng), lengths, h)
    return out


def _intact_windows(edited: np.ndarray, lengths: np.ndarray, h: int) -> np.ndarray:
    """Per document (back to back in ``edited``), the positions past its first ``h`` whose token
    and ``h`` predecessors are all unedited. Flat position j is *broken* if token j or one of its
    h predecessors is edited; document i's scored positions are ``start_i + h .. end_i - 1``, whose
    windows never reach into the previous document.

    Counted on the flags packed 64 to a word (bit j % 64 of word j // 64): the window is h shifts
    with a carry from the previous word, the counts prefix sums of the words' popcounts.
    """
    n = edited.size
    packed = np.zeros((n + 63) // 64 + 1, dtype="<u8")  # one spare word: prefixes up to n
    packed.view(np.uint8)[: (n + 7) // 8] = np.packbits(edited, bitorder="little")
    broken = packed.copy()
    carried = np.zeros_like(packed)
    carried[1:] = packed[:-1]
    for d in range(1, h + 1):
        broken |= packed << np.uint64(d)
        broken |= carried >> np.uint64(64 - d)
    ends = np.cumsum(lengths)
    counts = _ones_before(broken, np.stack([ends - lengths + h, ends]))
    return lengths - h - (counts[1] - counts[0])


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 word (int64)."""
    if _BITWISE_COUNT is not None:
        return _BITWISE_COUNT(words).astype(np.int64)
    x = words - ((words >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return ((x * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)


_BITWISE_COUNT = getattr(np, "bitwise_count", None)  # numpy >= 2.0


def _ones_before(words: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Number of set bits before each bit position of ``words`` (bit j % 64 of word j // 64)."""
    before = np.zeros(words.size + 1, dtype=np.int64)
    np.cumsum(_popcount(words), out=before[1:])
    q = positions >> 6
    low = (np.uint64(1) << (positions & 63).astype(np.uint64)) - np.uint64(1)
    return before[q] + _popcount(words[q] & low)


def _intact_runs(
    where: np.ndarray, doc: np.ndarray, fresh: np.ndarray, lengths: np.ndarray, h: int
) -> np.ndarray:
    """:func:`_intact_windows` for the span chain's runs (:func:`_span_refreshes`): a maximal run
    of ℓ kept tokens inside a document holds max(0, ℓ − h) intact scored positions (its first h
    follow an edit or are the document's context)."""
    starts = np.cumsum(lengths) - lengths
    held = np.diff(where, append=int(lengths.sum()))  # tokens each fresh state holds for
    kept = ~fresh
    first = where == starts[doc]
    run_start = kept & (first | np.concatenate(([True], fresh[:-1])))
    heads = np.flatnonzero(run_start)
    if heads.size == 0:
        return np.zeros(lengths.size, dtype=np.int64)
    kept_tokens = np.where(kept, held, 0)
    before = np.cumsum(kept_tokens) - kept_tokens  # kept tokens before each refresh
    run_len = np.diff(before[heads], append=before[-1] + kept_tokens[-1])
    intact = np.maximum(run_len - h, 0)
    return np.bincount(doc[heads], weights=intact, minlength=lengths.size).astype(np.int64)


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
