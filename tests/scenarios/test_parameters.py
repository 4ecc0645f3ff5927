"""Typed parameters: one object per setting, built from the schema; every adapter over them (the
viz's ``parameters()``, the model's setting-path keywords, sweep specs, the SALib problem, EMA
Workbench) rejects a bad value with the same message as a scenario file."""

from __future__ import annotations

import importlib.util
import pickle
import warnings
from pathlib import Path
from typing import Any

import pytest
from tinyscenario import tiny_dict

from habsburg.experiments.ema import ema_parameter
from habsburg.experiments.sensitivity import problem
from habsburg.experiments.sweep import SweepError, spec_from_dict
from habsburg.model.model import resolve_scenario
from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.parameters import (
    BOOLEAN,
    CATEGORICAL,
    INTEGER,
    MONTH,
    REAL,
    declarations,
    parameter,
    parameters,
)
from habsburg.scenarios.schema import WatermarkConfig, from_dict, load_file

TINY = Path(__file__).parents[1] / "experiments" / "data" / "sweep_tiny.toml"

MODES = "'replace', 'accumulate', 'accumulate_subsample'"
#: (setting path, bad value, the message every adapter gives)
BAD_VALUES = [
    ("watermark.adoption", 1.5, "watermark.adoption: 1.5 is out of range; allowed [0.0, 1.0]"),
    (
        "models.*.data.mode",
        "copy",
        f"models.*.data.mode: 'copy' is not allowed; choose one of {MODES}",
    ),
    ("models.*.retrain_interval", 2.5, "models.*.retrain_interval: expected an integer, got 2.5"),
]
UNKNOWN = (
    "unknown setting path 'watermark.adoptoin': no key 'adoptoin' (did you mean 'adoption'?) "
    "in WatermarkConfig"
)


@pytest.fixture(scope="module")
def base():
    return load_file(TINY)


def test_each_setting_is_one_typed_parameter(base):
    params = parameters(base)
    p = params["watermark.adoption"]
    assert (p.kind, p.low, p.high, p.default, p.fixed_at_start) == (REAL, 0.0, 1.0, 0.0, False)
    assert p.description == WatermarkConfig.__dataclass_fields__["adoption"].metadata["help"]
    p = params["models.*.retrain_interval"]
    assert (p.kind, p.low, p.high, p.default) == (INTEGER, 1, 10_000, 6)  # the first model's
    assert params["models.m2.retrain_interval"].default == 4  # one path per named item too
    assert params["models.*.data.mode"].kind == CATEGORICAL
    assert params["models.*.data.mode"].choices == ("replace", "accumulate", "accumulate_subsample")
    assert params["models.*.data.dedup"].choices == (False, True)
    assert params["models.*.data.dedup"].kind == BOOLEAN
    assert params["start"].kind == MONTH and params["start"].fixed_at_start
    assert params["world.concepts"].fixed_at_start and params["farms.farm.sites"].fixed_at_start
    assert not params["scrapers.*.filters.watermark_threshold"].fixed_at_start
    assert "models.*.name" not in params and "source" not in params  # names are not settings
    # built once from the declarations: every pattern path of the schema is there
    assert set(declarations()) >= {"watermark.adoption", "models.*.data.mode", "farms.*.sites"}
    assert declarations()["watermark.adoption"].default == 0.0
    # plain data: they pickle to worker processes and still validate there
    copied = pickle.loads(pickle.dumps(params))
    assert copied["watermark.adoption"] == params["watermark.adoption"]
    assert copied["watermark.adoption"].validate(1) == 1.0


def test_validate_returns_the_value_the_schema_stores(base):
    params = parameters(base)
    assert params["watermark.adoption"].validate(1) == 1.0
    assert isinstance(params["watermark.adoption"].validate(1), float)
    assert params["models.*.launch"].validate("2023-04") == "2023-04"
    with pytest.raises(ScenarioError, match=r"expected a month as 'YYYY-MM'"):
        params["models.*.launch"].validate("2023-13")
    assert params["watermark.adoption"].bounds() == (0.0, 1.0)
    assert params["watermark.adoption"].bounds([0.2, 0.4]) == (0.2, 0.4)
    with pytest.raises(ScenarioError, match="has no declared choices"):
        params["models.*.data.distill_from"].categories()


