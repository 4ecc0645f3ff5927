import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tracing import traced_peak

from habsburg.ecosystem.learners import (
    ConceptLearner,
    FactLearner,
    StyleLearner,
    apply_temperature_top_p,
)
from habsburg.ecosystem.world import tail_mask, zipf


def test_concept_fit_is_mle_and_smoothing_adds_pseudocounts():
    learner = ConceptLearner(4).fit(np.array([6, 3, 1, 0]))
    np.testing.assert_allclose(learner.probs_, [0.6, 0.3, 0.1, 0.0])
    smoothed = ConceptLearner(4, smoothing=1.0).fit(np.array([6, 3, 1, 0]))
    np.testing.assert_allclose(smoothed.probs_, np.array([7, 4, 2, 1]) / 14)


def test_temperature_sharpens_and_top_p_truncates():
    p = np.array([0.5, 0.3, 0.15, 0.05])
    cold = apply_temperature_top_p(p, 0.5, 1.0)
    np.testing.assert_allclose(cold, p**2 / (p**2).sum())
    nucleus = apply_temperature_top_p(p, 1.0, 0.8)
    np.testing.assert_allclose(nucleus, [0.5 / 0.8, 0.3 / 0.8, 0, 0])
    assert apply_temperature_top_p(p, 1.0, 0.81)[2] > 0  # the third is needed to reach 0.81


def test_zero_counts_are_absorbing():
    rng = np.random.default_rng(0)
    learner = ConceptLearner(3).fit(np.array([5, 5, 0]))
    draws = learner.sample(10_000, rng)
    assert not (draws == 2).any()
    learner.fit(np.bincount(draws, minlength=3))
    assert learner.probs_[2] == 0


def _generations(top_p: float, n_samples: int, generations: int, seed: int) -> list[float]:
    p = zipf(300, 1.1)
    tail = tail_mask(p, 0.1)
    rng = np.random.default_rng(seed)
    learner = ConceptLearner(p.size, top_p=top_p).fit(p * 1e9)
    coverage = []
    for _ in range(generations):
        coverage.append(float((learner.sampling_probs[tail] > 0).mean()))
        learner.fit(learner.sample_counts(n_samples, rng))
    return coverage


def test_top_p_below_one_loses_tail_over_generations_while_top_p_one_keeps_it():
    truncated = _generations(0.95, 1_000_000, 6, seed=1)
    full = _generations(1.0, 1_000_000, 6, seed=1)
    assert truncated[-1] < 0.5 * truncated[0] or truncated[-1] == 0
    assert truncated[-1] < truncated[1] <= truncated[0]
    assert full[-1] > 0.95  # large samples, no truncation: the tail survives


def test_concept_learner_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="top_p"):
        ConceptLearner(10, top_p=1.5)
    with pytest.raises(ValueError, match="temperature"):
        ConceptLearner(10, temperature=0)
    with pytest.raises(ValueError, match="shape"):
        ConceptLearner(10).fit(np.ones(9))


def test_fact_learner_beliefs_and_answers():
    counts = np.array([[8, 2, 0], [0, 0, 0], [1, 1, 8]], dtype=float)
    fl = FactLearner(3, 3, hallucination_rate=0.0, unseen_hallucination_rate=1.0).fit(counts)
    np.testing.assert_allclose(fl.belief_[0], [0.8, 0.2, 0.0])
    assert list(fl.seen_) == [True, False, True]
    assert list(fl.modal_value) == [0, 0, 2]
    rng = np.random.default_rng(3)
    facts = np.repeat([0, 1, 2], 20_000)
    values, answered = fl.sample(facts, rng)
    assert answered.all()
    assert abs((values[:20_000] == 0).mean() - 0.8) < 0.01
    assert abs((values[20_000:40_000] == 1).mean() - 1 / 3) < 0.01  # unseen: uniform guesses
    truth = np.array([0, 1, 2])
    expected = [0.8, 1 / 3, 0.8]  # the belief in the truth; unseen: a uniform guess of 3 values
    np.testing.assert_allclose(fl.correct_probability(truth), expected)
    measured = [(values[i * 20_000 : (i + 1) * 20_000] == truth[i]).mean() for i in range(3)]
    np.testing.assert_allclose(measured, expected, atol=0.012)


