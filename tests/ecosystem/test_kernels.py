import numpy as np
import pytest

from habsburg.ecosystem.metrics import (
    js_divergence,
    pairwise_failure_ratio,
    systemic_failure_ratio,
)
from habsburg.ecosystem.registry import ErrorRegistry
from habsburg.ecosystem.store import HUMAN, MODEL, Batch, DocumentStore
from habsburg.ecosystem.watermark import WatermarkScheme
from habsburg.ecosystem.world import World
from habsburg.scenarios.schema import WorldConfig


def _batch(n, concept_lengths, claim_lengths, start=0):
    concepts = np.arange(start, start + sum(concept_lengths)) % 50
    n_claims = sum(claim_lengths)
    return Batch(
        site=np.arange(n),
        kind=HUMAN,
        producer=np.arange(n),
        model=-1,
        synthetic_fraction=np.zeros(n),
        tokens=np.full(n, 100),
        green=np.full(n, 25),
        style=np.zeros((n, 2)),
        quality=np.ones(n),
        concept_lengths=np.array(concept_lengths),
        concepts=concepts,
        claim_lengths=np.array(claim_lengths),
        claim_facts=np.arange(n_claims),
        claim_values=np.zeros(n_claims),
        claim_errors=np.full(n_claims, -1),
    )


def test_document_store_grows_and_gathers_ragged_rows():
    store = DocumentStore(style_dim=2, capacity=2)
    store.begin_step(0)
    store.append(_batch(3, [2, 0, 3], [1, 2, 0]), step=0)
    store.begin_step(1)
    ids = store.append(_batch(2, [1, 4], [0, 3], start=5), step=1)
    assert len(store) == 5 and list(ids) == [3, 4]
    lengths, values = store.concept_rows(np.array([2, 4]))
    assert list(lengths) == [3, 4]
    assert list(values) == [2, 3, 4, 6, 7, 8, 9]
    lengths, claims = store.claim_rows(np.array([1, 4]))
    assert list(lengths) == [2, 3] and list(store.claim_facts[claims]) == [1, 2, 0, 1, 2]
    assert store.step_slice(1, 1) == slice(3, 5)
    assert store.step_slice(0, 0) == slice(0, 3)
    assert list(store.root(np.arange(5))) == [0, 1, 2, 3, 4]


def test_world_p_human_is_the_exact_mixture_of_communities():
    world = World.build(
        WorldConfig(concepts=300, communities=4, facts=50), 200, np.random.default_rng(1)
    )
    np.testing.assert_allclose(world.p_human.sum(), 1.0)
    np.testing.assert_allclose(world.p_human, world.community_weight @ world.community_concepts)
    # niches: a community writes its own tail concepts more than others do
    c = 0
    own = world.niche_of == c
    assert world.community_concepts[c, own].sum() > world.community_concepts[1, own].sum()
    assert 0 < world.concept_tail.sum() < 300


def test_world_style_covariance_matches_simulated_documents():
    world = World.build(
        WorldConfig(concepts=50, communities=3, facts=10, style_dim=2),
        300,
        np.random.default_rng(2),
    )
    rng = np.random.default_rng(3)
    w = world.author_rate / world.author_rate.sum()
    authors = rng.choice(w.size, size=200_000, p=w)
    docs = world.author_style[authors] + rng.normal(0, world.config.style_doc, (authors.size, 2))
    np.testing.assert_allclose(np.cov(docs.T), world.human_style_cov, rtol=0.05, atol=0.02)


