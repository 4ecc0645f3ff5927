"""An n-gram language model with interpolated Kneser-Ney smoothing (Chen & Goodman 1999).

``NgramLearner`` has the learners' contract: ``fit(sequences) -> self`` from token-id sequences
(counts as sorted int64 n-gram keys + scipy.sparse rows), ``sample(n, length, rng)`` draws a batch
of documents position by position for the whole batch at once (decoding with temperature as
``p^(1/τ)`` and top-p, the project's one convention; optionally a green-list watermark adds δ to
green logits), and ``logprob``/``perplexity`` score sequences with one vectorised lookup per order.

    P_n(w|h) = max(c(hw) − D_n, 0)/c(h·) + D_n·N1+(h·)/c(h·) · P_{n−1}(w|h')
    P_k uses continuation counts N1+(·h'w) in place of c, down to
    P_1(w) = max(N1+(·w) − D_1, 0)/N1+(··) + D_1·|{w: N1+(·w)>0}|/N1+(··) · 1/V

(an unseen context backs off with weight 1). Discounts default to Ney's D = n1/(n1 + 2·n2) per
order. ``<s>`` pads each document's start; ``<s>`` and ``</s>`` are never generated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from habsburg.ecosystem.text.corpus import BOS, EOS
from habsburg.ecosystem.text.watermark import TokenWatermark


def flatten(sequences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A list of token arrays as (flat tokens, offsets)."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = (
        np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        if len(sequences)
        else np.zeros(0, np.int64)
    )
    return flat.astype(np.int64), offsets


def windows(tokens: np.ndarray, offsets: np.ndarray, order: int) -> np.ndarray:
    """(N, order) matrix: each token with its ``order − 1`` predecessors, ``<s>`` before a
    document's start."""
    tokens = np.asarray(tokens, dtype=np.int64)
    n = tokens.size
    doc_start = np.repeat(offsets[:-1], np.diff(offsets))
    pos = np.arange(n)
    out = np.empty((n, order), dtype=np.int64)
    for j in range(order):  # column j holds the token order-1-j places back
        back = order - 1 - j
        src = pos - back
        out[:, j] = np.where(src >= doc_start, tokens[np.maximum(src, 0)], BOS)
    return out


def _ney_discount(counts: np.ndarray) -> float:
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    if n1 == 0:
        return 0.5
    return float(np.clip(n1 / (n1 + 2.0 * n2), 0.05, 0.95))


class _OrderTable:
    """Counts of one order: sorted n-gram keys with values, grouped into context rows."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, vocab_size: int, discount: float):
        self.keys, self.values = keys, values.astype(np.float64)
        ctx = keys // vocab_size
        self.ctx_keys, first, ntypes = np.unique(ctx, return_index=True, return_counts=True)
        self.ctx_total = np.add.reduceat(self.values, first) if first.size else np.zeros(0)
        self.ctx_types = ntypes.astype(np.float64)
        indptr = np.concatenate([[0], np.cumsum(ntypes), [keys.size]])  # last row: unseen context
        self.rows = sp.csr_matrix(
            (self.values, (keys % vocab_size).astype(np.int64), indptr),
            shape=(self.ctx_keys.size + 1, vocab_size),
        )
        self.discount = discount

    def find_context(self, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i = np.searchsorted(self.ctx_keys, ctx)
        i = np.minimum(i, max(self.ctx_keys.size - 1, 0))
        found = self.ctx_keys.size > 0
        hit = (self.ctx_keys[i] == ctx) if found else np.zeros(ctx.shape, bool)
        return np.where(hit, i, self.ctx_keys.size), hit

    def context_stats(
        self, ctx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(row, found, c(h·), N1+(h·)) per context key; unseen contexts get (empty row, False,
        1, 0), which makes the interpolation formula return the lower order unchanged."""
        row, hit = self.find_context(ctx)
        if not self.ctx_total.size:
            return row, hit, np.ones(ctx.shape), np.zeros(ctx.shape)
        r = np.minimum(row, self.ctx_total.size - 1)
        return (
            row,
            hit,
            np.where(hit, self.ctx_total[r], 1.0),
            np.where(hit, self.ctx_types[r], 0.0),
        )

    def value(self, keys: np.ndarray) -> np.ndarray:
        if self.keys.size == 0:
            return np.zeros(keys.shape)
        i = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return np.where(self.keys[i] == keys, self.values[i], 0.0)


