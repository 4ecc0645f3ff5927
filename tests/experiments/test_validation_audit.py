"""Audit of ``habsburg validate``: every expected value recomputed here from its closed form, and
checks shown to fail when the simulator's own classes are broken on purpose (an evidence row whose
expected value is computed by the code under test cannot fail)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln

from habsburg.ecosystem import edits, watermark
from habsburg.ecosystem.learners import StyleLearner
from habsburg.ecosystem.watermark import WatermarkScheme
from habsburg.experiments.validation import checks, closedforms, dilution, runner


def failed(report) -> set[str]:
    return {r.check.estimate for r in report.results if not r.passed}


@pytest.fixture
def fresh_checks():
    """``default_checks`` is cached; a check list built while a class is patched must not leak."""
    checks.default_checks.cache_clear()
    yield
    checks.default_checks.cache_clear()


def c4(m: int) -> float:
    return math.sqrt(2 / (m - 1)) * math.exp(gammaln(m / 2) - gammaln((m - 1) / 2))


def test_every_expected_value_is_its_closed_form() -> None:
    """SCIENCE.md V1–V4, V6, recomputed with scipy; Kirchenbauer's γ' = γe^δ/(1 + (e^δ − 1)γ)."""
    gamma, delta, a, b = 0.25, 2.0, 3.3, 1.7
    g_prime = gamma * math.e**delta / (1 + (math.e**delta - 1) * gamma)
    g_tilde = gamma + (g_prime - gamma) * a / (a + b)
    sd = math.sqrt(gamma * (1 - gamma))
    k = np.arange(201)
    fpr = stats.binom.pmf(k[(k - 50) / math.sqrt(200) / sd > 4], 200, gamma).sum()
    want = {
        "w2_100_10": 10 / 100 + 2 * (1 - c4(100) ** 10),
        "sigma2_100_10": 1.0,
        "var_mu_sigma2_100_10": 1.1,
        "sigma_20_50": c4(20) ** 50,
        "w2_20_50": 50 / 20 + 2 * (1 - c4(20) ** 50),
        "w2_law_20_50": 0.0,  # the KS distance between the learner's law and the exact loop's
        "mle_sigma2_100_10": 0.99**10,
        "collapsed_10_500": 0.99,
        **{f"replace_mu2_{n}": n / 50 for n in (1, 5, 10, 20)},
        **{
            f"accumulate_mu2_{n}": sum(1 / i**2 for i in range(1, n + 1)) / 50
            for n in (1, 5, 10, 20)
        },
        "accumulate_sigma_20": 1.0,
        **{f"miss_{q}": (1 - q) ** 100 for q in (0.02, 0.01, 0.005)},
        "comebacks": 0.0,
        "human_z_mean": 0.0,
        "human_z_sd": 1.0,
        "fpr_z4": fpr,
        **{f"wm_z_{t}": (g_tilde - gamma) * math.sqrt(t) / sd for t in (50, 200)},
        "z_slope": 0.5,
        "tpr_50": 0.77,
        "tpr_100": 0.93,
        "tpr_200": 0.98,
        "share_12": 0.36,
        "share_24": 0.48,
        **{f"random_h{h}_{e}": (1 - e) ** (h + 1) for h, e in dilution.RANDOM_CASES},
        "spans_h1_0.2": 1 - 0.2 * (1 + 1 / 4),
        "spans_h1_0.5": 1 - 0.5 * (1 + 1 / 4),
        "spans_h2_0.3": 0.7 * (1 - 0.3 / (4 * 0.7)) ** 2,
        "span_linearity": 0.98,
        "compound": (0.8 * 0.75) ** 2,
    }
    got = {c.estimate: c.expected for c in checks.default_checks() if c.kind != "prediction"}
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-10, abs=1e-15), key
    # the published figures (SCIENCE.md) the closed forms give
    assert fpr == pytest.approx(6.2e-5, rel=0.01)
    assert want["w2_20_50"] == pytest.approx(3.464, abs=5e-4)


def wrong_green_probability(self: WatermarkScheme) -> float:
    """γe^δ/(1 + e^δγ): Kirchenbauer's γ' with (e^δ − 1) mistyped as e^δ (0.649, not 0.711)."""
    e = math.exp(self.delta)
    return self.gamma * e / (1.0 + e * self.gamma)


def test_watermarked_mean_z_expects_kirchenbauers_green_probability(monkeypatch) -> None:
    """The expected mean z was computed from ``scheme.green_probability``, the property under
    test: a wrong γ' moved expected and measured together (mean z 9.94 → 8.60 at T = 200)."""
    scheme = closedforms.baseline_scheme()
    right = closedforms.mean_watermarked_z(scheme, 200)
    monkeypatch.setattr(WatermarkScheme, "green_probability", property(wrong_green_probability))
    assert closedforms.mean_watermarked_z(scheme, 200) == pytest.approx(right, rel=1e-12)
    assert right == pytest.approx(9.94215, abs=1e-5)


