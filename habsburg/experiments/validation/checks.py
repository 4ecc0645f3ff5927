"""The checks V1–V6 (README, "Validation") as data: which experiment's estimate each reads, the value it
expects (from a closed form or a published measurement), its tolerance, and whether it is
evidence or a calibration target (V4's detection rates, V5's web shares).
"""

from __future__ import annotations

import functools

from scipy import stats

from habsburg.experiments.validation.closedforms import (
    accumulate_mu2,
    baseline_scheme,
    binomial_tail,
    c4,
    expected_w2,
    mean_watermarked_z,
)
from habsburg.experiments.validation.dilution import v6_checks
from habsburg.experiments.validation.experiments import V2_GENERATIONS, V3_RARE, prediction_key
from habsburg.experiments.validation.framework import CALIBRATION, PREDICTION, Check, Tolerance
from habsburg.scenarios.measurements import out_of_sample
from habsburg.scenarios.targets import (
    WATERMARK_REFERENCE_TPR,
    WATERMARK_TPR_SOURCE,
    WEB_STUDY,
    WEB_STUDY_SOURCE,
)

SHUMAILOV = "Shumailov et al. 2024, Thm 3.1"
GERSTGRASSER = "Gerstgrasser et al. 2024"
KIRCHENBAUER = "Kirchenbauer et al. 2023"
SE3 = Tolerance("se", 3.0)
ABS002 = Tolerance(
    "absolute", 0.02, "V4: the null z's mean and spread within ±0.02 over 10⁵ documents"
)
#: the level of a 3-SE rule, 2(1 − Φ(3)), for a check judged by its own test
SE3_LEVEL = float(2 * stats.norm.sf(3.0))
W2_TEST = Tolerance(
    "test",
    SE3_LEVEL,
    "V1: a permutation test of the mean against the exact loop's chains, at the level of 3 SE",
)
W2_LAW_TEST = Tolerance(
    "test",
    SE3_LEVEL,
    "V1: a two-sample Kolmogorov–Smirnov test of the chains' W2² against the exact loop's, at "
    "the level of 3 SE",
)
REL5 = Tolerance("relative", 0.05, "V2: 5% (the accumulate sum (1/M)Σ1/i² is itself approximate)")


