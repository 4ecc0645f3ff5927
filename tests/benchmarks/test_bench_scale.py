"""benchmarks/bench_scale.py, which no timed test runs: its child run with the random draws
counted, and the table of what those draws leave possible."""

import importlib.util
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
