"""Closed forms the validation checks compare against (V1–V4, README "Validation"): the Gaussian refit
loop's moments (Shumailov et al. 2024), the accumulate bound (Gerstgrasser et al. 2024; Kazdan et
al. 2024) and the watermark z-test's exact tails and mean (Kirchenbauer et al. 2023).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from habsburg.ecosystem.watermark import WatermarkScheme
from habsburg.scenarios.library import load_scenario


def c4(m: int) -> float:
    """E[s]/σ for the unbiased sample standard deviation of m normal draws:
    c4(M) = sqrt(2/(M−1)) Γ(M/2)/Γ((M−1)/2)."""
    return math.sqrt(2.0 / (m - 1)) * math.exp(math.lgamma(m / 2) - math.lgamma((m - 1) / 2))


def expected_w2(m: int, n: int) -> float:
    """E[W2²(N(μ_n, σ_n²), N(0, 1))] = n/M + 2(1 − c4(M)^n) (Shumailov et al. 2024, SI)."""
    return n / m + 2.0 * (1.0 - c4(m) ** n)


def w2_squared(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """W2²(N(μ, σ²), N(0, 1)) = μ² + (σ − 1)², per chain: what :func:`expected_w2` averages."""
    return mu**2 + (sigma - 1) ** 2


def exact_refit_loop(
    m: int, n: int, replicates: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(μ_n, σ_n) of ``replicates`` chains of the refit loop drawn from its law, not by fitting:
    from μ_0 = 0, σ_0 = 1, each generation's sample mean and unbiased variance of M normal draws
    are independent, μ_i = μ_{i−1} + σ_{i−1} Z_i / √M and σ_i² = σ_{i−1}² χ²_{M−1} / (M − 1)
    (Shumailov et al. 2024, Thm 3.1, whose E[W2²] is :func:`expected_w2`)."""
    mu = np.zeros(replicates)
    var = np.ones(replicates)
    for _ in range(n):
        z = rng.standard_normal(replicates)
        chi2 = rng.chisquare(m - 1, replicates)
        mu = mu + np.sqrt(var / m) * z
        var = var * chi2 / (m - 1)
    return mu, np.sqrt(var)


def accumulate_mu2(m: int, n: int) -> float:
    """E[μ_n²] when every generation's samples are pooled: (1/M) Σ_{i≤n} 1/i²
    (Gerstgrasser et al. 2024; Kazdan et al. 2024)."""
    return float(np.sum(1.0 / np.arange(1, n + 1) ** 2) / m)


def binomial_tail(tokens: int, gamma: float, z: float) -> float:
    """Exact P(z > threshold) for unwatermarked text: P(g > γT + z·sqrt(Tγ(1 − γ)))."""
    cut = gamma * tokens + z * math.sqrt(tokens * gamma * (1 - gamma))
    return float(stats.binom.sf(math.floor(cut), tokens, gamma))


def fpr_green_threshold(tokens: int, gamma: float, fpr: float) -> int:
    """Smallest green count whose exact binomial false-positive rate is ≤ ``fpr``."""
    g = int(stats.binom.isf(fpr, tokens, gamma))
    while stats.binom.sf(g - 1, tokens, gamma) > fpr:
        g += 1
    while g > 0 and stats.binom.sf(g - 2, tokens, gamma) <= fpr:
        g -= 1
    return g


def green_probability(gamma: float, delta: float) -> float:
    """γ' = γe^δ / (1 + (e^δ − 1)γ): a watermarked token's green probability at full entropy
    (Kirchenbauer et al. 2023, §4), from γ and δ here, not read from the scheme under test."""
    boost = math.exp(delta)
    return gamma * boost / (1.0 + (boost - 1.0) * gamma)


def mean_watermarked_z(scheme: WatermarkScheme, tokens: float) -> float:
    """Mean z of fully watermarked text: (g̃ − γ)·sqrt(T)/sqrt(γ(1 − γ)) (Kirchenbauer et al.
    2023), with g̃ = γ + (γ' − γ)·E[η] the scheme's mean green probability (η ~ Beta(a, b))."""
    eta = scheme.entropy_a / (scheme.entropy_a + scheme.entropy_b)
    g_prime = green_probability(scheme.gamma, scheme.delta)
    g_tilde = scheme.gamma + (g_prime - scheme.gamma) * eta
    return (
        (g_tilde - scheme.gamma) * math.sqrt(tokens) / math.sqrt(scheme.gamma * (1 - scheme.gamma))
    )


def baseline_scheme() -> WatermarkScheme:
    """The watermark scheme of the calibrated baseline, built as ``EcosystemModel`` builds it."""
    w = load_scenario("baseline").watermark
    return WatermarkScheme(w.gamma, w.delta, w.entropy_a, w.entropy_b, w.context_width)