def _messages(base, path: str, value) -> dict[str, str]:
    """The error each adapter raises for ``value`` at ``path``."""
    out = {}
    # a scenario file (an intervention sets the path: the same check as a [section] key)
    data = tiny_dict(interventions=[{"at_step": 2, "set": {path: value}}])
    with pytest.raises(ScenarioError) as err:
        from_dict(data, "file.toml")
    out["scenario file"] = str(err.value)
    # the viz's sliders and anything else that reads parameters(scenario)
    with pytest.raises(ScenarioError) as err:
        parameters(base)[path].validate(value, "viz")
    out["parameters()"] = str(err.value)
    # the model's flat setting-path keywords (what the viz's Reset and mesa.batch_run pass)
    with pytest.raises(ScenarioError) as err:
        resolve_scenario(base, None, {path: value})
    out["EcosystemModel keywords"] = str(err.value)
    spec = {"scenario": str(TINY), "parameters": [{"path": path, "values": [value]}]}
    with pytest.raises(SweepError) as err:
        spec_from_dict(spec, "sweep.toml")
    out["sweep"] = str(err.value)
    if isinstance(value, float):  # SALib: a range bound
        spec = {"scenario": str(TINY), "parameters": [{"path": path, "range": [1, value]}]}
        with pytest.raises(SweepError) as err:
            spec_from_dict(spec, "sensitivity.toml", sampled=True)
        out["SALib"] = str(err.value)
    if importlib.util.find_spec("ema_workbench") is not None:
        bounds = (1, value) if isinstance(value, float) else [value]
        with warnings.catch_warnings(), pytest.raises(ScenarioError) as err:
            warnings.simplefilter("ignore")  # "ipyparallel not installed"
            ema_parameter(base, path, bounds)
        out["EMA"] = str(err.value)
    return out


@pytest.mark.parametrize(("path", "value", "message"), BAD_VALUES)
def test_every_adapter_rejects_a_bad_value_with_the_same_message(base, path, value, message):
    messages = _messages(base, path, value)
    assert set(messages) >= {"scenario file", "parameters()", "EcosystemModel keywords", "sweep"}
    for adapter, text in messages.items():
        assert message in text, adapter
    assert messages["scenario file"].startswith("file.toml: ")
    assert messages["sweep"].startswith("sweep.toml: parameters[0].values: ")


def test_every_adapter_rejects_an_unknown_path_with_the_same_message(base):
    texts = []
    with pytest.raises(ScenarioError) as err:
        parameters(base)["watermark.adoptoin"]
    texts.append(str(err.value))
    with pytest.raises(ScenarioError) as err:
        parameter(base, "watermark.adoptoin", "viz")
    texts.append(str(err.value))
    with pytest.raises(ScenarioError) as err:
        from_dict(tiny_dict(interventions=[{"at_step": 1, "set": {"watermark.adoptoin": 0.5}}]))
    texts.append(str(err.value))
    for sampled in (False, True):  # sweep, SALib
        spec = {"scenario": str(TINY), "parameters": [{"path": "watermark.adoptoin"}]}
        with pytest.raises(SweepError) as err:
            spec_from_dict(spec, "spec.toml", sampled=sampled)
        texts.append(str(err.value))
    assert all(UNKNOWN in t for t in texts), texts
    with pytest.raises(ScenarioError, match="names cannot be changed"):
        parameters(base)["models.*.name"]
    with pytest.raises(ScenarioError, match="no models item 'm9'"):
        parameters(base)["models.m9.temperature"]


def test_salib_problem_reads_the_declared_range(base):
    spec = spec_from_dict(
        {
            "scenario": str(TINY),
            "parameters": [
                {"path": "watermark.adoption"},
                {"path": "models.*.retrain_interval", "range": [2, 8]},
            ],
        },
        "s.toml",
        sampled=True,
    )
    assert problem(spec) == {
        "num_vars": 2,
        "names": ["watermark.adoption", "models.*.retrain_interval"],
        "bounds": [[0.0, 1.0], [2.0, 8.0]],
    }


def test_spec_keys_are_checked_by_the_schema_code():
    cases: list[tuple[dict[str, Any], str]] = [
        ({"stepz": 3}, r"spec\.toml: unknown key 'stepz' \(did you mean 'steps'\?\); allowed: "),
        ({"sensitivity": {"sobol_sample": 8}}, r"'sensitivity\.sobol_sample'.*'sobol_samples'"),
        ({"seeds": "two"}, r"seeds: expected an integer, got 'two'"),
    ]
    for key, message in cases:
        spec = {"scenario": str(TINY), "parameters": [{"path": "watermark.adoption"}], **key}
        with pytest.raises(SweepError, match=message):
            spec_from_dict(spec, "spec.toml")
