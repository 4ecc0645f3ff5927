"""``habsburg run --scale F``: the run of ``scaled(SCENARIO, F)`` from the command line (the
100× run of issue 13 without writing Python), its results where a scaled run belongs, and
bad uses refused before any work; ``habsburg compare --scale F``, the comparison of the scaled
scenarios."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from resultdirs import assert_same_tables
from tinyscenario import MINI

from habsburg.cli import main
from habsburg.experiments import limits
from habsburg.experiments.compare import compare
from habsburg.experiments.run import run_scenario
from habsburg.scenarios import load_scenario
from habsburg.scenarios.library import scaled


@pytest.fixture(autouse=True)
def workdir(cli_dir):
    return cli_dir


def run(*args: str) -> int:
    return main(["run", "mini.toml", "--no-report", "--quiet", *args])


def test_scale_runs_the_scaled_scenario_into_its_own_directory(workdir):
    # no --out: a scaled run does not land in (or collide with) the unscaled run's directory
    assert run("--scale", "3", "--seed", "5") == 0
    out = workdir / "results" / "mini-x3"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario_name"] == "mini-x3"
    assert manifest["scenario"]["humans"]["authors"] == 90  # 30 authors x 3
    # the same tables as scaled() run from Python, bit for bit
    run_scenario(scaled(load_scenario("mini.toml"), 3), seed=5, out=workdir / "python")
    assert_same_tables(out, workdir / "python")
    # and more documents than the unscaled run (authors, demand and crawls all grew)
    assert run("--seed", "5", "--out", "plain") == 0
    plain = json.loads((workdir / "plain" / "manifest.json").read_text())
    assert manifest["documents"] > 2 * plain["documents"]


def test_scale_one_is_the_unscaled_run(workdir):
    assert run("--scale", "1", "--out", "one", "--steps", "4") == 0
    assert run("--out", "plain", "--steps", "4") == 0
    assert json.loads((workdir / "one" / "manifest.json").read_text())["scenario_name"] == "mini"
    assert_same_tables(workdir / "one", workdir / "plain")


def test_scaled_down_keeps_the_site_graph_and_shrinks_the_flows(workdir):
    assert run("--scale", "0.5", "--out", "half") == 0
    manifest = json.loads((workdir / "half" / "manifest.json").read_text())
    assert manifest["scenario_name"] == "mini-x0.5"
    assert manifest["scenario"]["humans"]["authors"] == 15
    assert manifest["scenario"]["web"]["sites"] == 20  # kept below 1x (scaled's docstring)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--scale must be a finite number > 0, got 0"),
        ("-2", "--scale must be a finite number > 0, got -2"),
        ("nan", "--scale must be a finite number > 0, got nan"),
        ("inf", "--scale must be a finite number > 0, got inf"),
    ],
)
def test_bad_scale_is_refused_before_any_work(workdir, capsys, monkeypatch, value, message):
    def forbidden(*a, **k):
        raise AssertionError("the simulation started before --scale was checked")

    monkeypatch.setattr("habsburg.experiments.run.simulate", forbidden)
    assert run("--out", "out", "--scale", value) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (workdir / "out").exists()


def test_a_scale_that_is_not_a_number_is_a_usage_error(workdir, capsys):
    with pytest.raises(SystemExit) as exited:
        run("--out", "out", "--scale", "ten")
    assert exited.value.code == 2
    assert "argument --scale: invalid float value: 'ten'" in capsys.readouterr().err
    assert not (workdir / "out").exists()


def test_scale_with_a_posterior_is_refused_before_the_posterior_is_read(workdir, capsys):
    # (the directory does not exist: --scale is refused first, naming both flags)
    assert run("--out", "out", "--scale", "2", "--posterior", "nowhere") == 2
    err = capsys.readouterr().err
    assert "--scale cannot be combined with --posterior" in err
    assert "demand.adoption.ceiling" in err and "Traceback" not in err
    assert not (workdir / "out").exists()


def test_scale_is_refused_for_a_text_scenario(workdir, capsys):
    assert main(["run", "text_closed_loop", "--scale", "2", "--out", "t", "--quiet"]) == 2
    assert "--scale: not available for the text-mode scenario" in capsys.readouterr().err
    assert not (workdir / "t").exists()


def test_a_scale_over_the_machine_is_refused_naming_scale_and_store_dir(
    workdir, capsys, monkeypatch
):
    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 30)  # a 1 GiB machine
    assert main(["run", "baseline", "--scale", "100", "--out", "big", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "scenario 'baseline-x100' is projected to publish" in err
    assert "--store-dir DIR" in err and "--force" in err
    assert "(--scale 100 multiplies the scenario's sizes: a smaller --scale" in err
    assert not (workdir / "big").exists()
    # without --scale the message is the plain one (the hint names only the flag given)
    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 20)
    assert main(["run", "baseline", "--out", "big", "--quiet"]) == 2
    assert "--scale" not in capsys.readouterr().err


def test_an_interrupted_scaled_run_resumes_with_the_command_it_prints(workdir, capsys, monkeypatch):
    import shlex

    from habsburg.agents.human import HumanPopulation

    assert run("--scale", "2.5", "--out", "whole", "--steps", "5") == 0
    publish = HumanPopulation.publish

    def interrupted(self):
        if self.model.steps == 4:  # Ctrl-C in month 4, after the month-2 checkpoint
            raise KeyboardInterrupt
        publish(self)

    monkeypatch.setattr(HumanPopulation, "publish", interrupted)
    capsys.readouterr()
    assert run("--scale", "2.5", "--out", "part", "--steps", "5", "--checkpoint-every", "2") == 130
    err = capsys.readouterr().err
    command = err.split("resume with: ")[1].split("\n")[0].strip().rstrip(")")
    assert "--scale 2.5" in command
    monkeypatch.setattr(HumanPopulation, "publish", publish)
    assert main(shlex.split(command)[1:]) == 0  # (without "habsburg")
    assert_same_tables(workdir / "whole", workdir / "part")


# --- habsburg compare --scale ------------------------------------------------------------------

#: the mini scenario with twice the human authors: the alternative of the comparisons below
MINI_MORE = MINI.replace('name = "mini"', 'name = "more"').replace("authors = 30", "authors = 60")


def compare_args(*args: str) -> list[str]:
    return ["compare", "mini.toml", "more.toml", "--seeds", "2", "--steps", "4", "--quiet", *args]


def test_compare_scale_compares_the_scaled_scenarios(workdir):
    (workdir / "more.toml").write_text(MINI_MORE)
    assert main(compare_args("--scale", "3")) == 0
    out = workdir / "results" / "compare-mini-x3-vs-more-x3"
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["scenario"]) == {"mini-x3", "more-x3"}
    # the runs of scaled() compared from Python, exactly
    python = compare(
        scaled(load_scenario("mini.toml"), 3),
        [scaled(load_scenario("more.toml"), 3)],
        seeds=2,
        steps=4,
        progress=False,
    )
    pd.testing.assert_frame_equal(runs, python.runs, check_exact=True)
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "series.parquet"), python.series, check_exact=True
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scale", "0"], "--scale must be a finite number > 0, got 0"),
        (["--scale", "-1"], "--scale must be a finite number > 0, got -1"),
        (["--scale", "2", "--posterior", "nowhere"], "--scale cannot be combined with --posterior"),
    ],
)
def test_compare_refuses_a_bad_scale_before_any_work(workdir, capsys, monkeypatch, extra, message):
    (workdir / "more.toml").write_text(MINI_MORE)

    def forbidden(*a, **k):
        raise AssertionError("the comparison started before --scale was checked")

    monkeypatch.setattr("habsburg.experiments.compare.run_sweep", forbidden)
    assert main(compare_args("--out", "cmp", *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (workdir / "cmp").exists()


def test_compare_scale_over_the_machine_names_the_scale(workdir, capsys, monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 30)  # a 1 GiB machine
    assert main(["compare", "baseline", "watermark_mandate", "--scale", "30", "--out", "c"]) == 2
    err = capsys.readouterr().err
    assert "scenario 'baseline-x30' is projected to publish" in err
    assert "(--scale 30 multiplies the scenario's sizes: a smaller --scale" in err
    assert not (workdir / "c").exists()


def test_compare_scale_is_refused_for_text_scenarios(workdir, capsys):
    argv = ["compare", "text_closed_loop", "text_closed_loop", "--scale", "2", "--out", "t"]
    assert main(argv) == 2
    assert "--scale does not apply to text scenarios" in capsys.readouterr().err
    assert not (workdir / "t").exists()


# --- habsburg sweep --scale and a spec's scale -------------------------------------------------

#: a sweep over the mini scenario: two points of its authors, one seed, four months
SWEEP = """
name = "grow"
scenario = "mini.toml"
steps = 4
seed = 3
outcomes = ["final_mean_tail_coverage", "human_documents_lost", "synthetic_share_new"]
[set]
"demand.adoption.ceiling" = 300.0
[[parameters]]
path = "humans.authors"
values = [20, 40]
"""


def sweep_spec(workdir, extra: str = "") -> str:
    (workdir / "grow.toml").write_text(extra + SWEEP)
    return "grow.toml"


def test_a_sweep_scale_scales_each_point_after_its_settings(workdir):
    from habsburg.experiments.sweep import load_spec, plan_spec, point_scenario

    plain = plan_spec(load_spec(sweep_spec(workdir)))
    spec = load_spec(sweep_spec(workdir, "scale = 2.5\n"))
    plan = plan_spec(spec)
    assert (spec.scale, plan.scale, plain.scale) == (2.5, 2.5, None)
    # the settings ([set] and the point's) are read at 1x, then scaled like the rest
    scenarios = plan.point_scenarios()
    assert [sc.humans.authors for sc in scenarios] == [50, 100]  # 20 and 40, times 2.5
    assert [sc.demand.adoption.ceiling for sc in scenarios] == [750.0, 750.0]
    assert {sc.name for sc in scenarios} == {"mini-x2.5"}
    for task, sc in zip(plan.tasks, scenarios, strict=True):
        expected = scaled(point_scenario(plain.base, task.settings), 2.5)
        assert sc.to_dict() == expected.to_dict()
    # a run of another scale is another sweep: --resume into its directory is refused
    assert plan.fingerprint != plain.fingerprint
    assert plan.fingerprint != plan_spec(load_spec(sweep_spec(workdir, "scale = 2\n"))).fingerprint
    # scale 1 is the unscaled sweep, the same runs and fingerprint (it resumes one)
    one = plan_spec(load_spec(sweep_spec(workdir, "scale = 1\n")))
    assert one.scale is None and one.fingerprint == plain.fingerprint
    assert one.point_scenarios()[0].to_dict() == plain.point_scenarios()[0].to_dict()


def test_the_scale_flag_overrides_the_specs_scale(workdir):
    from habsburg.experiments.sweep import load_spec, plan_spec, with_scale

    spec = load_spec(sweep_spec(workdir, "scale = 2\n"))
    assert plan_spec(with_scale(spec, 3)).point_scenarios()[0].humans.authors == 60
    assert with_scale(spec, 3).raw["scale"] == 3  # what sweep.json records
    assert with_scale(spec, None).scale == 2
    unscaled = plan_spec(with_scale(spec, 1))  # --scale 1: the spec's sweep at 1x
    assert unscaled.scale is None
    assert [sc.humans.authors for sc in unscaled.point_scenarios()] == [20, 40]


def test_sweep_scale_runs_the_scaled_points(workdir, capsys):
    from habsburg.experiments.outcomes import evaluate_outcomes, outcome_tables
    from habsburg.experiments.run import simulate
    from habsburg.experiments.sweep import load_results, load_spec, plan_spec, point_scenario

    assert main(["sweep", sweep_spec(workdir), "--scale", "2", "--serial", "--quiet"]) == 0
    out = workdir / "results" / "sweeps" / "grow-x2"  # beside, not over, the unscaled sweep's
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["scale"] == 2 and manifest["spec"]["scale"] == 2
    runs = load_results(out).sort_values("run_id")
    assert runs["scale"].eq(2.0).all()  # each row says its scale (sweeps of several scales join)
    # each run's outcomes are those of its point's scenario, scaled, run directly
    plan = plan_spec(load_spec("grow.toml"))
    for task, row in zip(plan.tasks, runs.itertuples(), strict=True):
        sc = scaled(point_scenario(plan.base, task.settings), 2)
        scalars, _ = evaluate_outcomes(
            plan.outcomes, outcome_tables(simulate(sc, seed=task.seed, steps=4))
        )
        assert row.run_id == task.run_id
        assert row.human_documents_lost == scalars["human_documents_lost"]
        assert row.final_mean_tail_coverage == scalars["final_mean_tail_coverage"]
    # and the spec's own `scale = 2` is the same sweep, run for run
    sweep_spec(workdir, "scale = 2\n")
    assert main(["sweep", "grow.toml", "--serial", "--quiet", "--out", "own"]) == 0
    pd.testing.assert_frame_equal(
        load_results(workdir / "own").sort_values("run_id").drop(columns="seconds"),
        runs.drop(columns="seconds"),
        check_exact=True,
    )
    # resuming it at another scale is refused (a different sweep), nothing rerun
    assert main(["sweep", "grow.toml", "--serial", "--quiet", "--out", "own", "--resume"]) == 0
    sweep_spec(workdir)
    argv = ["sweep", "grow.toml", "--serial", "--quiet", "--out", "own", "--resume"]
    assert main([*argv, "--scale", "3"]) == 2
    assert "was run from a different spec" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "spec_key", "message"),
    [
        (["--scale", "0"], "", "--scale must be a finite number > 0 and <= 1e+06, got 0"),
        (["--scale", "-1"], "", "--scale must be a finite number > 0 and <= 1e+06, got -1"),
        (["--scale", "nan"], "", "--scale must be a finite number > 0 and <= 1e+06, got nan"),
        ([], "scale = 0.0\n", "grow.toml: 'scale' must be a finite number > 0, got 0.0"),
        ([], "scale = nan\n", "grow.toml: scale: expected a finite number, got nan"),
        ([], "scale = -3.0\n", "scale: -3.0 is out of range"),
        ([], 'scale = "ten"\n', "grow.toml: scale: expected a number, got 'ten'"),
    ],
)
def test_a_bad_sweep_scale_is_refused_before_any_work(
    workdir, capsys, monkeypatch, extra, spec_key, message
):
    def forbidden(*a, **k):
        raise AssertionError("the sweep started before its scale was checked")

    monkeypatch.setattr("habsburg.experiments.sweep.orchestration.run_tasks", forbidden)
    for command in ("sweep", "sensitivity"):
        argv = [command, sweep_spec(workdir, spec_key), "--serial", "--out", "s", *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not (workdir / "s").exists()


def test_a_sweep_scale_over_the_machine_names_the_scale(workdir, capsys, monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 30)  # a 1 GiB machine
    spec = workdir / "big.toml"
    spec.write_text(
        'scenario = "baseline"\n[[parameters]]\npath = "watermark.adoption"\nvalues = [0.5]\n'
    )
    assert main(["sweep", "big.toml", "--scale", "30", "--serial", "--out", "b"]) == 2
    err = capsys.readouterr().err
    assert "scenario 'baseline-x30' is projected to publish" in err
    assert "(the sweep is scaled by 30, which multiplies the scenario's sizes" in err
    assert not (workdir / "b").exists()


def test_a_sensitivity_design_is_scaled_like_a_sweep(workdir):
    from habsburg.experiments.sensitivity import design_plan, sensitivity_settings
    from habsburg.experiments.sweep import load_spec, with_scale

    (workdir / "sens.toml").write_text(
        'scenario = "mini.toml"\nsteps = 4\noutcomes = ["human_documents_lost"]\n'
        '[[parameters]]\npath = "humans.authors"\nrange = [20, 40]\n'
        '[sensitivity]\nmethods = ["morris"]\nmorris_trajectories = 2\n'
    )
    spec = with_scale(load_spec("sens.toml", sampled=True), 4)
    plan, design = design_plan(spec, sensitivity_settings(spec), "morris")
    assert plan.scale == 4
    authors = [sc.humans.authors for sc in plan.point_scenarios()]
    assert sorted(authors) == sorted({4 * round(x) for x in design[:, 0]})


def test_sweep_scale_is_refused_for_a_text_sweep(workdir, capsys):
    (workdir / "t.toml").write_text(
        'scenario = "text_closed_loop"\n[[parameters]]\npath = "temperature"\nvalues = [1.0]\n'
    )
    assert main(["sweep", "t.toml", "--scale", "2", "--out", "t"]) == 2
    assert "--scale does not apply to a text sweep" in capsys.readouterr().err
    assert not (workdir / "t").exists()