class NgramLearner:
    """Interpolated Kneser-Ney n-gram model over a vocabulary of ``vocab_size`` token ids."""

    def __init__(
        self,
        vocab_size: int,
        *,
        order: int = 3,
        temperature: float = 1.0,
        top_p: float = 1.0,
        discount: float | None = None,
    ) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if vocab_size < 4:
            raise ValueError(f"vocab_size must be >= 4, got {vocab_size}")
        if float(vocab_size) ** order >= 2.0**62:
            raise ValueError(
                f"vocab_size**order must stay below 2**62 (vocab {vocab_size}, order {order})"
            )
        if not 0.0 < temperature <= 100.0:
            raise ValueError(f"temperature must be in (0, 100], got {temperature}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if discount is not None and not 0.0 <= discount < 1.0:
            raise ValueError(f"discount must be in [0, 1), got {discount}")
        self.vocab_size, self.order = int(vocab_size), int(order)
        self.temperature, self.top_p, self.discount = float(temperature), float(top_p), discount
        self.tables_: list[_OrderTable] = []
        self.unigram_: np.ndarray = np.full(vocab_size, 1.0 / vocab_size)
        #: lowest-order counts before smoothing (continuation counts N1+(·w); raw counts for
        #: order 1): non-zero exactly for the words of the training text
        self.word_counts_: np.ndarray = np.zeros(vocab_size)
        self.n_tokens_ = 0

    # ------------------------------------------------------------------ fitting
    def fit(self, sequences: Sequence[np.ndarray]) -> NgramLearner:
        """Fit from token-id sequences (one per document)."""
        return self.fit_flat(*flatten(sequences))

    def fit_flat(self, tokens: np.ndarray, offsets: np.ndarray) -> NgramLearner:
        """Fit from a flat token array with document offsets."""
        V, n = self.vocab_size, self.order
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= V):
            raise ValueError(f"token ids must be in [0, {V}), got [{tokens.min()}, {tokens.max()}]")
        win = windows(tokens, offsets, n)
        powers = V ** np.arange(n - 1, -1, -1, dtype=np.int64)
        full_keys, counts = np.unique(win @ powers, return_counts=True)
        values = counts.astype(np.float64)
        tables: list[_OrderTable] = []
        keys_k = full_keys
        # from order n down to 2; the continuation counts of order k come from order k+1's types
        for k in range(n, 1, -1):
            D = self.discount if self.discount is not None else _ney_discount(values)
            tables.append(_OrderTable(keys_k, values, V, D))
            suffix = keys_k % (V ** (k - 1))
            keys_k, cont = np.unique(suffix, return_counts=True)
            values = cont.astype(np.float64)
        uni = np.zeros(V)
        uni[keys_k] = values
        if n == 1:
            uni = np.bincount(tokens, minlength=V).astype(np.float64)
        D1 = self.discount if self.discount is not None else _ney_discount(uni[uni > 0])
        total = uni.sum()
        if total > 0:
            p1 = np.maximum(uni - D1, 0.0) / total + D1 * np.count_nonzero(uni) / total / V
        else:
            p1 = np.full(V, 1.0 / V)
        self.unigram_ = p1 / p1.sum()
        self.word_counts_ = uni
        self.tables_ = tables[::-1]  # index 0 = order 2
        self.n_tokens_ = int(tokens.size)
        return self

    # ------------------------------------------------------------------ probabilities
    def _context_keys(self, contexts: np.ndarray, k: int) -> np.ndarray:
        """Keys of the last ``k − 1`` context tokens (the context of an order-k n-gram)."""
        ctx = np.zeros(contexts.shape[0], dtype=np.int64)
        for j in range(k - 1):
            ctx = ctx * self.vocab_size + contexts[:, self.order - k + j]
        return ctx

    def prob(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """P(target | context) elementwise; ``contexts`` is (N, order − 1), oldest token first."""
        targets = np.asarray(targets, dtype=np.int64)
        contexts = np.asarray(contexts, dtype=np.int64).reshape(targets.size, -1)
        p = self.unigram_[targets]
        for k, table in enumerate(self.tables_, start=2):
            ctx = self._context_keys(contexts, k)
            _, hit, tot, typ = table.context_stats(ctx)
            a = table.value(ctx * self.vocab_size + targets)
            D = table.discount
            p = np.where(hit, np.maximum(a - D, 0.0) / tot + D * typ / tot * p, p)
        return p

    def next_token_probs(self, contexts: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        """The model's (undecoded) next-token distribution for each context row: (B, V).

        Kneser-Ney is a sparse part plus a rank-one backoff part, ``S + w ⊗ P_1``: the sparse
        part is built with scipy.sparse row operations, so each call makes one dense pass.
        Sampling asks for float32 (half the memory traffic; ample for drawing a token)."""
        V = self.vocab_size
        contexts = np.atleast_2d(np.asarray(contexts, dtype=np.int64))
        B = contexts.shape[0]
        weight = np.ones(B)
        S = sp.csr_matrix((B, V))
        for k, table in enumerate(self.tables_, start=2):
            row, hit, tot, typ = table.context_stats(self._context_keys(contexts, k))
            A = table.rows[row]
            D = table.discount
            A.data = np.maximum(A.data - D, 0.0)
            backoff = np.where(hit, D * typ / tot, 1.0)
            S = sp.diags(1.0 / tot) @ A + sp.diags(backoff) @ S
            weight = weight * backoff
        p = np.outer(weight.astype(dtype), self.unigram_.astype(dtype))
        S = S.tocoo()
        p[S.row, S.col] += S.data.astype(dtype)
        return p

    def logprob(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        """Total natural-log probability of each sequence."""
        tokens, offsets = flatten(sequences)
        return self.logprob_flat(tokens, offsets)

    def token_logprobs(self, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        win = windows(tokens, offsets, self.order)
        return np.log(self.prob(win[:, :-1], win[:, -1]))

    def logprob_flat(self, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        lp = self.token_logprobs(tokens, offsets)
        doc = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
        return np.bincount(doc, weights=lp, minlength=offsets.size - 1)

    def perplexity(self, sequences: Sequence[np.ndarray]) -> float:
        """Corpus perplexity exp(−Σ log p / Σ T) of the sequences."""
        tokens, offsets = flatten(sequences)
        return float(np.exp(-self.token_logprobs(tokens, offsets).mean()))

    def doc_perplexities(self, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Per-document perplexity (the distributions of Shumailov et al. 2024, Fig. 1)."""
        return np.exp(-self.logprob_flat(tokens, offsets) / np.maximum(np.diff(offsets), 1))

    def known_ngrams(self) -> np.ndarray:
        """Sorted keys of the highest-order n-grams the model holds explicit counts for (for
        order 1 the words it was trained on: its smoothed ``unigram_`` is positive everywhere)."""
        return self.tables_[-1].keys if self.tables_ else np.flatnonzero(self.word_counts_)

    # ------------------------------------------------------------------ decoding
    def decode_probs(
        self, probs: np.ndarray, green: np.ndarray | None = None, delta: float = 0.0
    ) -> np.ndarray:
        """Decoding distribution per row, in place: ``p^(1/τ)``, green logits +δ (i.e. green
        probabilities times e^δ), ``<s>``/``</s>`` removed, renormalised, then top-p."""
        p = self._tempered(probs, green, delta)
        if self.top_p < 1.0:
            p[p < self._top_p_threshold(p)[:, None]] = 0.0
            p /= p.sum(axis=1, keepdims=True)
        return p

    def _tempered(self, p: np.ndarray, green: np.ndarray | None, delta: float) -> np.ndarray:
        if self.temperature != 1.0:
            np.power(p, 1.0 / self.temperature, out=p)
        if green is not None and delta:
            p *= np.where(green, np.float32(np.exp(delta)), np.float32(1.0))
        p[:, BOS] = 0.0
        p[:, EOS] = 0.0
        p /= p.sum(axis=1, keepdims=True)
        return p

    def _draw(self, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One token per row of the tempered distribution ``p`` (inverse CDF). With top-p only
        the nucleus entries are gathered and searched (one segmented cumulative sum over them),
        which avoids a cumulative sum over the whole vocabulary."""
        B, V = p.shape
        u = rng.random(B)
        if self.top_p >= 1.0:
            cum = np.cumsum(p, axis=1, out=p)
            return np.minimum((cum < (u * cum[:, -1])[:, None]).argmin(axis=1), V - 1)
        rows, cols = np.nonzero(p >= self._top_p_threshold(p)[:, None])
        cum = np.cumsum(p[rows, cols], dtype=np.float64)
        end = np.searchsorted(rows, np.arange(B), side="right")
        start = np.concatenate([[0], end[:-1]])
        base = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
        target = base + u * (cum[end - 1] - base)
        idx = np.clip(np.searchsorted(cum, target, side="right"), start, end - 1)
        return cols[idx]

    def _top_p_threshold(self, p: np.ndarray) -> np.ndarray:
        """Per row, the smallest probability inside the nucleus (Holtzman et al. 2020). The
        top 256 entries are found by partition (linear time); only rows whose nucleus is wider
        than that fall back to a full sort."""
        B, V = p.shape
        K = min(V, 256)
        top = -np.sort(-np.partition(p, V - K, axis=1)[:, V - K :], axis=1)
        cum = np.cumsum(top, axis=1)
        cut = (cum < self.top_p - 1e-6).sum(axis=1)
        wide = cut >= K
        threshold = top[np.arange(B), np.minimum(cut, K - 1)]
        if wide.any():
            srt = -np.sort(-p[wide], axis=1)
            c = np.minimum((np.cumsum(srt, axis=1) < self.top_p - 1e-6).sum(axis=1), V - 1)
            threshold[wide] = srt[np.arange(srt.shape[0]), c]
        return threshold

    def sample(
        self,
        n_docs: int,
        length: int,
        rng: np.random.Generator,
        *,
        prompt: np.ndarray | None = None,
        watermark: TokenWatermark | None = None,
    ) -> np.ndarray:
        """``n_docs`` documents of ``length`` new tokens, (n_docs, length), all rows at once.

        ``prompt`` (a token array) conditions every document; it is not part of the output."""
        h = self.order - 1
        ctx = np.full((n_docs, max(h, 1)), BOS, dtype=np.int64)
        if prompt is not None and h > 0:
            pr = np.asarray(prompt, dtype=np.int64)[-h:]
            ctx[:, h - pr.size :] = pr
        prev = ctx[:, -1].copy()
        out = np.empty((n_docs, length), dtype=np.int64)
        for t in range(length):
            probs = self.next_token_probs(
                ctx[:, :h] if h else np.zeros((n_docs, 0), np.int64), dtype=np.float32
            )
            green = watermark.green_rows(prev) if watermark is not None else None
            p = self._tempered(probs, green, watermark.delta if watermark is not None else 0.0)
            tok = self._draw(p, rng)
            out[:, t] = tok
            if h:
                ctx = np.concatenate([ctx[:, 1:], tok[:, None]], axis=1)
            prev = tok
        return out
