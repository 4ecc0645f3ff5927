"""Claims per fact of a training set (``fact_claims_median`` / ``fact_claims_p10``): what the
fact learner of each generation is fitted to, recorded per model in the ``models`` table."""

import math

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tinyscenario import TINY, tiny_scenario

from habsburg.ecosystem.training import claims_per_fact
from habsburg.model.model import EcosystemModel
from habsburg.scenarios.library import scaled


def test_claims_per_fact_counts_only_the_facts_mentioned():
    counts = np.zeros((6, 3))
    counts[0] = [4, 0, 1]  # 5 claims
    counts[2] = [0, 1, 0]  # 1
    counts[5] = [2, 2, 6]  # 10; facts 1, 3, 4 are never mentioned
    median, p10 = claims_per_fact(counts)
    assert median == 5.0
    assert p10 == np.float64(1.0) + 0.2 * (5.0 - 1.0)  # linear between the 1st and 2nd of 3
    assert all(math.isnan(v) for v in claims_per_fact(np.zeros((4, 2))))


@given(
    arrays(np.int64, st.tuples(st.integers(1, 30), st.integers(2, 5)), elements=st.integers(0, 9))
)
def test_claims_per_fact_is_the_percentile_of_the_nonzero_row_totals(counts):
    totals = counts.sum(axis=1)
    median, p10 = claims_per_fact(counts)
    if not (totals > 0).any():
        assert math.isnan(median) and math.isnan(p10)
        return
    nonzero = totals[totals > 0]
    assert median == np.median(nonzero)
    assert p10 == np.percentile(nonzero, 10)
    assert nonzero.min() <= p10 <= median <= nonzero.max()


def _models_table(model: EcosystemModel) -> pd.DataFrame:
    return model.datacollector.get_agenttype_vars_dataframe(type(model.models[0]))


def test_the_models_table_records_the_claims_the_learner_was_fitted_to():
    # sensor data for one model, distillation from another for a second: claims added after
    # the web's and the reservoir's, which the learner is fitted to as well
    models = [dict(m, data=dict(m["data"])) for m in TINY["models"]]
    models[2]["data"]["sensor_fraction"] = 0.3
    models[1]["data"].update(distill_from="a", distill_fraction=0.3)
    model = EcosystemModel(tiny_scenario(models=models), seed=3)
    for _ in range(30):
        model.step()
    table = _models_table(model)
    last = table.xs(model.steps, level="Step")
    for agent in model.models:
        row = last[last["name"] == agent.name].iloc[0]
        if agent.learners is None:  # never trained: nothing to count
            assert math.isnan(row["training_fact_claims_median"])
            continue
        # the counts the deployed generation's fact learner holds, sensor and distilled claims
        # included
        median, p10 = claims_per_fact(agent.learners.facts.counts_)
        assert row["training_fact_claims_median"] == median > 0
        assert row["training_fact_claims_p10"] == p10 > 0
    first = table.xs(1, level="Step")
    assert first["training_fact_claims_median"].isna().all()  # no model has trained yet


def test_a_scaled_web_gives_each_fact_proportionally_more_claims():
    """``scaled(sc, f)`` multiplies the training budgets: the facts (the same ones) get about f
    times the claims, which is why wrong values stop winning facts at scale (README, scale study)."""

    def medians(factor: float) -> float:
        sc = tiny_scenario() if factor == 1 else scaled(tiny_scenario(), factor)
        model = EcosystemModel(sc, seed=5)
        for _ in range(36):
            model.step()
        trained = [a for a in model.models if a.learners is not None]
        assert trained
        return float(np.mean([a.training_stats["fact_claims_median"] for a in trained]))

    one, four = medians(1), medians(4)
    assert 3.0 < four / one < 5.0
