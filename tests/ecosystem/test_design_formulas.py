"""DESIGN.md formulas that had no test comparing the real code with the formula.

Each test calls the class or function the simulation uses and compares it with the formula
computed here independently (closed form, or scipy). Monte Carlo comparisons use a fixed seed and
a bound justified by sampling error: 4 standard errors for means and variances, or a chi-square /
binomial goodness-of-fit p-value above 1e-4 (a correct implementation fails 1 time in 10⁴).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import expit

from habsburg.agents.scraper import weighted_sample_without_replacement
from habsburg.ecosystem import metrics
from habsburg.ecosystem.learners import ConceptLearner, FactLearner, Learners, StyleLearner
from habsburg.ecosystem.publishing import adoption_level
from habsburg.ecosystem.watermark import WatermarkScheme
from habsburg.ecosystem.world import World
from habsburg.scenarios.schema import AdoptionCurve, WorldConfig

P_MIN = 1e-4  # goodness-of-fit p-value a correct implementation passes 99.99% of the time


def _chisquare_p(observed: np.ndarray, probs: np.ndarray) -> float:
    """Chi-square goodness-of-fit p-value of ``observed`` counts against ``probs``; outcomes of
    probability 0 must never occur (returns 0 if one does)."""
    observed = np.asarray(observed, dtype=np.float64)
    zero = probs <= 0
    if observed[zero].any():
        return 0.0
    n = observed.sum()
    return float(stats.chisquare(observed[~zero], n * probs[~zero] / probs[~zero].sum()).pvalue)


# --- the world: Zipf popularity (DESIGN "The world", p*_k ∝ k^-β) ---------------------------------
def test_world_concept_and_fact_popularity_are_zipf() -> None:
    cfg = WorldConfig(
        concepts=300, concept_zipf=1.3, communities=4, facts=80, fact_zipf=0.8, style_dim=2
    )
    world = World.build(cfg, 50, np.random.default_rng(0))
    k = np.arange(1, 301, dtype=np.float64)
    np.testing.assert_allclose(world.concept_popularity, k**-1.3 / (k**-1.3).sum(), rtol=1e-12)
    f = np.arange(1, 81, dtype=np.float64)
    expected_facts = f**-0.8 / (f**-0.8).sum()
    # fact ids are shuffled (they carry no rank), so the popularities are Zipf up to order
    np.testing.assert_allclose(
        np.sort(world.fact_popularity)[::-1], expected_facts, rtol=1e-12, atol=0
    )
    assert np.all((world.true_values >= 0) & (world.true_values < cfg.values_per_fact))


def test_communities_tilt_toward_their_own_tail_concepts_by_the_niche_weights() -> None:
    """Each community's concept law is p*_k times 1 (head), ``niche_boost`` (its own tail
    concepts) or ``niche_floor`` (other niches' tail), renormalised; the tail split among niches
    is the least popular concepts holding half the mass."""
    cfg = WorldConfig(concepts=200, communities=3, facts=10, niche_boost=5.0, niche_floor=0.2)
    world = World.build(cfg, 40, np.random.default_rng(1))
    p = world.concept_popularity
    order = np.argsort(p, kind="stable")
    tail = np.zeros(p.size, dtype=bool)
    tail[order[np.cumsum(p[order]) <= 0.5]] = True
    np.testing.assert_array_equal(world.niche_of >= 0, tail)
    for c in range(3):
        weight = np.where(tail, np.where(world.niche_of == c, 5.0, 0.2), 1.0)
        expected = p * weight / (p * weight).sum()
        np.testing.assert_allclose(world.community_concepts[c], expected, rtol=1e-12)


# --- ConceptLearner (DESIGN "Learners") --------------------------------------------------------------
def test_tail_preserving_reweighting_fits_counts_to_the_power_one_minus_a() -> None:
    counts = np.array([900.0, 90.0, 9.0, 1.0, 0.0])
    for a in (0.0, 0.3, 0.7, 1.0):
        learner = ConceptLearner(5, tail_reweighting=a).fit(counts)
        flat = np.where(counts > 0, counts ** (1 - a), 0.0)
        np.testing.assert_allclose(learner.probs_, flat / flat.sum(), rtol=1e-12)
        assert learner.probs_[4] == 0  # a zero count stays zero: reweighting is no smoothing
    # with smoothing s as well: (counts^(1-a) + s) / Σ
    learner = ConceptLearner(5, tail_reweighting=0.5, smoothing=2.0).fit(counts)
    expected = np.where(counts > 0, np.sqrt(counts), 0.0) + 2.0
    np.testing.assert_allclose(learner.probs_, expected / expected.sum(), rtol=1e-12)


def test_concept_samples_follow_temperature_then_top_p() -> None:
    """``sample`` draws from p^(1/τ) renormalised, truncated to the smallest most-likely set of
    mass ≥ top_p (chi-square against that law, computed here)."""
    p = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    tau, top_p = 0.7, 0.85
    learner = ConceptLearner(6, temperature=tau, top_p=top_p).fit(p * 1000)
    sharp = p ** (1 / tau) / (p ** (1 / tau)).sum()
    cum = np.cumsum(sharp)  # p is sorted already
    keep = np.arange(6) <= np.argmax(cum >= top_p)
    law = np.where(keep, sharp, 0.0) / sharp[keep].sum()
    np.testing.assert_allclose(learner.sampling_probs, law, rtol=1e-12)
    draws = learner.sample(200_000, np.random.default_rng(2))
    assert _chisquare_p(np.bincount(draws, minlength=6), law) > P_MIN
    counts = learner.sample_counts(200_000, np.random.default_rng(3))
    assert _chisquare_p(counts, law) > P_MIN


# --- FactLearner (DESIGN "belief = normalised counts; sampling sharpened by τ; hallucination h") ---
def test_fact_answers_are_the_sharpened_belief_mixed_with_hallucinations() -> None:
    """P(answer v) = (1 − h)·b_v^(1/τ)/Σ_u b_u^(1/τ) + h·[v ≠ mode]/(V − 1) for a seen fact."""
    counts = np.array([[5.0, 3.0, 2.0, 0.0], [0.0, 1.0, 1.0, 8.0]])
    tau, h = 1.6, 0.15
    learner = FactLearner(2, 4, temperature=tau, hallucination_rate=h).fit(counts)
    n = 100_000
    values, answered = learner.sample(np.repeat([0, 1], n), np.random.default_rng(4))
    assert answered.all()
    for fact in (0, 1):
        b = counts[fact] / counts[fact].sum()
        sharp = b ** (1 / tau) / (b ** (1 / tau)).sum()
        mode = int(np.argmax(b))
        law = (1 - h) * sharp + h * (np.arange(4) != mode) / 3
        observed = np.bincount(values[fact * n : (fact + 1) * n], minlength=4)
        assert _chisquare_p(observed, law) > P_MIN, (fact, observed / n, law)


# --- watermark (DESIGN "Watermarks and filters") --------------------------------------------------
def test_z_score_and_detection_are_the_one_sided_z_test() -> None:
    scheme = WatermarkScheme(gamma=0.3)
    rng = np.random.default_rng(5)
    tokens = rng.integers(20, 800, 500)
    green = rng.binomial(tokens, 0.45)
    z = (green - 0.3 * tokens) / np.sqrt(tokens * 0.3 * 0.7)
    np.testing.assert_allclose(scheme.z_scores(green, tokens), z, rtol=1e-12)
    np.testing.assert_array_equal(scheme.detect(green, tokens, 2.5), z > 2.5)


def test_unwatermarked_green_counts_are_binomial_t_gamma() -> None:
    """Green counts are drawn per document from Binomial(T, γ) when nothing is watermarked: the
    whole law (chi-square against scipy.stats.binom), not only its mean."""
    scheme = WatermarkScheme(gamma=0.25)
    T, n = 60, 100_000
    tokens = np.full(n, T)
    green = scheme.draw_green_counts(tokens, np.zeros(n, dtype=np.int64), np.random.default_rng(6))
    observed = np.bincount(green, minlength=T + 1)
    probs = stats.binom.pmf(np.arange(T + 1), T, 0.25)
    # pool the outer bins so every expected count is >= 5
    lo, hi = int(stats.binom.ppf(1e-4, T, 0.25)), int(stats.binom.isf(1e-4, T, 0.25))
    obs = np.concatenate([[observed[:lo].sum()], observed[lo:hi], [observed[hi:].sum()]])
    pr = np.concatenate([[probs[:lo].sum()], probs[lo:hi], [probs[hi:].sum()]])
    assert _chisquare_p(obs, pr) > P_MIN


def test_watermarked_green_counts_are_binomial_at_the_entropy_scaled_green_probability() -> None:
    """A watermarked document of spike entropy η has green count ~ Binomial(T, γ + (γ' − γ)η)
    with γ' = γe^δ/(1 + (e^δ − 1)γ); with η ~ Beta(a, b) drawn per document the count's variance
    is T·E[p(1 − p)] + T²·Var(p) (law of total variance)."""
    gamma, delta, a, b = 0.25, 2.0, 3.3, 1.7
    scheme = WatermarkScheme(gamma=gamma, delta=delta, entropy_a=a, entropy_b=b)
    g_prime = gamma * np.exp(delta) / (1 + (np.exp(delta) - 1) * gamma)
    T, n = 100, 100_000
    tokens = np.full(n, T)
    rng = np.random.default_rng(7)
    # fixed entropy: exactly binomial
    eta = 0.6
    p = gamma + (g_prime - gamma) * eta
    green = scheme.draw_green_counts(tokens, tokens, rng, entropy=np.full(n, eta))
    assert abs(green.mean() - T * p) < 4 * np.sqrt(T * p * (1 - p) / n)
    var_se = np.sqrt((((green - green.mean()) ** 4).mean() - green.var() ** 2) / n)
    assert abs(green.var(ddof=1) - T * p * (1 - p)) < 4 * var_se
    # entropy drawn from Beta(a, b): mean and variance of the mixture
    green = scheme.draw_green_counts(tokens, tokens, rng)
    d = g_prime - gamma
    e_eta = a / (a + b)
    v_eta = a * b / ((a + b) ** 2 * (a + b + 1))
    mean_p = gamma + d * e_eta
    e_pq = mean_p * (1 - mean_p) - d**2 * v_eta
    expected_var = T * e_pq + T**2 * d**2 * v_eta
    assert abs(green.mean() - T * mean_p) < 4 * np.sqrt(expected_var / n)
    var_se = np.sqrt((((green - green.mean()) ** 4).mean() - green.var() ** 2) / n)
    assert abs(green.var(ddof=1) - expected_var) < 4 * var_se, (green.var(), expected_var)


# --- metrics (DESIGN "Analysis") -----------------------------------------------------------------
def test_capability_is_the_cross_entropy_to_p_h_with_its_uniform_floor() -> None:
    """H(p, q') in nats with q' = (1 − f)·q + f/K: computed as H(p) + KL(p ‖ q') by scipy."""
    rng = np.random.default_rng(8)
    p = rng.dirichlet(np.ones(50))
    p[-3:] = 0.0  # concepts humans never write add nothing
    p /= p.sum()
    q = rng.dirichlet(np.ones(50))
    assert metrics.cross_entropy(p, q, floor=0.0) == pytest.approx(
        stats.entropy(p) + stats.entropy(p, q), rel=1e-10
    )
    q[:5] = 0.0  # a model that lost concepts: finite only through the floor
    q /= q.sum()
    for floor in (1e-6, 0.01):
        mixed = (1 - floor) * q + floor / q.size
        expected = stats.entropy(p) + stats.entropy(p, mixed)
        assert metrics.cross_entropy(p, q, floor=floor) == pytest.approx(expected, rel=1e-10)


def test_js_divergence_is_scipys_jensen_shannon_in_nats() -> None:
    rng = np.random.default_rng(9)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(30) * 0.3, size=2)
        p[rng.random(30) < 0.3] = 0
        p /= p.sum()
        expected = jensenshannon(p, q) ** 2  # scipy returns the distance, the root of JS (nats)
        assert metrics.js_divergence(p, q) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    dists = [rng.dirichlet(np.ones(10)) for _ in range(4)]
    pairs = [metrics.js_divergence(a, b) for i, a in enumerate(dists) for b in dists[i + 1 :]]
    assert metrics.mean_pairwise_js(dists) == pytest.approx(np.mean(pairs))


def test_model_quality_is_computed_from_its_definitions() -> None:
    """Capability H(p_H, q), tail coverage (tail concepts with q > 0), support, fact accuracy (mean
    P(correct)) over all and tail facts, style variance ratio tr(τΣ)/tr(Σ_H)."""
    cfg = WorldConfig(concepts=120, communities=3, facts=60, values_per_fact=4, style_dim=3)
    world = World.build(cfg, 80, np.random.default_rng(10))
    rng = np.random.default_rng(11)
    counts = rng.multinomial(400, world.p_human).astype(float)
    fact_counts = rng.integers(0, 3, (60, 4)).astype(float)
    learners = Learners(
        ConceptLearner(120, temperature=0.8, top_p=0.9).fit(counts),
        FactLearner(60, 4, temperature=0.8, hallucination_rate=0.1).fit(fact_counts),
        StyleLearner(3, temperature=0.8).fit(rng.normal(size=(40, 3))),
    )
    got = metrics.model_quality(learners, world)
    q = learners.concepts.sampling_probs
    q_floor = (1 - metrics.CAPABILITY_FLOOR) * q + metrics.CAPABILITY_FLOOR / q.size
    assert got["capability"] == pytest.approx(
        stats.entropy(world.p_human) + stats.entropy(world.p_human, q_floor), rel=1e-10
    )
    assert got["tail_coverage"] == pytest.approx((q[world.concept_tail] > 0).mean())
    assert got["support"] == pytest.approx((q > 0).mean())
    # P(correct) per fact from the answer law, computed here
    b = fact_counts / np.maximum(fact_counts.sum(axis=1, keepdims=True), 1)
    sharp = b ** (1 / 0.8)
    sharp /= np.maximum(sharp.sum(axis=1, keepdims=True), 1e-300)
    truth = world.true_values
    mode = b.argmax(axis=1)
    seen = fact_counts.sum(axis=1) > 0
    seen_p = 0.9 * sharp[np.arange(60), truth] + 0.1 * (mode != truth) / 3
    correct = np.where(seen, seen_p, learners.facts.unseen_hallucination_rate / 4)
    assert got["fact_accuracy"] == pytest.approx(correct.mean(), rel=1e-10)
    assert got["tail_fact_accuracy"] == pytest.approx(correct[world.fact_tail].mean(), rel=1e-10)
    ratio = np.trace(0.8 * learners.style.cov_) / np.trace(world.human_style_cov)
    assert got["style_variance_ratio"] == pytest.approx(ratio, rel=1e-12)


# --- crawling and adoption curves (DESIGN "Time, agents and data flow") -------------------------
def test_weighted_sampling_without_replacement_has_successive_sampling_inclusions() -> None:
    """Efraimidis–Spirakis: one draw picks item i with probability w_i/W; two draws include i
    with probability w_i/W + Σ_{j≠i} (w_j/W)·w_i/(W − w_j) (successive sampling)."""
    w = np.array([1.0, 2.0, 3.0, 6.0])
    W = w.sum()
    rng = np.random.default_rng(12)
    reps = 30_000
    first = np.array([weighted_sample_without_replacement(w, 1, rng)[0] for _ in range(reps)])
    assert _chisquare_p(np.bincount(first, minlength=4), w / W) > P_MIN
    pairs = np.array([weighted_sample_without_replacement(w, 2, rng) for _ in range(reps)])
    included = np.bincount(pairs.ravel(), minlength=4) / reps
    expected = np.array(
        [w[i] / W + sum(w[j] / W * w[i] / (W - w[j]) for j in range(4) if j != i) for i in range(4)]
    )
    se = np.sqrt(expected * (1 - expected) / reps)
    assert np.all(np.abs(included - expected) < 4 * se), (included, expected)


def test_adoption_level_is_the_logistic_curve_and_zero_before_its_start() -> None:
    curve = AdoptionCurve(start="2022-11", midpoint=9.0, rate=0.35, ceiling=250.0)
    months = np.array([0, 1, 5, 9, 14, 40, 200], dtype=float)
    for t in months:
        assert adoption_level(curve, t) == pytest.approx(250.0 * expit(0.35 * (t - 9.0)))
    assert adoption_level(curve, -1) == 0.0
    assert adoption_level(curve, 9.0) == pytest.approx(125.0)  # half the ceiling at the midpoint