def test_correct_probability_with_hallucinations_and_abstentions_is_the_closed_form():
    """P(correct) = (1 − h)·b(truth) + h·[truth ≠ mode]/(V − 1) for a seen fact, u/V for an
    unseen one answered with probability u: the formula, and the share the sampler draws."""
    h, u, n = 0.2, 0.5, 40_000
    counts = np.array([[6, 3, 1, 0], [0, 0, 0, 0], [6, 3, 1, 0]], dtype=float)
    fl = FactLearner(3, 4, hallucination_rate=h, unseen_hallucination_rate=u).fit(counts)
    truth = np.array([1, 2, 0])  # fact 2's truth is the belief's mode: no hallucination hits it
    expected = [(1 - h) * 0.3 + h / 3, u / 4, (1 - h) * 0.6]
    np.testing.assert_allclose(fl.correct_probability(truth), expected)
    values, answered = fl.sample(np.repeat([0, 1, 2], n), np.random.default_rng(5))
    measured = [(values[i * n : (i + 1) * n] == truth[i]).mean() for i in range(3)]
    np.testing.assert_allclose(measured, expected, atol=4 * np.sqrt(0.25 / n))
    assert abs(answered[n : 2 * n].mean() - u) < 4 * np.sqrt(0.25 / n)
    assert answered[:n].all() and answered[2 * n :].all()


def test_hallucinations_pick_values_other_than_the_belief():
    counts = np.zeros((50, 4))
    counts[:, 1] = 10
    fl = FactLearner(50, 4, hallucination_rate=0.3).fit(counts)
    values, _ = fl.sample(np.repeat(np.arange(50), 400), np.random.default_rng(0))
    wrong = values != 1
    assert abs(wrong.mean() - 0.3) < 0.02
    assert set(np.unique(values[wrong])) == {0, 2, 3}
    np.testing.assert_allclose(fl.correct_probability(np.ones(50, int)), 0.7)


def test_unseen_facts_can_abstain():
    fl = FactLearner(5, 4, unseen_hallucination_rate=0.0).fit(np.zeros((5, 4)))
    values, answered = fl.sample(np.arange(5), np.random.default_rng(0))
    assert not answered.any() and (values == -1).all()


def test_style_learner_estimators_and_temperature():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2))
    unbiased = StyleLearner(2).fit(x)
    mle = StyleLearner(2, estimator="mle").fit(x)
    np.testing.assert_allclose(unbiased.cov_, np.cov(x.T, ddof=1))
    np.testing.assert_allclose(mle.cov_, np.cov(x.T, ddof=0))
    with pytest.raises(ValueError, match="estimator"):
        StyleLearner(2, estimator="biased")


