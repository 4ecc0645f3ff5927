"""Sensitivity: Sobol and Morris indices through the sweep machinery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tinyscenario import sensitivity_spec

from habsburg.cli import main
from habsburg.experiments.sensitivity import design, sensitivity_settings
from habsburg.experiments.sweep import SweepError, load_results, load_spec

pytest.importorskip("SALib")

TINY = Path(__file__).parent / "data" / "sweep_tiny.toml"
SPEC = sensitivity_spec(TINY.as_posix(), steps=10, sobol=8, morris=4)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sens") / "tiny_sensitivity.toml"
    path.write_text(SPEC)
    return path


def test_sensitivity_ranks_the_driving_parameter_first(spec_file, tmp_path, capsys):
    out = tmp_path / "sens"
    assert main(["sensitivity", str(spec_file), "--serial", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mu_star" in printed and "demand.adoption.ceiling" in printed

    table = pd.read_csv(out / "sensitivity.csv")
    assert table.equals(pd.read_parquet(out / "sensitivity.parquet"))
    assert (out / "sensitivity.png").stat().st_size > 10_000
    assert set(table["outcome"]) == {"final_synthetic_share_new", "final_mean_tail_coverage"}
    # the model evaluations are sweeps: N·(D+2) Sobol points and r·(D+1) Morris points
    assert len(load_results(out / "sobol")) == 8 * (2 + 2)
    assert len(load_results(out / "morris")) == 4 * (2 + 1)
    # `habsburg verify`: its sweeps' runs counted, every table read whole
    capsys.readouterr()
    assert main(["verify", str(out)]) == 0
    runs = 8 * (2 + 2) + 4 * (2 + 1)
    assert f"  runs: {runs} of {runs} finished\n" in capsys.readouterr().out

    # AI demand, not the human error rate, drives the synthetic share of new documents
    share = table[table["outcome"] == "final_synthetic_share_new"].set_index("parameter")
    ceiling, errors = share.loc["demand.adoption.ceiling"], share.loc["humans.error_rate"]
    assert ceiling["mu_star"] > 5 * errors["mu_star"]
    assert ceiling["ST"] > errors["ST"]

    # resumable like any sweep: nothing left to run, same indices (and the figure, --quiet too)
    (out / "sensitivity.png").unlink()
    assert (
        main(["sensitivity", str(spec_file), "--serial", "--resume", "--quiet", "--out", str(out)])
        == 0
    )
    pd.testing.assert_frame_equal(table, pd.read_csv(out / "sensitivity.csv"))
    assert (out / "sensitivity.png").stat().st_size > 10_000

    # the same command without --resume names the analysis, not one of its sweeps' directories
    assert main(["sensitivity", str(spec_file), "--serial", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds this analysis's runs (sobol, morris); pass --resume" in err, err
    # another spec (or only one of the methods) into it: refused before any run, whatever
    # --resume says (it ran beside the other analysis's runs, or mixed the two)
    listing = sorted(p.relative_to(out) for p in out.rglob("*"))
    other = spec_file.with_name("other.toml")
    for text in (
        sensitivity_spec(TINY.as_posix(), steps=10, sobol=16, morris=4),
        SPEC.replace("[sensitivity]\n", '[sensitivity]\nmethods = ["morris"]\n'),
    ):
        assert text != SPEC
        other.write_text(text)
        for resume in ([], ["--resume"]):
            argv = ["sensitivity", str(other), "--serial", "--quiet", "--out", str(out), *resume]
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert "holds the sensitivity analysis of another spec, scenario or methods" in err
    # a scenario whose settings moved (say, a base file edited since): the refusal names them
    moved = spec_file.with_name("moved_tiny.toml")
    moved.write_text(TINY.read_text().replace("docs_per_month = 2.0", "docs_per_month = 2.5"))
    other.write_text(SPEC.replace(TINY.as_posix(), moved.as_posix()))
    argv = ["sensitivity", str(other), "--serial", "--quiet", "--out", str(out), "--resume"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "another spec, scenario or methods (morris, sobol; settings that differ: " in err, err
    assert "humans.docs_per_month: 2.0 → 2.5" in err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == listing


def test_designs_follow_salib_sizes_and_ranges(spec_file):
    spec = load_spec(spec_file, sampled=True)
    settings = sensitivity_settings(spec)
    sobol = design(spec, settings, "sobol")
    morris = design(spec, settings, "morris")
    assert sobol.shape == (8 * 4, 2) and morris.shape == (4 * 3, 2)
    assert sobol[:, 0].min() >= 0.0 and sobol[:, 0].max() <= 800.0
    assert morris[:, 1].min() >= 0.0 and morris[:, 1].max() <= 0.05
    # SALib's own samples of the spec's problem (its ranges, its seed; first order, 4 levels)
    from SALib.sample import morris as salib_morris
    from SALib.sample import sobol as salib_sobol

    problem = {
        "num_vars": 2,
        "names": ["demand.adoption.ceiling", "humans.error_rate"],
        "bounds": [[0.0, 800.0], [0.0, 0.05]],
    }
    expected = salib_sobol.sample(problem, 8, calc_second_order=False, seed=3)
    np.testing.assert_array_equal(sobol, expected)
    np.testing.assert_array_equal(morris, salib_morris.sample(problem, 4, num_levels=4, seed=3))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[sensitivity]\nsobol_samples = 6\n", "power of two"),
        ("[sensitivity]\nmorris_levels = 3\n", "morris_levels: the Morris design needs an even"),
        ('[sensitivity]\nmethods = ["fast"]\n', "expected a list of sobol, morris"),
        ('[sensitivity]\noutcomes = ["synthetic_share_new"]\n', "is a timeseries"),
        ("[sensitivity]\nmorris_levels = 1\n", "morris_levels"),
    ],
)
def test_bad_sensitivity_settings_are_named_errors(tmp_path, extra, message):
    text = SPEC.split("[sensitivity]")[0] + extra
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SweepError, match=message):
        sensitivity_settings(load_spec(path, sampled=True))


@pytest.mark.parametrize("method", ["sobol", "morris"])
def test_an_outcome_missing_from_some_runs_is_named_not_analysed(spec_file, method):
    """An outcome that is NaN in some design points (no model deployed by the last month) would
    give SALib NaN indices; it is refused, naming the outcome, how many and what to change."""
    from habsburg.experiments.sensitivity import analyze

    spec = load_spec(spec_file, sampled=True)
    settings = sensitivity_settings(spec)
    X = design(spec, settings, method)
    Y = pd.DataFrame({o: np.linspace(0.1, 0.9, len(X)) for o in settings.outcomes})
    assert len(analyze(spec, settings, method, X, Y)) == 2 * len(settings.outcomes)
    Y.loc[[1, 4], "final_mean_tail_coverage"] = np.nan
    with pytest.raises(
        SweepError,
        match=r"outcome 'final_mean_tail_coverage' is NaN in 2 runs .*choose another outcome",
    ):
        analyze(spec, settings, method, X, Y)


def test_an_empty_range_is_refused(tmp_path):
    path = tmp_path / "flat.toml"
    path.write_text(SPEC.replace("range = [0.0, 0.05]", "range = [0.02, 0.02]"))
    with pytest.raises(
        SweepError,
        match=r"flat\.toml: parameters\[1\] \('humans\.error_rate'\): the range is empty",
    ):
        sensitivity_settings(load_spec(path, sampled=True))


def test_value_lists_are_refused(tmp_path):
    path = tmp_path / "values.toml"
    path.write_text(SPEC.replace("range = [0.0, 0.05]", "values = [0.0, 0.05]"))
    with pytest.raises(SweepError, match=r"parameters\[1\].*needs a numeric range"):
        sensitivity_settings(load_spec(path, sampled=True))


def test_designs_are_checked_only_where_runs_began(tmp_path):
    """A directory whose analysis stopped before its first run holds nothing to mix: it is
    taken, whatever its record says; once a design's sweep is there, another is refused."""
    import json

    from habsburg.experiments.sensitivity import check_designs

    out = tmp_path / "sens"
    out.mkdir()
    (out / "manifest.json").write_text(
        json.dumps({"written_by": "habsburg", "designs": {"sobol": "old", "morris": "old"}})
    )
    ours = {"sobol": "new", "morris": "new"}
    check_designs(out, ours, resume=False)  # nothing began
    (out / "sobol").mkdir()
    (out / "sobol" / "sweep.json").write_text(json.dumps({"written_by": "habsburg"}))
    with pytest.raises(SweepError, match="holds the sensitivity analysis of another spec"):
        check_designs(out, ours, resume=True)
    (out / "manifest.json").write_text(json.dumps({"written_by": "habsburg", "designs": ours}))
    check_designs(out, ours, resume=True)
    with pytest.raises(SweepError, match=r"holds this analysis's runs \(sobol\); pass --resume"):
        check_designs(out, ours, resume=False)


