"""Green-list watermark (Kirchenbauer et al., ICML 2023): green counts, z-test, paraphrase erosion.

Green counts are *drawn* per document from the binomials the scheme implies, so a detector's
precision and recall come out of the same statistics a real detector faces instead of an assumed
true-positive rate. A token's green list is seeded by its ``context_width`` (h) preceding tokens, so
a watermarked token keeps its evidence only while it and its context survive editing; which scored
pairs survive a paraphrase is drawn from the edit process (:mod:`habsburg.ecosystem.edits`), not
fixed by a rule: random edits of a fraction ε keep about (1 − ε)^(h+1) of the evidence, spans of
mean length L about 1 − ε(1 + 1/L) (h = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from habsburg.ecosystem.edits import (
    RANDOM,
    EditProcess,
    broken_pairs,
    combine_fractions,
    surviving_pairs,
)
from habsburg.ecosystem.edits import retention as edit_retention


def model_written_tokens(
    tokens: np.ndarray, synthetic_fraction: np.ndarray, marked: np.ndarray
) -> np.ndarray:
    """Watermarked tokens of (hybrid) documents: the model-written share ``rint(sf·T)`` of each
    document whose model watermarked its output (``marked``), else 0. Human-written tokens carry no
    evidence; the model-written ones are scored with their own preceding token as context."""
    tokens = np.asarray(tokens, dtype=np.int64)
    written = np.rint(np.asarray(synthetic_fraction, dtype=np.float64) * tokens).astype(np.int64)
    return np.where(np.asarray(marked, dtype=bool), np.minimum(written, tokens), 0)


@dataclass(frozen=True)
class WatermarkScheme:
    """Scheme parameters.

    gamma: share of the vocabulary on the green list.
    delta: logit bias added to green tokens by a watermarking generator.
    context_width: h, the number of preceding tokens that seed a token's green list (1 in
        Kirchenbauer et al.'s default scheme); an edit anywhere in a token's context erases its
        evidence.
    entropy_a, entropy_b: Beta(a, b) law of a document's *spike entropy factor* η ∈ (0, 1): the
        watermark raises the green probability by η·(γ' − γ), since low-entropy text (code, lists,
        boilerplate) leaves the generator little freedom. Calibrated against the released detection
        rates of Kirchenbauer et al. (see ``habsburg validate``, check V4).
    """

    gamma: float = 0.25
    delta: float = 2.0
    entropy_a: float = 3.3
    entropy_b: float = 1.7
    context_width: int = 1

    def __post_init__(self) -> None:
        if not 1 <= int(self.context_width) <= 64:
            raise ValueError(f"context_width must be in [1, 64], got {self.context_width}")
        if not 0.0 < self.gamma < 1.0:
            raise ValueError(f"gamma must be in (0, 1), got {self.gamma}")
        if self.delta < 0:
            raise ValueError(f"delta must be >= 0, got {self.delta}")
        if self.entropy_a <= 0 or self.entropy_b <= 0:
            raise ValueError("entropy_a and entropy_b must be > 0")

    @property
    def green_probability(self) -> float:
        """γ' = γe^δ / (1 + (e^δ − 1)γ): green probability of a watermarked token at full entropy."""
        e = np.exp(self.delta)
        return self.gamma * e / (1.0 + (e - 1.0) * self.gamma)

    def draw_green_counts(
        self,
        tokens: np.ndarray,
        watermarked_tokens: np.ndarray,
        rng: np.random.Generator,
        *,
        paraphrase: np.ndarray | float = 0.0,
        edits: EditProcess = RANDOM,
        entropy: np.ndarray | None = None,
    ) -> np.ndarray:
        """Green counts for documents of ``tokens`` tokens, ``watermarked_tokens`` of them generated
        with the watermark (hybrids carry evidence only on their model-written part).

        A paraphrase of a fraction ε of tokens (``paraphrase``, per document or one value) edits
        positions drawn from ``edits``; a watermarked token stays green with the boosted probability
        only if it and its h context tokens survive, every other scored token is green at rate γ.
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        wm = np.minimum(np.asarray(watermarked_tokens, dtype=np.int64), tokens)
        n = tokens.size
        if entropy is None:
            entropy = rng.beta(self.entropy_a, self.entropy_b, size=n)
        p_wm = self.gamma + (self.green_probability - self.gamma) * entropy
        if np.any(paraphrase):
            kept = surviving_pairs(
                wm, paraphrase, rng, context_width=self.context_width, process=edits
            )
        else:  # unedited output (most of it): every watermarked token keeps its evidence
            kept = wm
        plain = tokens - kept
        return rng.binomial(kept, p_wm) + rng.binomial(plain, self.gamma)

    def retention(self, paraphrase: np.ndarray | float, edits: EditProcess = RANDOM) -> np.ndarray:
        """Expected share of watermark evidence (excess green count, hence mean z) a paraphrase of
        ``paraphrase`` keeps under this scheme's context width (closed form, :mod:`.edits`)."""
        return edit_retention(paraphrase, self.context_width, edits)

    def z_scores(self, green: np.ndarray | float, tokens: np.ndarray | float) -> np.ndarray:
        """One-sided z = (g − γT)/√(Tγ(1 − γ)) (Kirchenbauer et al. 2023, eq. 3)."""
        t = np.maximum(np.asarray(tokens, dtype=np.float64), 1.0)
        g = np.asarray(green, dtype=np.float64)
        return (g - self.gamma * t) / np.sqrt(t * self.gamma * (1.0 - self.gamma))

    def paraphrase(
        self,
        green: np.ndarray,
        tokens: np.ndarray,
        fraction: np.ndarray | float,
        rng: np.random.Generator,
        *,
        edits: EditProcess = RANDOM,
    ) -> np.ndarray:
        """Erode existing green counts by a paraphrase of ``fraction`` of the tokens (spinning).

        The scored pairs the edit breaks are drawn from ``edits``; their green indicators are
        redrawn at rate γ. Which of them were green is hypergeometric in the document's green
        count (edit positions are independent of the text), so the excess green count, and the
        mean z, is multiplied by the edit's retention: two spins compound as independent edits.
        """
        green = np.asarray(green, dtype=np.int64)
        tokens = np.asarray(tokens, dtype=np.int64)
        redrawn = broken_pairs(
            tokens, fraction, rng, context_width=self.context_width, process=edits
        )
        had_green = (
            rng.hypergeometric(np.maximum(green, 0), np.maximum(tokens - green, 0), redrawn)
            if redrawn.size
            else redrawn
        )
        return green - had_green + rng.binomial(redrawn, self.gamma)

    def spin(
        self,
        green: np.ndarray,
        tokens: np.ndarray,
        previous: np.ndarray | float,
        fraction: np.ndarray | float,
        rng: np.random.Generator,
        *,
        edits: EditProcess = RANDOM,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Paraphrase documents already edited by a fraction ``previous``: the new green counts and
        the combined edited fraction 1 − (1 − previous)(1 − fraction) to store with them."""
        new_green = self.paraphrase(green, tokens, fraction, rng, edits=edits)
        return new_green, combine_fractions(previous, fraction)

    def detect(self, green: np.ndarray, tokens: np.ndarray, threshold: float) -> np.ndarray:
        """Flag documents whose z-score exceeds ``threshold``."""
        return self.z_scores(green, tokens) > threshold
