"""An interrupted sweep or sensitivity analysis keeps its finished runs and says, in one line,
the command line that finishes it; that command gives the tables of an uninterrupted one. A
sweep with failed runs gives the command line that retries them."""

from __future__ import annotations

import shlex

import pandas as pd
import pytest
from signals import interrupt_after_writes
from tinyscenario import sensitivity_spec

from habsburg.cli import main
from habsburg.experiments.sweep import load_results

SWEEP = """
name = "grow"
scenario = "mini.toml"
steps = 4
seed = 3
seeds = 2
outcomes = ["final_mean_tail_coverage", "synthetic_share_new"]
[[parameters]]
path = "humans.authors"
values = [20, 40]
"""

SENSITIVITY = sensitivity_spec("mini.toml", steps=4, sobol=4, morris=2)


def finishing_command(err: str, what: str) -> list[str]:
    """The arguments of the command line an interruption's message gives (without habsburg)."""
    (line,) = [x for x in err.splitlines() if x.startswith("habsburg: interrupted;")]
    command = shlex.split(line.split(f"finish the {what} with: ", 1)[1])
    assert command[0] == "habsburg"
    return command[1:]


def test_an_interrupted_sweep_names_the_command_that_finishes_it(cli_dir, monkeypatch, capsys):
    (cli_dir / "grow.toml").write_text(SWEEP)
    argv = ["sweep", "grow.toml", "--serial", "--quiet"]
    assert main([*argv, "--out", "whole"]) == 0
    with monkeypatch.context() as m:
        interrupt_after_writes(m, 2)
        assert main([*argv, "--out", "cut"]) == 130
    err = capsys.readouterr().err
    assert "the finished runs are kept in cut/" in err and "Traceback" not in err
    again = finishing_command(err, "sweep")
    assert again == [*argv, "--out", "cut", "--resume"]
    assert main(again) == 0
    order = ["run_id"]
    whole, cut = load_results(cli_dir / "whole"), load_results(cli_dir / "cut")
    assert len(cut) == 4
    pd.testing.assert_frame_equal(
        cut.drop(columns=["seconds"]).sort_values(order).reset_index(drop=True),
        whole.drop(columns=["seconds"]).sort_values(order).reset_index(drop=True),
    )


def test_an_interrupted_sensitivity_analysis_names_the_command_that_finishes_it(
    cli_dir, monkeypatch, capsys
):
    """It said "run the same command again to redo the work", which is refused: the directory
    holds a sweep, and only --resume finishes it."""
    pytest.importorskip("SALib")
    (cli_dir / "sens.toml").write_text(SENSITIVITY)
    argv = ["sensitivity", "sens.toml", "--serial", "--quiet"]
    assert main([*argv, "--out", "whole"]) == 0
    with monkeypatch.context() as m:
        interrupt_after_writes(m, 3)
        assert main([*argv, "--out", "cut"]) == 130
    err = capsys.readouterr().err
    assert "the finished runs are kept in cut/ (sobol)" in err and "Traceback" not in err
    assert not (cli_dir / "cut" / "sensitivity.csv").exists()
    assert main([*argv, "--out", "cut"]) == 2  # the same command again is refused ...
    assert "pass --resume" in capsys.readouterr().err
    again = finishing_command(err, "analysis")
    assert again == [*argv, "--out", "cut", "--resume"]
    assert main(again) == 0  # ... the one the message gives finishes it
    pd.testing.assert_frame_equal(
        pd.read_csv(cli_dir / "cut" / "sensitivity.csv"),
        pd.read_csv(cli_dir / "whole" / "sensitivity.csv"),
    )


def test_a_sweep_with_a_failed_run_names_the_command_that_retries_it(cli_dir, monkeypatch, capsys):
    from habsburg.experiments.sweep import executors

    real = executors.execute_run

    def failing(task, *args, **kwargs):
        if task.point == 1 and task.replicate == 0:  # (as execute_run reports a raise)
            return executors.RunOutput.failed(task, MemoryError("out of memory"), 0.1)
        return real(task, *args, **kwargs)

    (cli_dir / "grow.toml").write_text(SWEEP)
    argv = ["sweep", "grow.toml", "--serial", "--out", "cut"]
    with monkeypatch.context() as m:
        m.setattr(executors, "execute_run", failing)
        assert main(argv) == 1
    out = capsys.readouterr().out
    assert "4 runs ran, 0 already finished, 1 failed" in out
    again = "retry them with: habsburg sweep grow.toml --serial --out cut --resume)"
    assert f"failed runs: cut/errors/ ({again}" in out, out
    assert main([*argv, "--resume", "--quiet"]) == 0  # the command the line gives
    assert len(load_results(cli_dir / "cut")) == 4
