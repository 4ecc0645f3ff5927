"""DESIGN.md mechanisms of the wired model that had no test comparing the real code with the
formula: human claim errors, fact popularity, assistant adoption, AI demand, market shares,
retrain schedules, the detector-measured synthetic share and the training-data policy.

Each test runs the real model (the tiny scenario, a fraction of a second) or the real
``build_training_set`` and compares with the formula computed here. Monte Carlo bounds: 4 standard
errors, or a chi-square p-value above 1e-4 (a correct implementation fails 1 time in 10⁴; the
seeds are fixed).
"""

from __future__ import annotations

import numpy as np
import pytest
from batches import build_from_pool
from scipy import stats
from scipy.special import expit
from tinyscenario import tiny_scenario

from habsburg.ecosystem.store import FARM, HUMAN, HYBRID, MODEL, REPOST
from habsburg.model.model import EcosystemModel
from habsburg.scenarios.schema import DataPolicy, set_setting

P_MIN = 1e-4


def _chisquare_p(observed: np.ndarray, probs: np.ndarray) -> float:
    observed = np.asarray(observed, dtype=np.float64)
    if observed[probs <= 0].any():
        return 0.0
    observed, probs = observed[probs > 0], probs[probs > 0]  # (empty bins)
    return float(stats.chisquare(observed, observed.sum() * probs / probs.sum()).pvalue)


