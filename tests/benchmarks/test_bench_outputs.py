"""The benchmarks' ``--json FILE``: refused before any work when FILE exists and is not the
benchmark's own output (left alone), written atomically otherwise."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from habsburg.experiments.files import json_output_problem

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize("mine", ['{"speedup": "mine"}', "[]", "{}"])
@pytest.mark.parametrize("script", ["bench_sweep.py", "bench_calibrate.py", "bench_scale.py"])
def test_a_file_the_benchmark_did_not_write_is_refused_up_front(tmp_path, script, mine):
    """(An empty list or object passed as bench_scale's rows or bench_calibrate's timings,
    which each writes at least one of: they were replaced.)"""
    notes = tmp_path / "notes.json"
    notes.write_text(mine)
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--json", str(notes)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"--json {notes}: exists and is not a file this command wrote" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert notes.read_text() == mine


def test_json_output_problem_accepts_new_files_and_its_own(tmp_path):
    def ours(data):
        return isinstance(data, dict) and "speedup_dask_vs_serial" in data

    assert json_output_problem(tmp_path / "new.json", ours) == ""
    own = tmp_path / "own.json"
    own.write_text(json.dumps({"speedup_dask_vs_serial": 2.0}))
    assert json_output_problem(own, ours) == ""
    own.write_bytes(b"\xff\xfe not text")
    assert "left alone" in json_output_problem(own, ours)
    assert "is a directory" in json_output_problem(tmp_path, ours)
    assert "does not exist" in json_output_problem(tmp_path / "no" / "x.json", ours)


def test_bench_viz_refuses_more_authors_than_it_can_run():
    """The viz only shrinks a scenario: ``--authors`` above the baseline's ran the baseline's
    own 2,000 and printed the number asked for."""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_viz.py"), "--authors", "1000000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "argument --authors: must be at most 2000 (the baseline's authors)" in proc.stderr


def test_bench_scale_refuses_a_factor_that_cannot_fit_before_any_run():
    """(It started the run and ended in numpy's allocation error, a row of the table.)"""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_scale.py"), "--factors", "1", "1e12"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "--factors 1e+12: scenario 'baseline-x1e+12' is projected to publish" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""  # not even the 1x run


def test_bench_sweep_refuses_a_runaway_run_count():
    """(``--runs 10**12`` hung building its plan.)"""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_sweep.py"), "--runs", str(10**12)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "argument --runs: must be an integer in [1, 100000]" in proc.stderr
