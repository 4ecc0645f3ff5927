"""benchmarks/bench_baseline.py runs (it called ``run_scenario`` with an argument the layered
``run_scenario`` no longer takes, and failed with a traceback, from 2026-11-30 to 2026-12-03)."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_baseline.py"


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=300
    )


def test_a_small_scale_runs_and_reports_its_row():
    proc = _bench("--only", "0.02")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert row["factor"] == 0.02
    assert row["documents"] > 10_000
    assert 0 < row["simulate_s"] <= row["total_with_parquet_s"]
    assert row["store_bytes_per_document"] > 0
    assert "target" not in row  # only 1x and 10x have targets


def test_a_bad_factor_is_refused_up_front():
    for bad in ("0", "-1", "nan"):
        proc = _bench("--only", bad)
        assert proc.returncode == 2
        assert "--only must be a finite factor > 0" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_factor_that_cannot_fit_is_refused_before_its_run():
    """(It ran and failed with exit 1, naming --steps, --store-dir and --force, which this
    script does not have.)"""
    proc = _bench("--only", "1e12")
    assert proc.returncode == 2, proc.stderr
    assert "--only 1e+12: scenario 'baseline-x1e+12' is projected to publish" in proc.stderr
    assert "--force" not in proc.stderr and "--steps" not in proc.stderr
