"""The model's reporters, observation stream and Mesa conventions: measuring more or less never
changes the simulated trajectory; flat setting-path keywords work with ``mesa.batch_run``."""

import inspect
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
import pytest
from tinyscenario import tiny_scenario

from habsburg.model import reporters
from habsburg.model.model import EcosystemModel
from habsburg.scenarios.errors import ScenarioError

STEPS = 30


def _run(model: EcosystemModel, steps: int = STEPS) -> EcosystemModel:
    while model.steps < steps:
        model.step()
    return model


def _trajectory(model: EcosystemModel) -> dict[str, np.ndarray]:
    store = model.internet.store
    return {
        "kind": store.kind.copy(),
        "site": store.site.copy(),
        "green": store.green.copy(),
        "concepts": store.concepts.copy(),
        "claim_values": store.claim_values.copy(),
        "style": store.style.copy(),
        "shares": np.array([a.market_share for a in model.models]),
    }


def test_removing_or_adding_reporters_leaves_the_trajectory_bit_identical():
    full = _run(EcosystemModel(tiny_scenario(), seed=4))
    lean = EcosystemModel(tiny_scenario(), seed=4)
    keep = {"new_documents": reporters.MODEL_METRICS["new_documents"]}
    lean.datacollector = reporters.data_collector(keep)
    _run(lean)
    extra = EcosystemModel(tiny_scenario(), seed=4)
    more = dict(reporters.MODEL_METRICS)
    # an extra reporter that itself draws from the observation stream
    more["probe"] = reporters.Metric("probe", "draws", lambda m: float(m.observer.rng.random()))
    extra.datacollector = reporters.data_collector(more)
    _run(extra)
    a, b, c = _trajectory(full), _trajectory(lean), _trajectory(extra)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        np.testing.assert_array_equal(a[key], c[key], err_msg=key)
    # the measured series of the full run differ from the lean run only in what was recorded
    assert list(lean.datacollector.get_model_vars_dataframe().columns) == ["new_documents"]


def test_observation_has_its_own_stream():
    m = EcosystemModel(tiny_scenario(), seed=4)
    before = m.rng.bit_generator.state
    m.observer.rng.random(1000)
    assert m.rng.bit_generator.state == before


def test_every_metric_is_declared_once_with_a_meaning():
    cols = set(reporters.column_descriptions())
    for table in (reporters.MODEL_METRICS, reporters.GENERATIVE_METRICS, reporters.SCRAPER_METRICS):
        for name, metric in table.items():
            assert metric.name == name and metric.description and name in cols
    m = _run(EcosystemModel(tiny_scenario(), seed=1), 3)
    assert list(m.datacollector.get_model_vars_dataframe().columns) == list(reporters.MODEL_METRICS)


def test_a_scenario_is_given_by_object_name_or_path():
    import habsburg.scenarios.library as library

    path = Path(library.__file__).parent / "library" / "monoculture.toml"
    by_path, by_text = EcosystemModel(path, seed=1), EcosystemModel(str(path), seed=1)
    assert by_path.config.name == by_text.config.name == EcosystemModel("monoculture").config.name
    assert EcosystemModel(config=path, seed=1).config.to_dict() == by_path.config.to_dict()


def test_flat_setting_keywords_and_batch_run():
    half: dict[str, Any] = {"watermark.adoption": 0.5}
    m = EcosystemModel("baseline", seed=3, **half)
    assert m.config.watermark.adoption == 0.5 and m.config.seed == 3
    with pytest.raises(ScenarioError, match=r"watermark\.adoption"):
        EcosystemModel(tiny_scenario(), **{**half, "watermark.adoption": 1.5})
    with pytest.raises(ScenarioError, match="no_such"):
        EcosystemModel(tiny_scenario(), **{**half, "watermark.no_such": 1})
    parameters: dict[str, Any] = {"scenario": [tiny_scenario()], "watermark.adoption": [0.0, 1.0]}
    if "rng" in inspect.signature(mesa.batch_run).parameters:  # Mesa >= 3.4: seeds via rng
        seeding: dict[str, Any] = {"rng": [1, 2]}
    else:  # Mesa 3.3: the seed is a model parameter
        parameters["seed"], seeding = [1, 2], {"iterations": 1}
    results = mesa.batch_run(
        EcosystemModel,
        parameters=parameters,
        max_steps=6,
        number_processes=1,
        display_progress=False,
        **seeding,
    )
    df = pd.DataFrame(results)
    assert set(df["watermark.adoption"]) == {0.0, 1.0} and set(df["seed"]) == {1, 2}
    assert (df["Step"] >= 5).all()
    assert {"synthetic_share_new", "mean_capability"} <= set(df.columns)
    by_adoption = df.groupby("watermark.adoption")["synthetic_share_new"].mean()
    assert by_adoption.notna().all()


def test_config_keyword_and_mesa_own_scenario_object():
    """Mesa >= 3.4 resets a model with ``scenario=<its own Scenario object>``: the model then
    builds from ``config=`` (or the baseline), never from Mesa's object."""

    class MesaScenario:  # stands in for mesa.experimental.scenarios.Scenario
        pass

    theirs: Any = MesaScenario()  # (not a type the signature names: Mesa passes it)
    m = EcosystemModel(theirs, config=tiny_scenario(), seed=2)
    assert m.config.name == tiny_scenario().name and m.config.seed == 2
    assert EcosystemModel(theirs, seed=2).config.name == "baseline"


def test_memoised_model_metrics_follow_retrains_and_decoding_changes():
    """Pairwise JS and the failure ratios are recomputed only when a deployed model's
    distributions change; a decoding change (an intervention) must never leave them stale."""
    from habsburg.ecosystem import metrics as K

    m = _run(EcosystemModel(tiny_scenario(), seed=4))
    deployed = m.deployed_models()
    learners = [a.learners for a in deployed if a.learners is not None]  # (the same objects)
    assert len(learners) == len(deployed) >= 2

    def direct():
        truth = m.world.true_values
        fails = np.array([1 - fitted.facts.correct_probability(truth) for fitted in learners])
        js = K.mean_pairwise_js([fitted.concepts.sampling_probs for fitted in learners])
        return js, K.systemic_failure_ratio(fails), K.pairwise_failure_ratio(fails)

    def reported():
        return (
            reporters.mean_pairwise_js(m),
            reporters.systemic_failure_ratio(m),
            reporters.pairwise_failure_ratio(m),
        )

    assert reported() == direct()
    before = reported()
    learners[0].concepts.set_decoding(temperature=3.0)
    learners[0].facts.set_decoding(hallucination_rate=0.9)
    after = reported()
    assert after == direct()
    assert after[0] != before[0] and after[1:] != before[1:]