def test_a_wrong_green_probability_fails_the_v4_evidence_rows(monkeypatch, fresh_checks) -> None:
    monkeypatch.setattr(WatermarkScheme, "green_probability", property(wrong_green_probability))
    broken = failed(runner.run_validation(["V4"], quick=True))
    assert {"wm_z_50", "wm_z_200"} <= broken
    assert not {"human_z_mean", "human_z_sd", "fpr_z4", "z_slope"} & broken  # the null is intact


@pytest.mark.parametrize("shift", [+1, -1])
def test_a_context_width_off_by_one_fails_v6(monkeypatch, shift) -> None:
    """Scoring a token with h ± 1 context tokens: random edits keep (1 − ε)^(h+1±1) instead."""
    original = edits.surviving_pairs

    def off_by_one(scored, eps, rng, *, context_width=1, process=edits.RANDOM):
        return original(scored, eps, rng, context_width=context_width + shift, process=process)

    monkeypatch.setattr(watermark, "surviving_pairs", off_by_one)
    broken = failed(runner.run_validation(["V6"], quick=True))
    assert {f"random_h{h}_{e}" for h, e in dilution.RANDOM_CASES} <= broken
    assert {f"spans_h{h}_{e}" for h, e in dilution.SPAN_CASES} <= broken


def test_spans_that_forget_their_kept_runs_fail_v6(monkeypatch) -> None:
    """A span chain whose switch rate a = ε/L ignores the kept share (should be ε/(L(1 − ε))):
    spans twice too rare at ε = 0.5."""

    def switch(eps_s, span_length):
        keep = np.maximum(1.0 - eps_s, 1e-300)
        return np.where(eps_s >= 1.0, 1.0, eps_s / np.maximum(span_length, 1.0 / keep))

    monkeypatch.setattr(edits, "_span_switch", switch)
    broken = failed(runner.run_validation(["V6"], quick=True))
    assert {"spans_h1_0.5", "spans_h2_0.3"} <= broken
    assert not {f"random_h{h}_{e}" for h, e in dilution.RANDOM_CASES} & broken


def test_the_simulations_style_fit_is_the_one_v1_measures() -> None:
    """V1/V2 run ``fit_batch``; the simulation fits with ``fit(X, overwrite_input=True)``
    (agents/generative.py): both must give the same Gaussian, bit for bit up to rounding."""
    rng = np.random.default_rng(3)
    x = rng.normal(2.0, 3.0, size=(5, 20, 1))
    for estimator in StyleLearner.ESTIMATORS:
        batch = StyleLearner(1, estimator=estimator).fit_batch(x)
        for r in range(5):
            one = StyleLearner(1, estimator=estimator).fit(x[r].copy(), overwrite_input=True)
            np.testing.assert_allclose(one.mean_, batch.mean_[r], rtol=1e-12)
            np.testing.assert_allclose(one.cov_, batch.cov_[r], rtol=1e-12)
            ddof = 1 if estimator == "unbiased" else 0
            assert one.cov_[0, 0] == pytest.approx(np.var(x[r], ddof=ddof), rel=1e-12)


def test_a_published_point_the_baseline_cannot_measure_is_left_out(monkeypatch) -> None:
    """``experiment_v5`` skips a prediction whose month lies past the run (or whose series the
    run has no column for), but the runner looked every prediction row up and crashed with a
    KeyError. Here the baseline's table ends at 2024-11: every 2025 point is out of range."""
    import pandas as pd

    from habsburg.experiments.validation import experiments
    from habsburg.scenarios.library import load_scenario

    steps = load_scenario("baseline").month_to_step("2024-11") + 1
    frame = pd.DataFrame(
        {
            "synthetic_share_new_measured": np.full(steps, 0.4),
            "synthetic_share_new": np.full(steps, 0.38),
            "new_documents": np.full(steps, 1000),
            "graphite_ai_share": np.full(steps, 0.4),
        }
    )
    monkeypatch.setattr(experiments, "simulate", lambda scenario, progress: None)
    monkeypatch.setattr(experiments, "collected_frames", lambda model: {"model_metrics": frame})
    report = runner.run_validation(["V5"], quick=True)
    assert [r.check.estimate for r in report.results] == ["share_12", "share_24"]
    assert [r.estimate.value for r in report.results] == [0.4, 0.4]
    assert [r.passed for r in report.results] == [True, False]  # 0.36 ± 0.05, 0.48 ± 0.05
    assert report.predictions == []
