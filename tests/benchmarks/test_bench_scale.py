"""benchmarks/bench_scale.py, which no timed test runs: its child run with the random draws
counted, and the table of what those draws leave possible."""

import json
import subprocess
import sys
import time
from pathlib import Path

from scriptload import load_script

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scale.py"


def bench_scale():
    return load_script(BENCH)


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
    assert {
        "random",
        "binomial",
        "beta",
        "choice",
        "32-bit draws (edit positions, samples)",
    } <= set(made)
    assert all(g["calls"] > 0 and g["values"] > 0 and g["cpu_s"] >= 0 for g in made.values())
    assert sum(g["cpu_s"] for g in made.values()) < counted["simulate_cpu_s"]
    assert counted["limit_cpu_s"] > 0
    assert 0 < plain["build_cpu_s"] < plain["simulate_cpu_s"]


def test_a_run_on_disk_counts_its_page_faults_month_by_month_and_may_trim_the_heap(tmp_path, capfd):
    """--ondisk's month lines carry the kernel's time and the page faults so far; with
    --trim-monthly the heap is given back before every month, which changes no result."""
    bench = bench_scale()
    kept = bench.run_child(0.01, str(tmp_path))
    months = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    trimmed = bench.run_child(0.01, str(tmp_path), trim_monthly=True)
    assert "error" not in kept, kept
    assert "error" not in trimmed, trimmed
    for key in ("documents", "draws", "mean_tail_coverage", "mean_capability"):
        assert trimmed[key] == kept[key]
    assert (kept["trim_monthly"], trimmed["trim_monthly"]) == (False, True)
    # the heap given back each month is faulted in again each month (0.01x: ~47 k against a
    # few thousand kept)
    assert trimmed["page_faults_simulate"] > 3 * kept["page_faults_simulate"]
    assert len(months) == 132 and months[-1]["documents"] == kept["documents"]
    faults = [m["page_faults"] for m in months]
    assert faults == sorted(faults) and 0 < faults[-1] <= kept["page_faults_simulate"]
    assert kept["major_page_faults_simulate"] >= 0
    assert months[-1]["system_cpu_s"] <= kept["system_cpu_s"] + 0.1
    assert not any(tmp_path.iterdir())  # the run's column files removed as it ended


def test_trim_monthly_needs_a_store_on_disk():
    proc = _bench("--factors", "1", "--trim-monthly")
    assert proc.returncode == 2 and "--trim-monthly: only with --ondisk" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


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


def _scale_row(factor, documents, cpu, limit, **extra):
    return {
        "factor": factor,
        "documents": documents,
        "simulate_cpu_s": cpu,
        "numpy_limit_cpu_s": limit,
        "share_of_numpy_limit": round(limit / cpu, 3),
        **extra,
    }


def test_the_summary_splits_each_step_of_scale_into_fixed_and_marginal_cost():
    bench = bench_scale()
    # cpu = 2 s + 3 µs per document, limit 0.5 µs per document: a fixed cost and a line
    rows = [
        _scale_row(10.0, 10_000_000, 32.0, 5.0, store_on_disk=False),
        _scale_row(1.0, 1_000_000, 5.0, 0.5, store_on_disk=False),
        _scale_row(100.0, 100_000_000, 342.0, 50.0, store_on_disk=True),
    ]
    cells = bench._marginal(sorted(rows, key=lambda r: r["factor"]))
    assert cells[0] == ("", "", "")
    assert cells[1] == ("3.00", "2.0", "16.7%")  # 4.5 s of the limit over 27 s more
    # 10x -> 100x: 310 s for 90 M documents more, the intercept 32 - 3.444 µs × 10 M
    assert cells[2] == ("3.44 (memory → disk)", "-2.4 (memory → disk)", "14.5% (memory → disk)")
    table = bench.summary(rows).splitlines()
    marginal = next(line for line in table if line.startswith("| marginal CPU µs"))
    assert marginal.endswith("|  | 3.00 | 3.44 (memory → disk) |")
    fixed = next(line for line in table if line.startswith("| fixed CPU s per run"))
    assert "| 2.0 |" in fixed


