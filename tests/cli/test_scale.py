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

    monkeypatch.setattr("habsburg.experiments.compare.run_plan", forbidden)
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
