"""Sweeps, sensitivity and compare refuse, before any run, points projected not to fit in memory
(the same projection as `habsburg run`), and run them with --force."""

from pathlib import Path

import pytest

from habsburg.cli import main
from habsburg.experiments import limits

SPEC = """
name = "limits"
scenario = "{scenario}"
seeds = 1
steps = 2

[[parameters]]
path = "humans.authors"
{axis}

[sensitivity]
methods = ["morris"]
morris_trajectories = 2
"""


@pytest.fixture
def tiny_machine(monkeypatch):
    """A machine with 1 MiB of memory available: every scenario is over the limit."""
    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 20)


def test_sweep_and_sensitivity_refuse_before_work(tiny_machine, tmp_path, capsys):
    scenario = Path(__file__).parents[1] / "experiments" / "data" / "sweep_tiny.toml"
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(scenario=scenario.as_posix(), axis="values = [200, 400]"))
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--serial", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "projected" in err and "--force" in err and "Traceback" not in err
    assert not out.exists()
    spec.write_text(SPEC.format(scenario=scenario.as_posix(), axis="range = [200, 400]"))
    assert main(["sensitivity", str(spec), "--out", str(out), "--serial", "--quiet"]) == 2
    assert "projected" in capsys.readouterr().err
    assert not (out / "sensitivity.csv").exists()


def test_compare_refuses_before_work(tiny_machine, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "baseline", "watermark_mandate", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "baseline" in err and "--force" in err
    assert not out.exists()
