"""Command-line flags are taken as written: no abbreviations (argparse's default took any
unambiguous prefix, so ``compare --seed 2030`` ran 2,030 seeds), and ``compare --seed``."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from habsburg.cli import build_parser, main
from habsburg.experiments.compare import compare
from habsburg.experiments.seeds import replicate_seeds
from habsburg.scenarios import load_scenario


@pytest.fixture(autouse=True)
def workdir(cli_dir):
    return cli_dir


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every subparser under it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def test_no_command_takes_an_abbreviated_flag():
    parsers = _parsers(build_parser())
    assert len(parsers) >= 10  # the command and its subcommands
    assert not [p.prog for p in parsers if p.allow_abbrev]


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "mini.toml", "--scal", "2"],  # --scale
        ["run", "mini.toml", "--no-rep"],  # --no-report
        ["compare", "mini.toml", "mini.toml", "--seed", "3", "--see", "5"],  # --seeds
        ["sweep", "spec.toml", "--res"],  # --resume
        ["validate", "--qui"],  # --quiet
    ],
)
def test_an_abbreviated_flag_is_refused_before_any_work(argv, capsys, monkeypatch, workdir):
    def forbidden(*a, **k):
        raise AssertionError("work started on an abbreviated flag")

    # what each command runs its work with (a comparison's and a sweep's runs may be in workers)
    for target in (
        "habsburg.experiments.run.simulate",
        "habsburg.experiments.compare.run_sweep",
        "habsburg.experiments.sweep.orchestration.run_tasks",
        "habsburg.experiments.validation.runner.run_validation",
    ):
        monkeypatch.setattr(target, forbidden)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err and "Traceback" not in err
    assert not (workdir / "results").exists()


def test_compare_seed_sets_the_replicate_seeds(workdir):
    argv = ["compare", "mini.toml", "mini.toml", "--seeds", "2", "--steps", "4", "--quiet"]
    assert main([*argv, "--seed", "123", "--out", "seeded"]) == 0
    assert main([*argv, "--out", "default"]) == 0
    seeded = pd.read_parquet(workdir / "seeded" / "runs.parquet")
    default = pd.read_parquet(workdir / "default" / "runs.parquet")
    assert list(seeded["seed"]) == replicate_seeds(123, 2) * 2
    mini = load_scenario("mini.toml")
    assert list(default["seed"]) == replicate_seeds(mini.seed, 2) * 2  # BASE's, as before
    # the runs are those of compare(..., seed=123) from Python, exactly
    python = compare(mini, [load_scenario("mini.toml")], seeds=2, seed=123, steps=4, progress=False)
    pd.testing.assert_frame_equal(seeded, python.runs, check_exact=True)


@pytest.mark.parametrize("seed", ["-1", str(2**63)])
def test_a_compare_seed_out_of_range_is_refused_before_any_work(seed, workdir, capsys, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("the comparison started before --seed was checked")

    monkeypatch.setattr("habsburg.experiments.compare.run_sweep", forbidden)
    argv = ["compare", "mini.toml", "mini.toml", "--seed", seed, "--out", "cmp", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--seed must be between 0 and {2**63 - 1} (a scenario's seed range), got {seed}" in err
    assert "Traceback" not in err
    assert not (workdir / "cmp").exists()


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_seed_past_a_scenarios_range_is_refused(command, workdir, capsys):
    """A seed a scenario file refuses (2^63) was accepted by ``run`` and ``compare``."""
    argv = [command, *(["mini.toml"] if command == "run" else [])]
    assert main([*argv, "--seed", str(2**63), "--out", "out", "--quiet"]) == 2
    assert "(a scenario's seed range), got 9223372036854775808" in capsys.readouterr().err
    assert not (workdir / "out").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--versio"], "unrecognized arguments: --versio (did you mean --version?)"),
        (["--debug", "--verison"], "unrecognized arguments: --verison (did you mean --version?)"),
        (["--bogus", "run", "mini.toml"], "unrecognized arguments: --bogus\n"),
        (["-x"], "unrecognized arguments: -x\n"),
    ],
)
def test_an_unknown_option_before_the_command_is_named(argv, message, capsys):
    """argparse reported ``habsburg --versio`` as a missing COMMAND."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "required: COMMAND" not in err, err


def test_options_known_before_the_command_and_the_commands_own_are_left_to_argparse(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2 and "required: COMMAND" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "mini.toml", "--bogus"])  # the command's parser names it
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and "model code" in capsys.readouterr().out