def _mass_bins(probs: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each outcome: outcomes sorted by probability, cut into bins of about equal mass."""
    order = np.argsort(probs)
    cum = np.cumsum(probs[order])
    bins = np.empty(probs.size, dtype=np.int64)
    bins[order] = np.minimum((cum / cum[-1] * n_bins).astype(np.int64), n_bins - 1)
    return bins


def _stepped(months: int, **settings: object) -> EcosystemModel:
    sc = tiny_scenario()
    for path, value in settings.items():
        set_setting(sc, path.replace("__", "."), value)
    m = EcosystemModel(sc)
    for _ in range(months):
        m.step()
    return m


# --- facts (DESIGN "The world": Zipf facts; humans claim the true value but for an error rate) ---
def test_human_claims_are_true_but_for_the_error_rate_and_follow_fact_popularity() -> None:
    m = _stepped(12, humans__error_rate=0.2)  # months before launch: no assistant, no model
    store, world = m.internet.store, m.world
    kind = store.kind[: len(store)]
    assert set(np.unique(kind).tolist()) <= {HUMAN, REPOST}
    ids = np.flatnonzero(kind == HUMAN)  # (reposts copy these claims)
    _, claims = store.claim_rows(ids)
    facts, values = store.claims_at(claims)
    facts, values = facts.astype(np.int64), values.astype(np.int64)
    wrong = values != world.true_values[facts]
    n = wrong.size
    assert n > 5000
    assert abs(wrong.mean() - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)
    # a wrong claim is uniform over the V − 1 other values
    V = world.config.values_per_fact
    shift = (values[wrong] - world.true_values[facts[wrong]]) % V
    assert _chisquare_p(np.bincount(shift, minlength=V)[1:], np.ones(V - 1)) > P_MIN
    # facts are claimed in proportion to their (Zipf) popularity
    bins = _mass_bins(world.fact_popularity, 20)
    expected = np.bincount(bins, weights=world.fact_popularity, minlength=20)
    assert _chisquare_p(np.bincount(bins[facts], minlength=20), expected) > P_MIN


# --- adoption (DESIGN "A growing fraction of them use an AI assistant"; "AI demand grows") -------
def test_share_of_authors_with_an_assistant_is_the_adoption_curve() -> None:
    sc = tiny_scenario(humans={"authors": 4000})
    m = EcosystemModel(sc)
    curve = sc.humans.assistant
    start = sc.month_to_step(curve.start)
    for step in (start - 1, start, start + 6, start + 12, start + 20, start + 35):
        level = 0.0 if step < start else curve.ceiling * expit(curve.rate * (step - start - 12.0))
        share = m.humans.assisted(step).mean()
        se = max(np.sqrt(level * (1 - level) / 4000), 1e-12)
        assert abs(share - level) < 4 * se, (step, share, level)


def test_model_users_publish_poisson_demand_split_by_market_share() -> None:
    """Documents model users post in month t ~ Poisson(demand_t · share); the shares of the deployed
    models sum to one, so the month's total is Poisson(demand_t) with the logistic demand."""
    sc = tiny_scenario()
    m = EcosystemModel(sc)
    d = sc.demand.adoption
    start = sc.month_to_step(d.start)
    published, demand = 0, 0.0
    for _ in range(30):
        m.step()
        t = m.month
        deployed = m.deployed_models()
        if t <= sc.launch_step or not deployed:  # (shares are set after the first retrain)
            continue
        expected = d.ceiling * expit(d.rate * (t - start - d.midpoint))
        assert m.ai_demand() == pytest.approx(expected)
        new = m.internet.store.step_slice(t, t)
        published += int((m.internet.store.kind[new] == MODEL).sum())
        demand += expected
    assert demand > 1000
    assert abs(published - demand) < 4 * np.sqrt(demand), (published, demand)


def test_market_shares_relax_toward_capability_attractiveness() -> None:
    """share' ∝ inertia·share + (1 − inertia)·target, target ∝ appeal·exp(−s·(capability − best))
    (the documented form of DESIGN's "better models gain users")."""
    m = _stepped(20)
    deployed = m.deployed_models()
    assert len(deployed) == 3
    caps = np.array([2.0, 2.5, 3.1])
    appeal = np.array([1.0, 2.0, 0.5])
    share = np.array([0.5, 0.3, 0.2])
    for a, c, ap, s in zip(deployed, caps, appeal, share, strict=True):
        a.metrics = {**a.metrics, "capability": float(c)}
        a.config.appeal = float(ap)
        a.market_share = float(s)
    m.update_market()
    dc = m.config.demand
    target = appeal * np.exp(-dc.quality_sensitivity * (caps - caps.min()))
    target /= target.sum()
    expected = dc.inertia * share + (1 - dc.inertia) * target
    expected /= expected.sum()
    np.testing.assert_allclose([a.market_share for a in deployed], expected, rtol=1e-12)


# --- retraining (DESIGN "retrain interval"; "a new generation replaces the deployed one") ---------
def test_generations_are_trained_at_launch_and_every_interval_after() -> None:
    sc = tiny_scenario()
    m = EcosystemModel(sc)
    trained: dict[str, list[int]] = {a.name: [] for a in m.models}
    last = {a.name: a.generation for a in m.models}
    for _ in range(40):
        m.step()
        for a in m.models:
            if a.generation != last[a.name]:
                assert a.generation == last[a.name] + 1
                trained[a.name].append(m.month)
                last[a.name] = a.generation
    for a in m.models:
        launch = sc.month_to_step(a.config.launch)
        interval = a.config.retrain_interval
        assert trained[a.name] == list(range(launch, 40, interval)), a.name


# --- measurement (DESIGN "Documents": true and detector-measured synthetic share) -----------------
def test_true_share_is_the_mean_synthetic_fraction_and_measured_share_the_detector_rate() -> None:
    """Flow: true share = mean synthetic fraction of the month's documents; measured share = the
    share flagged by a detector that flags a document of fraction s with probability
    fpr + (tpr − fpr)·s. Stock: the same over every document so far."""
    sc = tiny_scenario(measurement={"tpr": 0.7, "fpr": 0.1})
    m = EcosystemModel(sc)
    flags = flagged_expected = flagged_var = 0.0
    for _ in range(30):
        m.step()
        store, t = m.internet.store, m.month
        sf = store.synthetic_fraction[store.step_slice(t, t)].astype(np.float64)
        obs = m.observer.month
        assert obs is not None and obs.new_documents == sf.size
        assert obs.synthetic_share_new == pytest.approx(sf.mean(), rel=1e-12)
        p = 0.1 + 0.6 * sf
        flags += obs.synthetic_share_new_measured * sf.size
        flagged_expected += p.sum()
        flagged_var += (p * (1 - p)).sum()
    every = m.internet.store.synthetic_fraction[: len(m.internet.store)].astype(np.float64)
    assert m.observer.month is not None
    assert m.observer.month.synthetic_share_stock == pytest.approx(every.mean(), rel=1e-9)
    assert abs(flags - flagged_expected) < 4 * np.sqrt(flagged_var), (flags, flagged_expected)


# --- the training-data policy (DESIGN "Training data policy") ------------------------------------
@pytest.fixture(scope="module")
def web() -> EcosystemModel:
    return _stepped(30, models__a__hallucination_rate=0.3)


_build = build_from_pool  # (tests/batches.py)


def test_verifier_drops_synthetic_documents_with_wrong_facts_at_its_rates(
    web: EcosystemModel,
) -> None:
    store = web.internet.store
    pool = np.arange(store.step_slice(20, 29).start, store.step_slice(20, 29).stop)
    synthetic = store.synthetic_fraction[pool] > 0
    has_error = store.has_wrong_claim(pool)
    n_bad, n_good = int((synthetic & has_error).sum()), int((synthetic & ~has_error).sum())
    assert n_bad > 200 and n_good > 200
    # a perfect verifier drops exactly the synthetic documents with a wrong fact
    perfect = DataPolicy(budget=10**9, mode="replace", verifier_recall=1.0, dedup=False)
    kept = _build(web, perfect, pool, 1).doc_ids
    np.testing.assert_array_equal(np.sort(kept), pool[~(synthetic & has_error)])
    # an imperfect one: each bad one with probability recall, each good one with false_reject,
    # human documents never
    recall, false_reject = 0.6, 0.1
    policy = DataPolicy(
        budget=10**9,
        mode="replace",
        verifier_recall=recall,
        verifier_false_reject=false_reject,
        dedup=False,
    )
    data = _build(web, policy, pool, 2)
    dropped = np.setdiff1d(pool, data.doc_ids)
    assert not np.isin(pool[~synthetic], dropped).any()
    bad = np.isin(pool[synthetic & has_error], dropped).sum()
    good = np.isin(pool[synthetic & ~has_error], dropped).sum()
    assert abs(bad - recall * n_bad) < 4 * np.sqrt(n_bad * recall * (1 - recall))
    assert abs(good - false_reject * n_good) < 4 * np.sqrt(
        n_good * false_reject * (1 - false_reject)
    )
    assert data.stats["verifier_dropped"] == bad + good


def test_budget_splits_into_web_reservoir_and_sensor_shares(web: EcosystemModel) -> None:
    store = web.internet.store
    pool = np.arange(store.step_slice(25, 29).start, store.step_slice(25, 29).stop)
    budget = 1000
    policy = DataPolicy(
        budget=budget, mode="replace", human_reservoir=0.25, sensor_fraction=0.15, dedup=False
    )
    data = _build(web, policy, pool, 3)
    n_res, n_sensor = round(0.25 * budget), round(0.15 * budget)
    assert data.stats["reservoir_documents"] == n_res
    assert data.stats["sensor_documents"] == n_sensor
    assert data.stats["web_documents"] == budget - n_res - n_sensor
    web_ids, reservoir = data.doc_ids[: budget - n_res - n_sensor], data.doc_ids[-n_res:]
    assert np.isin(web_ids, pool).all()
    # the reservoir is licensed pre-AI human data: human documents before the launch
    assert (store.kind[reservoir] == HUMAN).all()
    assert (store.step[reservoir] < web.config.launch_step).all()
    # synthetic share of the set: synthetic fractions over every document (sensor data is human)
    sf = store.synthetic_fraction[data.doc_ids].astype(np.float64)
    assert data.stats["synthetic_share"] == pytest.approx(sf.sum() / budget, rel=1e-6)
    assert data.stats["documents"] == budget


def test_sensor_data_is_fresh_ground_truth(web: EcosystemModel) -> None:
    """Sensor (physical-world) data cannot be faked: its claims are the true values, its concepts
    are drawn from the human reference p_H (chi-square over bins of equal p_H mass)."""
    policy = DataPolicy(budget=2000, mode="replace", sensor_fraction=1.0, dedup=False)
    data = _build(web, policy, np.zeros(0, np.int64), 4)
    world = web.world
    assert data.doc_ids.size == 0 and data.stats["sensor_documents"] == 2000
    facts, values = np.nonzero(data.fact_counts)
    np.testing.assert_array_equal(values, world.true_values[facts])
    bins = _mass_bins(world.p_human, 25)
    observed = np.bincount(bins, weights=data.concept_counts, minlength=25)
    expected = np.bincount(bins, weights=world.p_human, minlength=25)
    assert observed.sum() > 10_000
    assert _chisquare_p(observed, expected) > P_MIN
    assert data.stats["synthetic_share"] == 0.0


def test_kinds_published_match_the_design_producers(web: EcosystemModel) -> None:
    """Producers of DESIGN "Documents": human, hybrid, model, farm (and reposts); synthetic
    fraction 0 for human, 1 for model and farm output without user edits, in between for hybrids."""
    store = web.internet.store
    kind = store.kind[: len(store)]
    sf = store.synthetic_fraction[: len(store)]
    assert {HUMAN, HYBRID, MODEL, FARM, REPOST} <= set(np.unique(kind).tolist())
    assert (sf[kind == HUMAN] == 0).all()
    assert ((sf[kind == HYBRID] > 0) & (sf[kind == HYBRID] < 1)).all()
    assert (sf[kind == FARM] == 1).all()
