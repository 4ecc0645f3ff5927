"""Named outcomes computed from a run's tables: ``final_min_fact_claims`` (the thinnest training
data of any deployed model), against the model it was computed from."""

import math

import pandas as pd
from tinyscenario import tiny_scenario

from habsburg.experiments.outcomes import (
    OUTCOMES,
    SCALARS,
    OutcomeTables,
    final_min_fact_claims,
    outcome_tables,
)
from habsburg.model.model import EcosystemModel


def test_final_min_fact_claims_is_the_thinnest_deployed_models_latest_set():
    model = EcosystemModel(tiny_scenario(), seed=3)
    for _ in range(30):
        model.step()
    deployed = [a for a in model.models if a.deployed]
    assert len(deployed) >= 2
    medians = [a.training_stats["fact_claims_median"] for a in deployed]
    assert len(set(medians)) > 1  # (the models differ, so the minimum is a choice)
    assert final_min_fact_claims(outcome_tables(model)) == min(medians)
    assert "final_min_fact_claims" in SCALARS
    assert OUTCOMES["final_min_fact_claims"].kind == "scalar"


def test_final_min_fact_claims_ignores_models_not_deployed_and_old_results():
    models = pd.DataFrame(
        {
            "step": [5, 5, 5, 4],
            "deployed": [True, True, False, True],
            "training_fact_claims_median": [7.0, 3.0, 1.0, 0.5],
        }
    )
    tables = OutcomeTables(pd.DataFrame({"step": [4, 5]}), models)
    assert final_min_fact_claims(tables) == 3.0  # month 5's deployed models only
    old = OutcomeTables(pd.DataFrame({"step": [5]}), models.drop(columns=models.columns[2]))
    assert math.isnan(final_min_fact_claims(old))  # written before the column existed