def test_runs_that_end_before_any_model_is_deployed_are_refused_before_any_run(
    tmp_path, capsys, monkeypatch
):
    """``steps`` ending before the first launch made every run's tail coverage NaN, and the
    analysis refused it only after all the runs."""
    from habsburg.experiments.sweep import executors

    def forbidden(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr(executors, "simulate", forbidden)
    spec = tmp_path / "short.toml"
    spec.write_text(SPEC.replace("steps = 10", "steps = 2"))
    assert "steps = 2" in spec.read_text()
    argv = ["sensitivity", str(spec), "--serial", "--quiet", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the runs of 2 months (2022-01 to 2022-02) with demand.adoption.ceiling = " in err, err
    assert "end before any model is deployed; the first, 'm1', launches in 2022-03" in err
    assert "final_mean_tail_coverage would be NaN in them" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    # an outcome that does not read the models is analysed as before
    spec.write_text(
        SPEC.replace("steps = 10", "steps = 2").replace(
            "[sensitivity]\n", '[sensitivity]\noutcomes = ["final_synthetic_share_new"]\n'
        )
    )
    from habsburg.experiments.sensitivity import check_deployment, design_plan

    sweep = load_spec(spec, sampled=True)
    plan, _ = design_plan(sweep, sensitivity_settings(sweep), "morris")
    check_deployment(plan, ["final_synthetic_share_new"], "short.toml")
