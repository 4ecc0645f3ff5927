"""Human authors write by workflows: the configured mix gives the configured distribution of
synthetic fractions, and hybrids carry watermark evidence only on model-written tokens."""

import numpy as np
import pytest
from tinyscenario import tiny_scenario

from habsburg.agents.human import draw_workflows
from habsburg.ecosystem.store import HUMAN, HYBRID, MODEL
from habsburg.experiments.run import simulate
from habsburg.scenarios.schema import ScenarioError, Workflow

MIX = [
    Workflow("human", 0.2),
    Workflow("polished", 0.4, 0.15, 20.0),
    Workflow("extended", 0.3, 0.45, 10.0),
    Workflow("edited", 0.1, 0.8, 10.0),
]


def test_workflow_mix_gives_the_configured_distribution_of_fractions():
    n = 200_000
    which, sf = draw_workflows(MIX, n, np.random.default_rng(3))
    shares = np.bincount(which, minlength=4) / n
    assert shares == pytest.approx([0.2, 0.4, 0.3, 0.1], abs=0.005)
    assert (sf[which == 0] == 0).all()
    for i, w in enumerate(MIX[1:], start=1):
        part = sf[which == i]
        assert part.mean() == pytest.approx(w.synthetic_mean, abs=0.005)
        # Beta(m·c, (1 − m)·c) has variance m(1 − m)/(c + 1)
        var = w.synthetic_mean * (1 - w.synthetic_mean) / (w.concentration + 1)
        assert part.var() == pytest.approx(var, rel=0.05)
    assert sf.mean() == pytest.approx(0.4 * 0.15 + 0.3 * 0.45 + 0.1 * 0.8, abs=0.005)
    which, sf = draw_workflows(
        [Workflow("verbatim", 1.0), Workflow("human", 3.0)], 40_000, np.random.default_rng(4)
    )
    assert set(np.unique(sf)) == {0.0, 1.0} and (sf == 1).mean() == pytest.approx(0.25, abs=0.01)


HUMANS = {
    "workflows": [
        {
            "name": w.name,
            "weight": w.weight,
            "synthetic_mean": w.synthetic_mean,
            "concentration": w.concentration,
        }
        for w in MIX
    ]
}
DEMAND = {
    "workflows": [
        {"name": "verbatim", "weight": 0.7},
        {"name": "edited", "weight": 0.3, "synthetic_mean": 0.7},
    ]
}


@pytest.fixture(scope="module")
def run():
    labs = [{"name": "north", "watermarks": True}, {"name": "south", "watermarks": True}]
    return simulate(tiny_scenario(humans=HUMANS, demand=DEMAND, labs=labs, end="2022-12"))


def test_human_authors_write_by_the_mix_as_adoption_grows(run):
    store, sc = run.internet.store, run.config
    humans = run.humans
    expected_mean = sum(w.weight * (0 if w.name == "human" else w.synthetic_mean) for w in MIX)
    pooled = []
    for step in range(sc.steps - 12, sc.steps):
        rows = store.step_slice(step, step)
        kind, sf = store.kind[rows], store.synthetic_fraction[rows]
        by_humans = (kind == HUMAN) | (kind == HYBRID)
        adopted = humans.assisted(step)[store.producer[rows][by_humans]]
        assert (sf[by_humans][~adopted] == 0).all()  # authors without an assistant write by hand
        pooled.append(sf[by_humans][adopted])
        hybrid = sf[by_humans] > 0
        assert (kind[by_humans][hybrid] == HYBRID).all()
        assert (kind[by_humans][~hybrid] == HUMAN).all()
    shares = np.concatenate(pooled)
    assert shares.size > 1000
    assert shares.mean() == pytest.approx(expected_mean, abs=0.02)
    assert (shares == 0).mean() == pytest.approx(0.2, abs=0.03)
    # time-varying: the share of co-written documents follows adoption
    early = store.step_slice(sc.launch_step + 1, sc.launch_step + 1)
    late = store.step_slice(sc.steps - 1, sc.steps - 1)
    assert (store.kind[late] == HYBRID).mean() > (store.kind[early] == HYBRID).mean()


