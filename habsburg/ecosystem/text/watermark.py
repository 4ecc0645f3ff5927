"""Kirchenbauer et al. (2023) green-list watermark on real token ids, and paraphrase attacks.

For each preceding token ``prev`` and a lab key, a keyed hash picks an affine permutation
``w -> (a·w + b) mod V`` of the vocabulary (``a`` a unit mod V, so it is a bijection); the
green list is the ``floor(γV)`` tokens that land below ``γV``: exactly γ|V| green tokens per
context, a different list for every context and key, without storing V×V tables. Generation adds
δ to the green tokens' logits (:meth:`TokenWatermark.green_rows` is used by the sampler);
detection is the one-sided z-test ``z = (g − γT)/sqrt(Tγ(1−γ))`` over the document's scored
tokens. Repeated (prev, token) pairs are scored once (Fernandez et al. 2023, "Three bricks"), which
keeps the null exactly binomial on text with repeated phrases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from habsburg.ecosystem.text.corpus import BOS, EOS

if TYPE_CHECKING:
    from habsburg.ecosystem.text.ngram import NgramLearner

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (a fast keyed hash with good avalanche)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def previous_tokens(tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The token before each position, ``<s>`` at the start of each document."""
    prev = np.empty_like(tokens)
    prev[1:] = tokens[:-1]
    prev[offsets[:-1][offsets[:-1] < tokens.size]] = BOS
    return prev