def test_marginal_cost_of_rows_without_their_limit_or_store_and_of_no_growth():
    bench = bench_scale()
    old = [  # rows written before 2026-12-03: the limit only as a rounded share, no store
        {
            "factor": 1.0,
            "documents": 1_000_000,
            "simulate_cpu_s": 10.0,
            "share_of_numpy_limit": 0.2,
        },
        {
            "factor": 3.0,
            "documents": 3_000_000,
            "simulate_cpu_s": 20.0,
            "share_of_numpy_limit": 0.3,
        },
        {
            "factor": 4.0,
            "documents": 3_000_000,
            "simulate_cpu_s": 21.0,
            "share_of_numpy_limit": 0.3,
        },
    ]
    cells = bench._marginal(old)
    assert cells[1] == ("5.00", "5.0", "40.0%")  # (6 - 2) s of the limit over 10 s more
    assert cells[2] == ("", "", "")  # no more documents: no line


def test_the_summary_gives_the_hours_speed_the_kernels_time_the_results_and_the_files():
    bench = bench_scale()
    results = {"mean_tail_coverage": 0.3, "mean_fact_accuracy": 0.912, "mean_capability": 5.08}
    rows = [
        _scale_row(
            1.0,
            1_000_000,
            5.0,
            0.5,
            system_cpu_s=0.31,
            page_faults_simulate=95_000,
            numpy_limit_draws_per_cpu_s=18_400_000,
            **results,
        ),
        _scale_row(
            100.0,
            100_000_000,
            342.0,
            50.0,
            store_on_disk=True,
            store_disk_gb=15.96,
            system_cpu_s=55.49,
            page_faults_simulate=17_020_000,
            trim_monthly=True,
            numpy_limit_draws_per_cpu_s=17_000_000,
            **results,
        ),
    ]
    cells = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in bench.summary(rows).splitlines()
        if line.startswith("| ")
    ]
    table = {label: values for label, _goal, *values in cells}
    assert table["numpy's reference, M draws per CPU s"] == ["18.4", "17.0"]
    assert table["of which in the kernel (system CPU s)"] == ["0.3", "55.5"]
    assert table["page faults of the month loop, M"] == ["0.10", "17.02 (heap trimmed monthly)"]
    # only a run with its store on disk has column files
    assert table["column files at the end of the months, GB"] == ["", "16.0"]
    assert table["final mean fact accuracy"] == ["0.912", "0.912"]
    assert table["final mean capability, nats"] == ["5.080", "5.080"]


def test_the_sweep_line_gives_the_best_of_the_rounds_and_each_round():
    bench = bench_scale()
    rounds = {"serial": [38.1, 40.9, 39.4], "pool": [20.5, 20.3, 19.9], "dask": [22.9, 20.6, 18.4]}
    row = {
        "sweep": True,
        "runs": 64,
        "workers": 2,
        "serial_s": 38.1,
        "pool_s": 19.9,
        "dask_s": 18.4,
        "speedup_dask_vs_serial": 38.1 / 18.4,
        "all_seconds": rounds,
    }
    line = bench.sweep_line(row)
    assert line == (
        "sweep, 64 runs on 2 Dask workers, best of 3 rounds: 2.07x serial (goal >= 1.7x; "
        "rounds 1.66x, 1.99x, 2.14x), process pool 1.91x"
    )
    assert line in bench.summary([row])
    # one round (the default before 2026-12-08, and rows written then): its speed-up alone
    one = {**row, "all_seconds": {k: v[:1] for k, v in rounds.items()}}
    one.update(serial_s=38.1, pool_s=20.5, dask_s=22.9, speedup_dask_vs_serial=38.1 / 22.9)
    assert bench.sweep_line(one) == (
        "sweep, 64 runs on 2 Dask workers: 1.66x serial (goal >= 1.7x), process pool 1.86x"
    )
    assert bench.sweep_line({k: v for k, v in one.items() if k != "all_seconds"}) == (
        bench.sweep_line(one)
    )