def test_watermark_evidence_sits_only_on_model_written_tokens(run):
    store = run.internet.store
    rows = np.arange(len(store))
    kind, sf = store.kind[rows], store.synthetic_fraction[rows].astype(float)
    z = run.watermark.z_scores(store.green[rows], store.tokens[rows])
    assert abs(z[kind == HUMAN].mean()) < 0.05  # no evidence on hand-written text
    hybrid = kind == HYBRID
    # excess green tokens grow with the model-written token count, and vanish without it
    excess = store.green[rows][hybrid] - run.watermark.gamma * store.tokens[rows][hybrid]
    model_tokens = sf[hybrid] * store.tokens[rows][hybrid]
    slope = np.polyfit(model_tokens, excess, 1)[0]
    assert 0.15 < slope < 0.6
    assert np.corrcoef(model_tokens, excess)[0, 1] > 0.5


def test_model_users_post_verbatim_or_edited_output(run):
    store = run.internet.store
    rows = np.flatnonzero(store.kind == MODEL)
    sf = store.synthetic_fraction[rows]
    assert (sf == 1).mean() == pytest.approx(0.7, abs=0.03)
    assert sf[sf < 1].mean() == pytest.approx(0.7, abs=0.03)
    z = run.watermark.z_scores(store.green[rows], store.tokens[rows])
    assert z[sf < 1].mean() < z[sf == 1].mean()  # editing erodes the evidence


@pytest.mark.parametrize(
    ("humans", "message"),
    [
        (
            {"workflows": [{"name": "polished"}, {"name": "polished"}]},
            "humans.workflows names a workflow twice",
        ),
        (
            {"workflows": [{"name": "ghostwritten"}]},
            "'human', 'polished', 'extended', 'edited', 'verbatim'",
        ),
        ({"workflows": [{"name": "edited", "weight": 0.0}]}, "weights sum to 0"),
        (
            {"workflows": [{"name": "edited", "synthetic_mean": 1.5}]},
            "humans.workflows[0].synthetic_mean",
        ),
    ],
)
def test_a_bad_workflow_mix_names_the_key(humans, message):
    with pytest.raises(ScenarioError, match=None) as err:
        tiny_scenario(humans=humans)
    assert message in str(err.value)


@pytest.mark.parametrize("toward", ["synthetic", "internet"])
def test_authors_drift_toward_what_they_read_by_the_formula(toward):
    """Each month every community's interests move c ← (1 − r)·c + r·q: toward the concept mix q
    of the month's synthetic documents (synthetic fraction ≥ 0.5) at r = drift_rate × the
    month's mean synthetic fraction ("synthetic"), or toward the mix of all the month's
    documents at r = drift_rate ("internet", the design's wording)."""
    from habsburg.model.model import EcosystemModel

    sc = tiny_scenario(humans={"drift_rate": 0.2, "drift_toward": toward}, end="2022-12")
    model = EcosystemModel(sc, seed=4)
    humans = model.humans
    store = model.internet.store
    K = model.world.config.concepts
    moved = 0
    for _ in range(sc.steps):
        before = humans.community_concepts.copy()
        model.step()
        new = store.step_slice(model.month, model.month)  # the month just simulated
        ids = np.arange(new.start, new.stop)
        sf = store.synthetic_fraction[new].astype(np.float64)
        if toward == "synthetic":
            rate, ids = float(0.2 * sf.mean()), ids[sf >= 0.5]
        else:
            rate = 0.2
        _, values = store.concept_rows(ids)
        q = np.bincount(values, minlength=K) / max(values.size, 1)
        expected = (1 - rate) * before + rate * q[None, :] if values.size else before
        np.testing.assert_allclose(humans.community_concepts, expected, rtol=0, atol=1e-12)
        moved += not np.array_equal(expected, before)
    assert moved >= sc.steps // 2  # the formula was exercised, not only the no-drift months
    np.testing.assert_allclose(humans.community_concepts.sum(axis=1), 1.0, atol=1e-12)