def test_watermark_statistics():
    scheme = WatermarkScheme(gamma=0.25, delta=2.0)
    assert scheme.green_probability == pytest.approx(0.25 * np.e**2 / (1 + (np.e**2 - 1) * 0.25))
    rng = np.random.default_rng(0)
    tokens = np.full(50_000, 200)
    z_human = scheme.z_scores(scheme.draw_green_counts(tokens, 0 * tokens, rng), tokens)
    assert abs(z_human.mean()) < 0.02 and abs(z_human.std() - 1) < 0.02
    z_full = scheme.z_scores(scheme.draw_green_counts(tokens, tokens, rng), tokens)
    z_hybrid = scheme.z_scores(scheme.draw_green_counts(tokens, tokens // 2, rng), tokens)
    z_para = scheme.z_scores(scheme.draw_green_counts(tokens, tokens, rng, paraphrase=0.25), tokens)
    # mean z of fully watermarked text (Kirchenbauer et al. 2023): (g̃ − γ)√T / √(γ(1 − γ)), with
    # g̃ = γ + (γ' − γ)·E[η] the mean green probability over spike entropies η ~ Beta(a, b)
    eta = scheme.entropy_a / (scheme.entropy_a + scheme.entropy_b)
    gamma = scheme.gamma
    full = (scheme.green_probability - gamma) * eta * np.sqrt(200) / np.sqrt(gamma * (1 - gamma))

    def close(z, expected):
        return abs(z.mean() - expected) < 4 * z.std() / np.sqrt(z.size)

    assert close(z_full, full), (z_full.mean(), full)
    assert close(z_hybrid, full / 2), (z_hybrid.mean(), full / 2)  # evidence on half the tokens
    # random edits of ε = 0.25 with a context of h = 1 keep (1 − ε)² = 0.56 (test_watermark)
    assert close(z_para, 0.75**2 * full), (z_para.mean(), 0.75**2 * full)
    green = scheme.draw_green_counts(tokens, tokens, rng)
    spun = scheme.z_scores(scheme.paraphrase(green, tokens, 0.25, rng), tokens)
    assert close(spun, 0.75**2 * full), (spun.mean(), 0.75**2 * full)


def test_error_registry_records_first_origin_and_cross_model_adoptions():
    reg = ErrorRegistry(n_facts=3, n_values=4, true_values=np.array([0, 1, 2]))
    ids = reg.register(np.array([0, 0, 1, 2]), np.array([0, 3, 2, 2]), MODEL, 7, 7, step=5)
    assert list(ids) == [-1, 0, 1, -1]
    again = reg.register(np.array([0, 1]), np.array([3, 0]), HUMAN, 1, -1, step=6)
    assert list(again) == [0, 2]
    df = reg.to_frame()
    assert list(df["origin_model"]) == [7, 7, -1] and list(df["step"]) == [5, 5, 6]
    assert list(df["origin_kind"].astype(str)) == ["model", "model", "human"]
    cross = reg.record_adoptions(np.array([0, 2]), model=3, generation=1, step=9)
    assert cross == 1  # error 0 came from model 7; error 2 from a human
    assert reg.record_adoptions(np.array([1]), model=7, generation=2, step=9) == 0


def test_js_and_systemic_failure_ratio_reference_values():
    p = np.array([0.5, 0.5, 0, 0])
    q = np.array([0, 0, 0.5, 0.5])
    assert js_divergence(p, p) == pytest.approx(0)
    assert js_divergence(p, q) == pytest.approx(np.log(2))
    independent = np.array([[1, 0, 1, 0], [1, 1, 0, 0]], dtype=float)
    assert systemic_failure_ratio(independent) == pytest.approx(1.0)
    correlated = np.array([[1, 1, 0, 0], [1, 1, 0, 0]], dtype=float)
    assert systemic_failure_ratio(correlated) == pytest.approx(2.0)
    assert pairwise_failure_ratio(independent) == pytest.approx(1.0)
    assert pairwise_failure_ratio(correlated) == pytest.approx(2.0)
    three = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0]], dtype=float)
    # pairs: (0,1) -> 2, (0,2) and (1,2) -> 1
    assert pairwise_failure_ratio(three) == pytest.approx(4 / 3)


def test_js_divergence_matches_scipy_and_is_never_negative():
    """The divergence against scipy's Jensen–Shannon distance squared, on random distributions
    with zeros; and never below 0 for distributions one ulp apart (the sum of the two KL terms
    rounds to about −2e-18 for some of them)."""
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(3)
    for _ in range(20):
        p, q = rng.dirichlet(np.full(40, 0.2), size=2)
        p[rng.random(40) < 0.2] = 0.0
        p /= p.sum()
        assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-9)
    near = [rng.dirichlet(np.full(50, 0.3)) for _ in range(50)]
    js = np.array([js_divergence(p, np.nextafter(p, 1.0)) for p in near])
    assert (js >= 0).all() and (js < 1e-15).all()
