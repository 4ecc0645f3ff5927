"""Green-list watermark (Kirchenbauer et al., ICML 2023): green counts, z-test, paraphrase erosion.

Green counts are *drawn* per document from the binomials the scheme implies, so a detector's
precision and recall come out of the same statistics a real detector faces instead of an assumed
true-positive rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WatermarkScheme:
    """Scheme parameters.

    gamma: share of the vocabulary on the green list.
    delta: logit bias added to green tokens by a watermarking generator.
    entropy_a, entropy_b: Beta(a, b) law of a document's *spike entropy factor* η ∈ (0, 1): the
        watermark raises the green probability by η·(γ' − γ), since low-entropy text (code, lists,
        boilerplate) leaves the generator little freedom. Calibrated against the released detection
        rates of Kirchenbauer et al. (see ``habsburg validate``, check V4).
    """

    gamma: float = 0.25
    delta: float = 2.0
    entropy_a: float = 3.3
    entropy_b: float = 1.7

    def __post_init__(self) -> None:
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
        entropy: np.ndarray | None = None,
    ) -> np.ndarray:
        """Green counts for documents of ``tokens`` tokens, ``watermarked_tokens`` of them generated
        with the watermark (hybrids carry evidence only on their synthetic part).

        A paraphrase of a fraction ε of tokens re-randomises about 2ε of the scored watermarked
        tokens (each edit changes its own token and the next token's green list).
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        wm = np.minimum(np.asarray(watermarked_tokens, dtype=np.int64), tokens)
        n = tokens.size
        if entropy is None:
            entropy = rng.beta(self.entropy_a, self.entropy_b, size=n)
        p_wm = self.gamma + (self.green_probability - self.gamma) * entropy
        eps = np.broadcast_to(np.asarray(paraphrase, dtype=np.float64), tokens.shape)
        rerandomised = np.minimum(wm, np.rint(2.0 * eps * wm).astype(np.int64))
        kept = wm - rerandomised
        plain = tokens - kept
        return rng.binomial(kept, p_wm) + rng.binomial(plain, self.gamma)

    def z_scores(self, green: np.ndarray, tokens: np.ndarray) -> np.ndarray:
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
    ) -> np.ndarray:
        """Erode existing green counts by a paraphrase of ``fraction`` of the tokens (spinning).

        About 2ε of the tokens are re-randomised: their green indicator is redrawn at rate γ.
        """
        green = np.asarray(green, dtype=np.int64)
        tokens = np.asarray(tokens, dtype=np.int64)
        eps = np.broadcast_to(np.asarray(fraction, dtype=np.float64), tokens.shape)
        redrawn = np.minimum(tokens, np.rint(2.0 * eps * tokens).astype(np.int64))
        # Which of the redrawn tokens were green is hypergeometric in the document's green count.
        had_green = (
            rng.hypergeometric(np.maximum(green, 0), np.maximum(tokens - green, 0), redrawn)
            if redrawn.size
            else redrawn
        )
        return green - had_green + rng.binomial(redrawn, self.gamma)

    def detect(self, green: np.ndarray, tokens: np.ndarray, threshold: float) -> np.ndarray:
        """Flag documents whose z-score exceeds ``threshold``."""
        return self.z_scores(green, tokens) > threshold
