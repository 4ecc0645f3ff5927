"""``habsburg validate``: the checks pass on the project's code, and fail when a learner or the
watermark scheme is broken on purpose."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from scipy import stats

from habsburg.cli import main
from habsburg.ecosystem.learners import ConceptLearner, StyleLearner
from habsburg.ecosystem.watermark import WatermarkScheme
from habsburg.experiments.validation import checks, closedforms, experiments, output, runner
from habsburg.experiments.validation import framework as FW
from habsburg.experiments.versions import MODEL_CODE, model_code


def failed(report: FW.Report) -> set[str]:
    return {r.check.name for r in report.results if not r.passed}


def names(group: str) -> set[str]:
    return {c.name for c in checks.default_checks() if c.experiment == group}


# --- closed forms against the published Monte Carlo figures (README, Validation) -------------------------
def test_closed_forms_match_the_published_figures() -> None:
    assert closedforms.c4(20) ** 50 == pytest.approx(0.518, abs=5e-4)
    assert closedforms.expected_w2(100, 10) == pytest.approx(0.150, abs=5e-4)
    assert closedforms.expected_w2(20, 50) == pytest.approx(3.464, abs=5e-4)
    assert closedforms.accumulate_mu2(50, 10**6) < (math.pi**2 / 6) / 50 <= 0.0329
    assert closedforms.binomial_tail(200, 0.25, 4.0) == pytest.approx(6.2e-5, rel=0.01)
    # V3's expected miss rates, (1 − q)^M with M = 100, are the published figures
    expected = {c.estimate: c.expected for c in checks.default_checks() if c.experiment == "V3"}
    for q, miss in ((0.02, 0.133), (0.01, 0.366), (0.005, 0.606)):
        assert expected[f"miss_{q}"] == pytest.approx(miss, abs=5e-4)


def test_the_exact_loop_draws_the_theorems_law() -> None:
    """The chains V1's E[W2²] at M = 20, n = 50 is tested against, drawn from the law and not by
    fitting: log σ_n² is a sum of n i.i.d. log(χ²_{M−1}/(M−1)), of mean n(ψ(k) − log k) and
    variance n·ψ'(k), k = (M − 1)/2 (light-tailed, so 3 SE from the known variance keep their
    level); at M = 100, n = 10 its E[W2²], E[σ²] and E[μ²] are the closed forms."""
    from scipy import special

    rng = np.random.default_rng(7)
    r = 200_000
    mu, s = closedforms.exact_refit_loop(20, 50, r, rng)
    k = 19 / 2
    log_var = np.log(s**2)
    assert abs(log_var.mean() - 50 * (special.digamma(k) - math.log(k))) < 3 * math.sqrt(
        50 * special.polygamma(1, k) / r
    )
    assert log_var.var() == pytest.approx(50 * special.polygamma(1, k), rel=0.02)
    assert s.mean() == pytest.approx(closedforms.c4(20) ** 50, abs=3 * s.std() / math.sqrt(r))
    mu, s = closedforms.exact_refit_loop(100, 10, r, rng)
    w2 = mu**2 + (s - 1) ** 2
    assert abs(w2.mean() - closedforms.expected_w2(100, 10)) < 3 * w2.std() / math.sqrt(r)
    assert abs((s**2).mean() - 1) < 3 * (s**2).std() / math.sqrt(r)
    assert abs((mu**2).mean() - 10 / 100) < 3 * (mu**2).std() / math.sqrt(r)


def test_the_permutation_test_keeps_its_level_on_a_skewed_law(monkeypatch) -> None:
    """V1's E[W2²] at M = 20, n = 50 is judged by a permutation test of the means
    (``experiments.permutation_p``): on pairs of samples of one lognormal law as skewed as σ_n²
    there (σ = 2.35 on the log scale), a test at 10% rejects about 10% of the pairs (199
    resamples here, for speed: p-values in steps of 0.01)."""
    rng = np.random.default_rng(11)
    with monkeypatch.context() as m:
        m.setattr(experiments, "PERMUTATIONS", 199)
        p = [
            experiments.permutation_p(rng.lognormal(0, 2.35, 200), rng.lognormal(0, 2.35, 200), rng)
            for _ in range(200)
        ]
    rejected = sum(x <= 0.1 for x in p)
    assert 5 <= rejected <= stats.binom.ppf(0.999, 200, 0.1)
    # and a mean shifted by a third (z ≈ 25 here) is found at the smallest p it can give
    shifted = experiments.permutation_p(
        rng.lognormal(0, 1, 20_000) * 1.33, rng.lognormal(0, 1, 20_000), rng
    )
    assert shifted <= 0.001


def test_the_law_test_keeps_its_level_and_finds_a_learner_the_mean_test_passes(
    monkeypatch,
) -> None:
    """V1's W2² law at M = 20, n = 50 (``experiments.same_law``, a two-sample KS test): on pairs
    of chains of the exact law a test at 10% rejects about 10% of the pairs; a learner whose
    fitted mean is 0.2% too large (so μ_n's variance is ~10% larger after 50 generations) fails
    it at the full suite's 20,000 chains, where its chains' mean W2² stays within the
    permutation test of the means (the row the law row stands beside)."""

    def law_p(a: np.ndarray, b: np.ndarray) -> float:
        p = experiments.same_law(a, b).p
        assert p is not None
        return p

    rng = np.random.default_rng(3)
    p = [
        law_p(
            closedforms.w2_squared(*closedforms.exact_refit_loop(20, 50, 500, rng)),
            closedforms.w2_squared(*closedforms.exact_refit_loop(20, 50, 500, rng)),
        )
        for _ in range(200)
    ]
    rejected = sum(x <= 0.1 for x in p)
    assert stats.binom.ppf(0.001, 200, 0.1) <= rejected <= stats.binom.ppf(0.999, 200, 0.1)

    def chains(seed: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
        rng = np.random.default_rng(seed)
        learner = closedforms.w2_squared(*experiments.recursive_refit(20, 50, 20_000, rng))
        return (
            learner,
            closedforms.w2_squared(*closedforms.exact_refit_loop(20, 50, 20_000, rng)),
            rng,
        )

    learner, law, _ = chains(0)
    assert law_p(learner, law) >= checks.SE3_LEVEL  # the learner as it is
    fit_batch = StyleLearner.fit_batch

    def mean_too_large(self, x):
        fitted = fit_batch(self, x)
        self.mean_ = self.mean_ * 1.002
        return fitted

    monkeypatch.setattr(StyleLearner, "fit_batch", mean_too_large)
    learner, law, rng = chains(0)
    assert law_p(learner, law) < checks.SE3_LEVEL
    assert experiments.permutation_p(learner, law, rng) >= checks.SE3_LEVEL


def test_fpr_green_threshold_is_the_smallest_count_at_the_rate() -> None:
    from scipy import stats

    for tokens in (50, 100, 200):
        cut = closedforms.fpr_green_threshold(tokens, 0.25, 1e-3)
        assert stats.binom.sf(cut - 1, tokens, 0.25) <= 1e-3 < stats.binom.sf(cut - 2, tokens, 0.25)


def test_fit_batch_is_fit_per_replicate() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 30, 3))
    for estimator in StyleLearner.ESTIMATORS:
        batch = StyleLearner(3, estimator=estimator).fit_batch(x)
        for r in range(4):
            one = StyleLearner(3, estimator=estimator).fit(x[r])
            np.testing.assert_allclose(batch.mean_[r], one.mean_, rtol=1e-12)
            np.testing.assert_allclose(batch.cov_[r], one.cov_, rtol=1e-12)
    assert batch.sample(7, rng).shape == (4, 7, 3)
    with pytest.raises(ValueError, match=r"\(R, M, 3\)"):
        StyleLearner(3).fit_batch(x[0])


# --- tolerance rules -----------------------------------------------------------------------------
def test_tolerance_rules() -> None:
    est = FW.Estimate(1.04, n=100, se=0.01)
    assert FW.Tolerance("se", 3).judge(1.0, est, quick=False)[0] is False
    assert FW.Tolerance("se", 3).judge(1.02, est, quick=False)[0] is True
    # fixed tolerances widen by 3 SE in quick mode only
    assert FW.Tolerance("absolute", 0.02).judge(1.0, est, quick=False)[0] is False
    assert FW.Tolerance("absolute", 0.02).judge(1.0, est, quick=True)[0] is True
    assert FW.Tolerance("relative", 0.05).judge(1.0, est, quick=False)[0] is True
    share = FW.Estimate.share(37, 100)
    assert FW.Tolerance("binomial_ci", 0.99).judge(0.366, share, quick=False)[0] is True
    assert FW.Tolerance("binomial_ci", 0.99).judge(0.6, share, quick=False)[0] is False
    assert FW.Tolerance("never").judge(0.0, FW.Estimate(0.0, 10, count=0), False)[0] is True
    assert FW.Tolerance("never").judge(0.0, FW.Estimate(0.1, 10, count=1), False)[0] is False
    assert FW.Tolerance("never").judge(0.0, FW.Estimate(0.0, 0, count=0), False)[0] is False
    assert FW.Tolerance("at_least").judge(0.99, FW.Estimate(0.985), False)[0] is False
    with pytest.raises(ValueError, match="rule"):
        FW.Tolerance("roughly")
    # an experiment's own test at a level: passes at p ≥ level; an estimate without p is a bug
    test = FW.Tolerance("test", 0.0027)
    assert test.judge(3.46, FW.Estimate(3.5, 100, 0.4, p=0.0027), False) == (
        True,
        "p = 0.0027 ≥ 0.0027",
    )
    assert test.judge(3.46, FW.Estimate(3.5, 100, 0.4, p=0.002), True)[0] is False
    with pytest.raises(ValueError, match="p-value"):
        test.judge(3.46, FW.Estimate(3.5, 100, 0.4), False)


# --- evidence and calibration ---------------------------------------------------------------------
def test_rows_fitted_to_measurements_are_marked_calibration() -> None:
    """A calibration is not evidence: V4's detection rates and V5's web shares are
    what the simulator was fitted to; every other row is evidence."""
    kinds = {(c.name, c.estimate): c.kind for c in checks.default_checks()}
    calibration = {key for key, kind in kinds.items() if kind == FW.CALIBRATION}
    assert calibration == {
        ("V4 TPR at 0.1% FPR", "tpr_50"),
        ("V4 TPR at 0.1% FPR", "tpr_100"),
        ("V4 TPR at 0.1% FPR", "tpr_200"),
        ("V5 measured synthetic share", "share_12"),
        ("V5 measured synthetic share", "share_24"),
    }
    assert set(kinds.values()) == {FW.EVIDENCE, FW.CALIBRATION, FW.PREDICTION}
    with pytest.raises(ValueError, match="kind"):
        FW.Check("x", "V1", "x", "s", "s", 0.0, FW.Tolerance("se", 3), kind="proof")


def test_tables_show_the_kind_of_every_row(tmp_path) -> None:
    by_name = {c.estimate: c for c in checks.default_checks()}
    report = FW.Report(
        [
            FW.Result(by_name["w2_100_10"], FW.Estimate(0.15, n=10, se=0.01), True, "±3 SE"),
            FW.Result(by_name["tpr_50"], FW.Estimate(0.77, n=10), True, "±0.02"),
        ],
        quick=True,
        seed=1,
    )
    table = output.format_table(report).splitlines()
    assert table[0].split()[:2] == ["check", "kind"]
    assert "  evidence  " in table[2] and "  calibration  " in table[3]
    assert "Rows: 1 evidence, 1 calibration, 0 prediction." in table[-1]
    md_path, csv_path = output.write_outputs(report, tmp_path)
    md = md_path.read_text()
    assert "| check | kind |" in md and "| calibration |" in md
    assert "shows the fit (calibration is not evidence)" in md
    assert csv_path.read_text().splitlines()[0].startswith("check,kind,")
    # what wrote them (the manifest named only the files)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["versions"][MODEL_CODE] == model_code()
    assert manifest["command"] == " ".join(sys.argv)


# --- the suite on the real code ------------------------------------------------------------------
def test_groups_draw_from_their_own_streams() -> None:
    alone = runner.run_validation(["V3"], quick=True)
    together = runner.run_validation(["V2", "V3"], quick=True)
    v3 = [r.estimate for r in together.results if r.check.experiment == "V3"]
    assert [r.estimate for r in alone.results] == v3


@pytest.mark.slow
def test_quick_validation_passes_and_writes_its_files(tmp_path, capsys) -> None:
    code = main(["validate", "--quick", "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    n = sum(c.kind != FW.PREDICTION for c in checks.default_checks())  # predictions never fail
    assert f"{n}/{n} checks passed" in out
    md = (tmp_path / "validation.md").read_text()
    for check in checks.default_checks():
        assert check.name in md
    assert "FAIL" not in md
    assert (tmp_path / "validation.csv").read_text().count("PASS") == n


# --- broken on purpose ---------------------------------------------------------------------------
def test_mle_variance_where_unbiased_is_configured_fails_v1(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(StyleLearner, "ddof", property(lambda self: 0))
    report = runner.run_validation(["V1"], quick=True)
    assert {"V1 E[σ²] martingale", "V1 E[σ_n]", "V1 Var(μ)+E[σ²]"} <= failed(report)
    # E[W2²] at M = 20, n = 50: the permutation test against the exact law finds it too
    w2 = next(r for r in report.results if r.check.estimate == "w2_20_50")
    assert not w2.passed and w2.estimate.p is not None and w2.estimate.p < checks.SE3_LEVEL
    law = next(r for r in report.results if r.check.estimate == "w2_law_20_50")
    assert not law.passed and law.estimate.p is not None and law.estimate.p < checks.SE3_LEVEL
    assert "V1 E[σ²] MLE" not in failed(report)  # the MLE check still holds: it is the MLE
    code = main(["validate", "--quick", "--quiet", "--only", "V1", "--out", str(tmp_path)])
    assert code == 1
    assert "FAIL" in capsys.readouterr().out
    assert "Failed: V1" in (tmp_path / "validation.md").read_text()


def test_unbiased_variance_where_mle_is_configured_fails_the_mle_check(monkeypatch) -> None:
    monkeypatch.setattr(StyleLearner, "ddof", property(lambda self: 1))
    assert failed(runner.run_validation(["V1"], quick=True)) == {"V1 E[σ²] MLE"}


def test_smoothing_drops_absorbing_zeros_and_fails_v3(monkeypatch) -> None:
    original = ConceptLearner.__init__

    def smoothed(self, n_concepts, **kwargs):
        original(self, n_concepts, **{**kwargs, "smoothing": 0.5})

    monkeypatch.setattr(ConceptLearner, "__init__", smoothed)
    assert failed(runner.run_validation(["V3"], quick=True)) == {"V3 absorbing zeros"}


def test_top_p_truncation_fails_the_miss_probabilities(monkeypatch) -> None:
    original = ConceptLearner.__init__

    def truncated(self, n_concepts, **kwargs):
        original(self, n_concepts, **{**kwargs, "top_p": 0.9})

    monkeypatch.setattr(ConceptLearner, "__init__", truncated)
    assert {"V3 miss q=0.02", "V3 miss q=0.01", "V3 miss q=0.005"} <= failed(
        runner.run_validation(["V3"], quick=True)
    )


def test_wrong_z_variance_fails_v4(monkeypatch) -> None:
    def z_without_one_minus_gamma(self, green, tokens):
        t = np.maximum(np.asarray(tokens, dtype=np.float64), 1.0)
        return (np.asarray(green) - self.gamma * t) / np.sqrt(t * self.gamma)

    monkeypatch.setattr(WatermarkScheme, "z_scores", z_without_one_minus_gamma)
    broken = failed(runner.run_validation(["V4"], quick=True))
    assert {"V4 human z sd", "V4 FPR z>4", "V4 watermarked mean z"} <= broken
    assert "V4 z ∝ sqrt(T)" not in broken  # a constant factor does not change the slope


def test_only_rejects_unknown_groups(capsys) -> None:
    assert main(["validate", "--only", "V1,V9"]) == 2
    err = capsys.readouterr().err
    assert "V9" in err and "V1, V2, V3, V4, V5" in err


@pytest.mark.parametrize("only", ["", ",", " "])
def test_an_empty_only_is_refused_not_taken_as_all(only, capsys) -> None:
    """``--only ''`` (an unset variable in a script) ran every check group; now exit 2."""
    assert main(["validate", "--only", only, "--quiet"]) == 2
    assert "--only: unknown check group(s)" in capsys.readouterr().err
    assert runner.parse_only(None) == list(runner.EXPERIMENTS)  # no --only: every group