@dataclass
class TokenWatermark:
    """A lab's green-list watermark: ``gamma`` green share, ``delta`` logit bias, secret ``key``."""

    vocab_size: int
    key: int
    gamma: float = 0.25
    delta: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 < self.gamma < 1.0:
            raise ValueError(f"watermark gamma must be in (0, 1), got {self.gamma}")
        if self.delta < 0:
            raise ValueError(f"watermark delta must be >= 0, got {self.delta}")
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {self.vocab_size}")
        cand = np.arange(1, self.vocab_size, dtype=np.int64)
        self._units = cand[np.gcd(cand, self.vocab_size) == 1]
        self.n_green = int(np.floor(self.gamma * self.vocab_size))

    def _affine(
        self, prev: np.ndarray, key: np.ndarray | int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        k = np.asarray(self.key if key is None else key, dtype=np.uint64)
        with np.errstate(over="ignore"):
            h = splitmix64(splitmix64(k) ^ (np.asarray(prev, dtype=np.uint64) * np.uint64(0x9E37)))
        a = self._units[(h % np.uint64(self._units.size)).astype(np.int64)]
        b = (splitmix64(h) % np.uint64(self.vocab_size)).astype(np.int64)
        return a, b

    def green(
        self, prev: np.ndarray, tokens: np.ndarray, key: np.ndarray | int | None = None
    ) -> np.ndarray:
        """Whether each token is green given its preceding token (elementwise; ``key`` may be an
        array broadcast against the tokens, e.g. one key per document)."""
        a, b = self._affine(prev, key)
        return (a * np.asarray(tokens, dtype=np.int64) + b) % self.vocab_size < self.n_green

    def green_rows(self, prev: np.ndarray) -> np.ndarray:
        """The green list of each context in ``prev`` as a (len(prev), V) boolean matrix."""
        a, b = self._affine(prev)
        ids = np.arange(self.vocab_size, dtype=np.int64)
        return (a[:, None] * ids[None, :] + b[:, None]) % self.vocab_size < self.n_green

    def detect(
        self,
        tokens: np.ndarray,
        offsets: np.ndarray,
        *,
        key: np.ndarray | int | None = None,
        ignore_repeated: bool = True,
    ) -> dict[str, np.ndarray]:
        """z-score, green count and scored-token count per document (flat tokens + offsets).

        ``key`` overrides the lab key (a scalar, or one key per document)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        n_docs = offsets.size - 1
        doc = np.repeat(np.arange(n_docs), np.diff(offsets))
        prev = previous_tokens(tokens, offsets)
        scored = np.ones(tokens.size, dtype=bool)
        if ignore_repeated and tokens.size:
            v = np.int64(self.vocab_size)
            pair = (doc * v + prev) * v + tokens
            _, first = np.unique(pair, return_index=True)
            scored[:] = False
            scored[first] = True
        k = None if key is None else np.broadcast_to(np.asarray(key), (n_docs,))[doc]
        g = self.green(prev, tokens, k) & scored
        T = np.bincount(doc, weights=scored, minlength=n_docs)
        G = np.bincount(doc, weights=g, minlength=n_docs)
        gam = self.n_green / self.vocab_size  # the exact green share, floor(γV)/V
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (G - gam * T) / np.sqrt(T * gam * (1 - gam))
        return {"z": np.where(T > 0, z, 0.0), "green": G, "scored": T}


def paraphrase(
    tokens: np.ndarray,
    fraction: float,
    rng: np.random.Generator,
    *,
    replacement_probs: np.ndarray | None = None,
    paraphraser: NgramLearner | None = None,
    offsets: np.ndarray | None = None,
    mode: str = "random",
    span_length: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Real substitution edits of about ``fraction`` of the tokens: returns (edited tokens, mask).

    ``mode="random"`` edits positions independently (each edit also breaks the green-list seed
    of the next token); ``mode="span"`` edits contiguous spans of ``span_length`` tokens, so
    interior context survives and the watermark evidence of untouched text is kept.

    Substitutes come from a paraphrasing model: with ``paraphraser`` (anything with ``order``
    and ``next_token_probs(contexts)``, e.g. an :class:`NgramLearner` of human text) each edited
    token is redrawn from the model's distribution given the original preceding words (documents
    delimited by ``offsets``), never the same token again; otherwise from the word distribution
    ``replacement_probs`` (length V).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"paraphrase fraction must be in [0, 1], got {fraction}")
    if mode not in ("random", "span"):
        raise ValueError(f"paraphrase mode must be 'random' or 'span', got {mode!r}")
    if paraphraser is None and replacement_probs is None:
        raise ValueError("paraphrase needs a paraphraser model or replacement_probs")
    n = tokens.size
    if mode == "random":
        edited = rng.random(n) < fraction
    else:
        if span_length < 1:
            raise ValueError(f"span_length must be >= 1, got {span_length}")
        # start rate chosen so the expected covered share is `fraction` despite overlaps
        rate = 1.0 - (1.0 - fraction) ** (1.0 / span_length) if fraction < 1 else 1.0
        starts = np.flatnonzero(rng.random(n) < rate)
        edited = np.zeros(n, dtype=bool)
        for o in range(span_length):
            edited[np.minimum(starts + o, n - 1)] = True
    out = np.array(tokens, copy=True)
    where = np.flatnonzero(edited)
    if paraphraser is None:
        p = np.asarray(replacement_probs, dtype=np.float64)
        out[where] = rng.choice(p.size, size=where.size, p=p / p.sum())
        return out, edited
    offsets = np.array([0, n]) if offsets is None else np.asarray(offsets)
    doc_start = np.repeat(offsets[:-1], np.diff(offsets))
    # a span is rewritten left to right, each word given the words already rewritten before it
    waves = (
        [where]
        if mode == "random"
        else [np.unique(np.minimum(starts + o, n - 1)) for o in range(span_length)]
    )
    for wave in waves:
        for chunk in np.array_split(wave, max(1, wave.size // 2048)):
            out[chunk] = _redraw(paraphraser, out, tokens, chunk, doc_start, rng)
    return out, edited


def _redraw(
    paraphraser: NgramLearner,
    current: np.ndarray,
    original: np.ndarray,
    positions: np.ndarray,
    doc_start: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """New words at ``positions`` from the paraphraser given the current preceding words."""
    h = paraphraser.order - 1
    ctx = np.full((positions.size, max(h, 0)), BOS, dtype=np.int64)
    for j in range(h):  # column j holds the word h − j places back
        src = positions - (h - j)
        ctx[:, j] = np.where(src >= doc_start[positions], current[np.maximum(src, 0)], BOS)
    p = paraphraser.next_token_probs(ctx)
    p[np.arange(positions.size), original[positions]] = 0.0  # a real edit: never the same word
    p[:, BOS] = 0.0
    p[:, EOS] = 0.0
    empty = p.sum(axis=1) <= 0  # the model knew only the original word here: any other word
    if empty.any():
        p[empty] = 1.0
        p[empty, original[positions[empty]]] = 0.0
        p[empty, BOS] = p[empty, EOS] = 0.0
    cum = np.cumsum(p, axis=1)
    u = rng.random(positions.size) * cum[:, -1]
    return np.minimum((cum < u[:, None]).argmin(axis=1), p.shape[1] - 1)