@functools.cache
def default_checks() -> tuple[Check, ...]:
    """The checks V1–V6 (README, "Validation"), expected values from their closed forms."""
    scheme = baseline_scheme()
    checks = [
        Check("V1 E[W2²]", "V1", "w2_100_10", SHUMAILOV, "M=100, n=10", expected_w2(100, 10), SE3),
        Check("V1 E[σ²] martingale", "V1", "sigma2_100_10", SHUMAILOV, "M=100, n=10", 1.0, SE3),
        Check(
            "V1 Var(μ)+E[σ²]",
            "V1",
            "var_mu_sigma2_100_10",
            SHUMAILOV,
            "M=100, n=10",
            1 + 10 / 100,
            SE3,
        ),
        Check("V1 E[σ_n]", "V1", "sigma_20_50", SHUMAILOV, "M=20, n=50", c4(20) ** 50, SE3),
        Check("V1 E[W2²]", "V1", "w2_20_50", SHUMAILOV, "M=20, n=50", expected_w2(20, 50), W2_TEST),
        # the law of W2² at that setting, not only its mean: the exact loop's, so the distance
        # between the two laws is 0
        Check("V1 W2² law", "V1", "w2_law_20_50", SHUMAILOV, "M=20, n=50", 0.0, W2_LAW_TEST),
        Check(
            "V1 E[σ²] MLE",
            "V1",
            "mle_sigma2_100_10",
            SHUMAILOV,
            "M=100, n=10, estimator=mle",
            (99 / 100) ** 10,
            SE3,
        ),
        Check(
            "V1 share σ<0.01",
            "V1",
            "collapsed_10_500",
            SHUMAILOV,
            "M=10, n=500",
            0.99,
            Tolerance("at_least"),
        ),
    ]
    for mode in ("replace", "accumulate"):
        for g in V2_GENERATIONS:
            expected = g / 50 if mode == "replace" else accumulate_mu2(50, g)
            checks.append(
                Check(
                    f"V2 E[μ²] {mode}",
                    "V2",
                    f"{mode}_mu2_{g}",
                    GERSTGRASSER if mode == "replace" else "Kazdan et al. 2024",
                    f"M=50, n={g}",
                    expected,
                    REL5,
                )
            )
    checks.append(
        Check(
            "V2 E[σ] accumulate",
            "V2",
            "accumulate_sigma_20",
            GERSTGRASSER,
            "M=50, n=20",
            1.0,
            Tolerance("relative", 0.05, "V2: 'σ_n stays near 1', at the V2 tolerance"),
        )
    )
    M = 100
    for q in V3_RARE:
        checks.append(
            Check(
                f"V3 miss q={q}",
                "V3",
                f"miss_{q}",
                "Shumailov et al. 2024 (discrete)",
                f"M={M}, one generation",
                (1 - q) ** M,
                Tolerance("binomial_ci", 0.99),
            )
        )
    checks.append(
        Check(
            "V3 absorbing zeros",
            "V3",
            "comebacks",
            "Shumailov et al. 2024 (discrete)",
            "Zipf(1.1) K=100, M=100, 20 generations",
            0.0,
            Tolerance("never"),
        )
    )
    checks += [
        Check("V4 human z mean", "V4", "human_z_mean", KIRCHENBAUER, "T=200", 0.0, ABS002),
        Check("V4 human z sd", "V4", "human_z_sd", KIRCHENBAUER, "T=200", 1.0, ABS002),
        Check(
            "V4 FPR z>4",
            "V4",
            "fpr_z4",
            KIRCHENBAUER,
            "γ=0.25, T=200, exact binomial tail",
            binomial_tail(200, scheme.gamma, 4.0),
            Tolerance("binomial_ci", 0.99),
        ),
    ]
    for t in (50, 200):
        checks.append(
            Check(
                "V4 watermarked mean z",
                "V4",
                f"wm_z_{t}",
                KIRCHENBAUER,
                f"T={t}, δ=2, η~Beta(3.3,1.7)",
                mean_watermarked_z(scheme, t),
                Tolerance("absolute", 0.05, "V4: the closed-form mean z within ±0.05"),
            )
        )
    checks.append(
        Check(
            "V4 z ∝ sqrt(T)",
            "V4",
            "z_slope",
            KIRCHENBAUER,
            "log-log slope, T=25..800",
            0.5,
            Tolerance("absolute", 0.02, "V4: z grows as sqrt(T), log-log slope 0.5 ± 0.02"),
        )
    )
    for t, tpr in WATERMARK_REFERENCE_TPR.items():
        checks.append(
            Check(
                "V4 TPR at 0.1% FPR",
                "V4",
                f"tpr_{t}",
                WATERMARK_TPR_SOURCE,
                f"T={t}",
                tpr,
                Tolerance(
                    "absolute",
                    0.02,
                    "the reference rates are given to two decimals and are themselves estimates "
                    "from a finite set of texts",
                ),
                CALIBRATION,
            )
        )
    for months, share in WEB_STUDY.items():
        checks.append(
            Check(
                "V5 measured synthetic share",
                "V5",
                f"share_{months}",
                WEB_STUDY_SOURCE,
                f"baseline, launch+{months} months",
                share,
                Tolerance("absolute", 0.05, "V5: the Graphite shares within ±5 percentage points"),
                CALIBRATION,
            )
        )
    checks += prediction_checks()
    checks += v6_checks()
    return tuple(checks)


def prediction_checks() -> list[Check]:
    """The out-of-sample published points (after 2024-12, never fitted) as V5 prediction rows:
    the baseline's instruments in the point's month against the published value and interval
    (inside or outside it, never a failure)."""
    rows = []
    for m in out_of_sample():
        low, high = m.interval
        why = (
            "the published uncertainty interval"
            if m.low is not None
            else "±5 points (published without uncertainty)"
        )
        rows.append(
            Check(
                f"V5 prediction: {m.study}",
                "V5",
                prediction_key(m),
                m.citation.split(";")[0].split(",")[0],
                f"baseline, {m.series}, {m.month}",
                m.value,
                Tolerance("interval", why=f"out-of-sample predictions: {why}", low=low, high=high),
                PREDICTION,
            )
        )
    return rows