@pytest.mark.parametrize("tau", [0.5, 0.8, 1.5])
def test_style_variance_at_temperature_is_tau_times_sigma(tau):
    """One convention: density p^(1/τ), so N(μ, Σ) becomes N(μ, τΣ) (the old τ²Σ fails here)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 2)) @ np.array([[1.0, 0.4], [0.0, 0.7]])
    learner = StyleLearner(2, temperature=tau).fit(x)
    np.testing.assert_allclose(learner.sampling_cov, tau * learner.cov_)
    samples = learner.sample(400_000, rng)
    np.testing.assert_allclose(np.cov(samples.T), tau * learner.cov_, rtol=0.03, atol=0.005)


def test_temperature_is_one_convention_across_learners():
    """A Gaussian on a fine grid, sharpened as p^(1/τ) by the categorical decoder, has variance τσ²
    -- the variance the style learner samples with."""
    tau, sigma = 0.6, 2.0
    grid = np.linspace(-20, 20, 4001)
    p = np.exp(-0.5 * (grid / sigma) ** 2)
    q = apply_temperature_top_p(p / p.sum(), tau, 1.0)
    grid_var = float((q * grid**2).sum())
    style = StyleLearner(1, temperature=tau)
    style.cov_ = np.array([[sigma**2]])
    assert grid_var == pytest.approx(float(style.sampling_cov[0, 0]), rel=1e-6)


def test_cached_sampling_state_follows_refits_and_decoding_changes():
    """The answer CDF, modal values and Cholesky factor are cached between draws; a refit, a
    decoding change or a temperature set by hand (as ``apply_decoding`` does) is never sampled
    with stale state."""
    fl = FactLearner(2, 3).fit(np.array([[9.0, 1, 0], [0, 0, 5]]))
    facts = np.zeros(20_000, dtype=int)
    first = fl.sample(facts, np.random.default_rng(0))[0]
    assert abs((first == 0).mean() - 0.9) < 0.01 and list(fl.modal_value) == [0, 2]
    fl.set_decoding(temperature=0.5)  # 0.9² / (0.9² + 0.1²)
    assert abs((fl.sample(facts, np.random.default_rng(0))[0] == 0).mean() - 0.81 / 0.82) < 0.005
    fl.fit(np.array([[0.0, 1, 9], [5, 0, 0]]))
    assert list(fl.modal_value) == [2, 0]
    assert (fl.sample(facts, np.random.default_rng(0))[0] == 2).mean() > 0.95
    style = StyleLearner(1).fit(np.array([[-1.0], [1.0]]))
    assert style.sample(50_000, np.random.default_rng(1)).var() == pytest.approx(2.0, rel=0.03)
    style.temperature = 0.25
    assert style.sample(50_000, np.random.default_rng(1)).var() == pytest.approx(0.5, rel=0.03)
    style.fit(np.array([[-3.0], [3.0]]))
    assert style.sample(50_000, np.random.default_rng(1)).var() == pytest.approx(4.5, rel=0.03)


def test_learners_pickled_before_their_caches_existed_still_load_and_sample():
    """Checkpoints written before the answer/factor caches were added unpickle with empty caches."""
    import pickle

    from habsburg.ecosystem.learners import FactLearner, StyleLearner

    rng = np.random.default_rng(0)
    facts = FactLearner(5, 3).fit(rng.integers(0, 4, (5, 3)).astype(float))
    style = StyleLearner(2).fit(rng.normal(size=(50, 2)))
    for learner, caches in ((facts, ("_answer_cdf", "_modal")), (style, ("_factor",))):
        old = pickle.loads(pickle.dumps(learner))
        for name in caches:
            del old.__dict__[name]  # as an older release pickled it
        again = pickle.loads(pickle.dumps(old))
        for name in caches:
            assert getattr(again, name) is None
    a = pickle.loads(pickle.dumps(facts)).sample(np.arange(5), np.random.default_rng(1))
    b = facts.sample(np.arange(5), np.random.default_rng(1))
    np.testing.assert_array_equal(a[0], b[0])


def test_style_fit_overwriting_its_input_is_the_same_fit_without_a_copy():
    """``overwrite_input`` centres the (float64) input in place: bit-for-bit the same mean and
    covariance, and no second array of the input's size."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20_000, 8)) @ rng.normal(size=(8, 8)) + rng.normal(size=8)
    plain = StyleLearner(8).fit(x.copy())
    owned, peak = traced_peak(StyleLearner(8).fit, x, True)
    assert np.array_equal(owned.mean_, plain.mean_) and np.array_equal(owned.cov_, plain.cov_)
    assert peak < x.nbytes / 4  # (a centred copy would be x.nbytes)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-9)  # the input was centred


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(0, 6),
    width=st.sampled_from([0, 1, 7, 8, 16, 24, 64, 255, 256, 300]),
    builtin=st.booleans(),
    transposed=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_flags_are_counted_per_row_on_every_path(rows, width, builtin, transposed, seed):
    """Whole 64-bit words (with numpy's bitwise_count, or the multiply-shift of numpy < 2.0),
    one byte contraction for short rows, numpy's own sum for long ones, and arrays that are
    not C-contiguous: always ``flags.sum(axis=1)``."""
    from habsburg.ecosystem import learners

    rng = np.random.default_rng(seed)
    flags = rng.random((width, rows) if transposed else (rows, width)) < 0.4
    if transposed:
        flags = flags.T
    original = learners._BITWISE_COUNT
    learners._BITWISE_COUNT = original if builtin else None
    try:
        got = learners._count_true_per_row(flags)
    finally:
        learners._BITWISE_COUNT = original
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, flags.sum(axis=1))
