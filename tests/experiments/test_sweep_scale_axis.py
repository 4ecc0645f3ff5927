"""A swept ``scale``: each point of a sweep (or a sensitivity analysis) run at its own scale
factor, as ``scaled(scenario, F)`` after the point's settings; the spec's own ``scale`` and
``--scale`` give every point one factor, so neither goes with a swept one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from habsburg.cli import main
from habsburg.experiments import limits
from habsburg.experiments.sweep import (
    SweepError,
    load_spec,
    plan_spec,
    point_scenario,
    run_sweep,
    spec_from_dict,
    with_scale,
)
from habsburg.scenarios.library import load_scenario, scaled

TINY = Path(__file__).parent / "data" / "sweep_tiny.toml"
HEADER = f'name = "scales"\nscenario = "{TINY.as_posix()}"\nseeds = 2\nsteps = 8\n'
ADOPTION = '[[parameters]]\npath = "watermark.adoption"\nvalues = [0.0, 1.0]\n'


def _spec(text: str) -> dict:
    import tomllib

    return tomllib.loads(text)


def test_a_swept_scale_runs_each_point_as_the_sweep_scaled_by_its_factor(tmp_path):
    swept = plan_spec(
        spec_from_dict(_spec(HEADER + '[[parameters]]\npath = "scale"\nvalues = [1.0, 3.0]\n'))
    )
    assert swept.parameters == ["scale"] and swept.scale is None
    run_sweep(swept, tmp_path / "swept", serial=True, progress=False)
    fixed = plan_spec(with_scale(spec_from_dict(_spec(HEADER + ADOPTION)), 3.0))
    fixed.tasks = [t for t in fixed.tasks if t.settings == (("watermark.adoption", 0.0),)]
    run_sweep(fixed, tmp_path / "fixed", serial=True, progress=False)
    runs = pd.read_parquet(tmp_path / "swept" / "results.parquet")
    at3 = runs[runs["scale"] == 3.0].reset_index(drop=True)
    reference = pd.read_parquet(tmp_path / "fixed" / "results.parquet")
    # the same seeds, the same runs: the point at 3 is the sweep scaled by 3, bit for bit
    assert list(at3["seed"]) == list(reference["seed"])
    for outcome in ("final_synthetic_share_new", "final_mean_tail_coverage"):
        np.testing.assert_array_equal(at3[outcome].to_numpy(), reference[outcome].to_numpy())
    at1 = runs[runs["scale"] == 1.0]["final_synthetic_share_new"].to_numpy()
    assert (at1 != at3["final_synthetic_share_new"].to_numpy()).any()  # and not the 1x runs


def test_the_scale_comes_after_the_points_settings():
    base = load_scenario(TINY)
    point = point_scenario(base, [("scale", 10.0), ("scrapers.*.docs_per_crawl", 50)])
    expected = point_scenario(base, [("scrapers.*.docs_per_crawl", 50)], 10.0)
    assert point.to_dict() == expected.to_dict()
    assert (
        point.to_dict()
        == scaled(point_scenario(base, [("scrapers.*.docs_per_crawl", 50)]), 10).to_dict()
    )
    assert point.scrapers[0].docs_per_crawl == 500  # the swept value read at 1x, then scaled
    assert point_scenario(base, [("scale", 1.0)]).to_dict() == base.to_dict()  # 1: unscaled


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "scale = 2.0\n" + '[[parameters]]\npath = "scale"\nvalues = [0.5, 1.0]\n',
            "'scale' = 2 and a swept 'scale' (parameters[0]): each point runs at its own factor",
        ),
        (
            '[[parameters]]\npath = "scale"\n',
            "parameters[0]: a swept 'scale' needs 'values' or a 'range' of factors",
        ),
        (
            '[[parameters]]\npath = "scale"\nvalues = [0.0, 1.0]\n',
            "parameters[0].values: scale: 0.0 is out of range; allowed [1e-06, 1000000.0]",
        ),
        (
            '[[parameters]]\npath = "scale"\nrange = [1.0, 1e7]\nnum = 2\n',
            "parameters[0].range: scale: 10000000.0 is out of range",
        ),
        (
            '[[parameters]]\npath = "scale"\nvalues = [1.0, 2.0, 1.0]\n',
            "parameters[0].values: 1.0 is listed twice",
        ),
        # log ranges (below)
        (
            '[[parameters]]\npath = "scale"\nvalues = [1.0, 2.0]\nlog = true\n',
            "parameters[0].log: 'log' spaces a range; 'values' run as listed",
        ),
        (
            '[[parameters]]\npath = "humans.error_rate"\nrange = [0.0, 0.3]\nnum = 3\nlog = true\n',
            "parameters[0].log: a log range needs low > 0, got [0.0, 0.3] for 'humans.error_rate'",
        ),
        (
            '[[parameters]]\npath = "models.*.data.mode"\nlog = true\n',
            "parameters[0].log: 'models.*.data.mode' is categorical, not numeric",
        ),
    ],
)
def test_bad_swept_scales_and_log_ranges_are_refused_naming_the_key(extra, message):
    with pytest.raises(SweepError) as err:
        spec_from_dict(_spec(HEADER + extra), "spec.toml")
    assert str(err.value).startswith("spec.toml: ") and message in str(err.value)


def test_the_scale_flag_is_refused_with_a_swept_scale(tmp_path, capsys):
    spec = tmp_path / "scales.toml"
    spec.write_text(HEADER + '[[parameters]]\npath = "scale"\nvalues = [1.0, 2.0]\n')
    with pytest.raises(SweepError, match=r"--scale 3: .* sweeps 'scale'"):
        with_scale(load_spec(spec), 3.0)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--serial", "--scale", "3", "--out", str(out)]) == 2
    assert "drop --scale or the swept 'scale'" in capsys.readouterr().err and not out.exists()


def test_a_sensitivity_analysis_samples_the_scale_over_its_range():
    spec = spec_from_dict(
        _spec(HEADER + '[[parameters]]\npath = "scale"\nrange = [0.5, 2.0]\n' + ADOPTION),
        sampled=True,
    )
    axis = spec.parameters[0]
    assert (axis.path, axis.low, axis.high) == ("scale", 0.5, 2.0)
    assert axis.from_unit(np.array([0.0, 0.5])) == [0.5, 1.25]


def test_the_memory_check_refuses_the_largest_swept_scale_before_any_run(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(limits, "available_memory", lambda: 16 * 2**30)  # a 16 GiB machine

    def forbidden(*args, **kwargs):
        raise AssertionError("the sweep started before its largest scale was checked")

    monkeypatch.setattr("habsburg.experiments.sweep.orchestration.run_tasks", forbidden)
    spec = tmp_path / "big.toml"
    spec.write_text('name = "big"\n[[parameters]]\npath = "scale"\nvalues = [1.0, 200.0]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--serial", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "scenario 'baseline-x200' is projected to publish ~408," in err
    assert "(the swept 'scale' multiplies the scenario's sizes" in err and not out.exists()
    # past 256 points (the first 300 at 1x), at the corner of the swept values: scale 150
    spec.write_text(
        'name = "big"\n[[parameters]]\npath = "scale"\nvalues = [1.0, 150.0]\n'
        '[[parameters]]\npath = "humans.error_rate"\nrange = [0.0, 0.3]\nnum = 300\n'
    )
    assert main(["sweep", str(spec), "--serial", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "(at scale = 150.0, humans.error_rate = 0.3: the corner of the swept values" in err


# --------------------------------------------------------------------------------------------
# Log ranges: a scale (or any positive setting) over orders of magnitude
# --------------------------------------------------------------------------------------------
def test_a_log_grid_is_evenly_spaced_in_log10_with_exact_ends():
    spec = spec_from_dict(
        _spec(
            HEADER + '[[parameters]]\npath = "scale"\nrange = [0.3, 30.0]\nnum = 5\nlog = true\n'
            '[[parameters]]\npath = "humans.authors"\nrange = [10, 1000]\nnum = 3\nlog = true\n'
        )
    )
    scale, authors = spec.parameters
    # 10**log10(3) is 2.9999999999999996: values are rounded to 12 significant digits
    assert scale.grid() == [0.3, 0.948683298051, 3.0, 9.48683298051, 30.0]
    assert authors.grid() == [10, 100, 1000] and all(isinstance(v, int) for v in authors.grid())
    assert spec.runs == 5 * 3 * 2
    linear = spec_from_dict(
        _spec(HEADER + '[[parameters]]\npath = "scale"\nrange = [0.3, 30.0]\nnum = 5\n')
    )
    assert linear.parameters[0].grid() == [0.3, 7.725, 15.15, 22.575, 30.0]  # (without log)


def test_a_log_sample_is_log_uniform_within_the_range():
    spec = spec_from_dict(
        _spec(
            HEADER + 'method = "latin"\nsamples = 200\n'
            '[[parameters]]\npath = "scale"\nrange = [1.0, 10000.0]\nlog = true\n'
        )
    )
    values = np.array([p["scale"] for p in spec.points()])
    assert values.min() >= 1.0 and values.max() <= 10000.0
    # a Latin hypercube puts exactly a quarter of its points in each quarter of log10 [0, 4]
    counts = np.histogram(np.log10(values), bins=[0, 1, 2, 3, 4])[0]
    assert counts.tolist() == [50, 50, 50, 50]


def test_a_sensitivity_log_axis_is_sampled_in_log10():
    from habsburg.experiments.sensitivity import design_plan, problem, sensitivity_settings

    spec = spec_from_dict(
        _spec(
            HEADER + '[[parameters]]\npath = "scale"\nrange = [0.1, 10.0]\nlog = true\n'
            '[[parameters]]\npath = "watermark.adoption"\nrange = [0.0, 1.0]\n'
            '[sensitivity]\nmethods = ["morris"]\nmorris_trajectories = 2\n'
        ),
        sampled=True,
    )
    assert problem(spec)["bounds"] == [[-1.0, 1.0], [0.0, 1.0]]
    plan, X = design_plan(spec, sensitivity_settings(spec), "morris")
    scales = sorted({dict(t.settings)["scale"] for t in plan.tasks})
    assert scales == sorted({float(f"{10.0**x:.12g}") for x in X[:, 0]})
    assert set(scales) <= {0.1, 0.464158883361, 2.15443469003, 10.0}  # 4 levels in log10
    # an outcome that is log10 of the scale: its effect is the log axis's, labelled as such
    from habsburg.experiments.sensitivity import analyze

    settings = replace(sensitivity_settings(spec), outcomes=("final_synthetic_share_new",))
    y = pd.DataFrame({"final_synthetic_share_new": X[:, 0]})
    table = analyze(spec, settings, "morris", X, y).set_index("parameter")
    assert list(table.index) == ["log10(scale)", "watermark.adoption"]
    assert table.loc["log10(scale)", "mu_star"] > 0 == table.loc["watermark.adoption", "mu_star"]
