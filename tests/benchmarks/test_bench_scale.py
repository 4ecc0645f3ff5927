"""benchmarks/bench_scale.py, which no timed test runs: its child run with the random draws
counted, and the table of what those draws leave possible."""

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scale.py"


def bench_scale():
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_counting_the_draws_leaves_the_run_unchanged():
    bench = bench_scale()
    plain = bench.run_child(0.02)
    counted = bench.run_child(0.02, draws=True)
    assert "error" not in plain, plain
    assert "error" not in counted, counted
    for key in ("documents", "draws", "mean_tail_coverage", "mean_capability"):
        assert counted[key] == plain[key]
    assert "generator" not in plain
    made = counted["generator"]
    assert {"random", "binomial", "beta", "choice", "32-bit draws of edit positions"} <= set(made)
    assert all(g["calls"] > 0 and g["values"] > 0 and g["cpu_s"] >= 0 for g in made.values())
    assert sum(g["cpu_s"] for g in made.values()) < counted["simulate_cpu_s"]
    assert counted["limit_cpu_s"] > 0
    assert 0 < plain["build_cpu_s"] < plain["simulate_cpu_s"]


def test_the_draws_table_bounds_the_share_by_the_draws_besides_uniforms():
    row = {
        "factor": 1.0,
        "simulate_cpu_s": 10.0,
        "limit_cpu_s": 1.0,
        "generator": {
            "binomial": {"calls": 2, "values": 5, "cpu_s": 3.0},
            "random": {"calls": 1, "values": 10, "cpu_s": 0.5},
        },
    }
    text = bench_scale().draws_table(row)
    assert "| binomial | 2 | 5 | 3.00 | 30.0% |" in text
    assert "all generator calls: 3.50 CPU s (35.0% of the run)" in text
    assert "at most 25% of the limit" in text  # 1 / (1 + 3): uniforms left out


def _bench(*args):
    return subprocess.run(
        [sys.executable, str(BENCH), *map(str, args)], capture_output=True, text=True, timeout=60
    )


def test_json_leaves_a_file_it_did_not_write_alone_before_any_run(tmp_path):
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}')
    started = time.perf_counter()
    proc = _bench("--factors", "1", "--json", notes)
    assert proc.returncode == 2
    assert f"--json {notes}" in proc.stderr and "left alone" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert notes.read_text() == '{"mine": true}'
    assert time.perf_counter() - started < 30  # refused up front, not after a 1x run
    proc = _bench("--factors", "1", "--json", tmp_path)
    assert proc.returncode == 2 and "is a directory" in proc.stderr
    proc = _bench("--factors", "1", "--json", tmp_path / "missing" / "rows.json")
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_with_names_the_file_and_what_is_wrong_with_it(tmp_path):
    for text, says in (("[1, 2]", "not a file of rows"), ("{oops", "is not JSON")):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        proc = _bench("--factors", "1", "--with", bad)
        assert proc.returncode == 2 and f"--with {bad}: " in proc.stderr and says in proc.stderr
        assert "Traceback" not in proc.stderr
    proc = _bench("--with", tmp_path / "none.json")
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_rows_it_wrote_are_read_back_and_may_be_replaced(tmp_path):
    bench = bench_scale()
    rows = [{"factor": 100.0, "documents": 5}, {"sweep": True, "speedup": 2.0}]
    path = tmp_path / "x100.json"
    bench.atomic_write_json(path, rows)
    assert bench.read_rows(path) == rows
    assert bench.output_problem(path) == ""
    assert "is not JSON" in bench.read_rows(Path(__file__))
    (tmp_path / "list.json").write_text('[{"name": 1}]')
    assert "not a file of rows" in bench.read_rows(tmp_path / "list.json")
