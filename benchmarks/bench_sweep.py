"""Sweep benchmark: 64 small runs serially, on a 2-worker Dask LocalCluster, and on a plain
``concurrent.futures.ProcessPoolExecutor`` of 2 processes (the floor for process parallelism).

Targets: Dask at least 1.7× faster than serial; Dask within 15% of the process pool. Every
variant writes the same files (one Parquet file per run) and includes its start-up (worker
processes) and shut-down. Imports are paid before the rounds by every variant alike: this
process imports habsburg (which the serial runs and the process pool's forked workers use), and
one local cluster is started and closed first, untimed, so that the fork server that imports
habsburg and Dask once for the Dask workers is running, as for a session's second sweep (that
first start, ~1 s, is printed; it made the first round the slowest for Dask until 2026-12-08).
A run takes about 1-2 s here.

``--cli`` also times the same sweep as whole ``habsburg sweep`` commands (a spec file of the
same runs; ``--serial`` against ``--workers N``), imports included, which is what a user of the
command waits for: there the fork server imports habsburg while the command does.

    python benchmarks/bench_sweep.py [--runs 64] [--workers 2] [--repeat 3] [--cli] [--json FILE]

On a shared machine the numbers are noisy: ``--repeat`` (three rounds unless told otherwise)
alternates the variants and reports the best time of each, and each round's speed-up; the load
average is printed with them. Rounds on the 2-core machines here differ by up to ~25% (the
serial reference alone moved by 16% between rounds at an unsteady hour: docs/performance.md,
"Sweeps, round by round"), so the headline is the best of the rounds, each round's beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from habsburg.cli.flags import COUNT, integer
from habsburg.experiments.files import atomic_write_json, json_output_problem
from habsburg.experiments.sweep import (
    SweepPlan,
    check_output,
    execute_run,
    plan_points,
    run_sweep,
    write_manifest,
    write_run_output,
)
from habsburg.experiments.sweep.executors import close_client, connect
from habsburg.scenarios.schema import from_dict
from habsburg.scenarios.writer import scenario_toml

#: a small world: 600 authors, 2 models, 1 farm, 1 scraper, 96 months (about 1-2 s a run)
SCENARIO = {
    "name": "bench-sweep",
    "seed": 5,
    "start": "2022-01",
    "end": "2029-12",
    "chatbot_launch": "2022-03",
    "world": {"concepts": 500, "facts": 200, "communities": 5},
    "humans": {
        "authors": 600,
        "docs_per_month": 2.0,
        "assistant": {"start": "2022-03", "midpoint": 6.0, "rate": 0.3, "ceiling": 0.5},
    },
    "demand": {"adoption": {"start": "2022-03", "midpoint": 6.0, "rate": 0.3, "ceiling": 800.0}},
    "web": {"sites": 80},
    "labs": [{"name": "open"}, {"name": "marked", "watermarks": True}],
    "models": [
        {
            "name": "m1",
            "lab": "open",
            "launch": "2022-03",
            "retrain_interval": 6,
            "data": {"budget": 1000, "scrapers": ["web"]},
        },
        {
            "name": "m2",
            "lab": "marked",
            "launch": "2022-05",
            "retrain_interval": 4,
            "data": {"budget": 800, "scrapers": ["web"], "mode": "replace"},
        },
    ],
    "farms": [
        {
            "name": "farm",
            "sites": 3,
            "output": {"start": "2022-04", "midpoint": 6.0, "rate": 0.3, "ceiling": 120.0},
        }
    ],
    "scrapers": [{"name": "web", "budget_sites": 40, "docs_per_crawl": 600, "aggregator_sites": 1}],
}
OUTCOMES = ["final_synthetic_share_new", "final_mean_tail_coverage", "synthetic_share_new"]


def make_plan(runs: int) -> SweepPlan:
    """``runs`` runs: 4 seeds × a grid of watermark compliance and demand levels."""
    base = from_dict(SCENARIO, "bench")
    seeds = 4
    points = [
        {"watermark.adoption": a / 3, "demand.adoption.ceiling": 500.0 + 100.0 * c}
        for a in range(4)
        for c in range(max(1, runs // seeds // 4))
    ][: max(1, runs // seeds)]
    return plan_points("bench", base, points, seeds=seeds, seed=1, outcomes=OUTCOMES)


def write_spec(runs: int, directory: Path) -> Path:
    """A sweep spec file of the same runs as :func:`make_plan` (its scenario in a file beside)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bench.toml").write_text(scenario_toml(from_dict(SCENARIO, "bench")))
    points = make_plan(runs).tasks
    adoption = sorted({dict(t.settings)["watermark.adoption"] for t in points})
    ceiling = sorted({dict(t.settings)["demand.adoption.ceiling"] for t in points})
    spec = directory / "spec.toml"
    spec.write_text(
        f'name = "bench-sweep"\nscenario = "bench.toml"\nseeds = 4\nseed = 1\n'
        f"outcomes = {json.dumps(OUTCOMES)}\n\n"
        f'[[parameters]]\npath = "watermark.adoption"\nvalues = {json.dumps(adoption)}\n\n'
        f'[[parameters]]\npath = "demand.adoption.ceiling"\nvalues = {json.dumps(ceiling)}\n'
    )
    return spec


def bench_command(spec: Path, out: Path, flags: list[str]) -> float:
    """One whole ``habsburg sweep`` process (imports, cluster, runs, exit)."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "habsburg.cli", "sweep", str(spec), "--out", str(out)]
    subprocess.run([*command, "--quiet", *flags], check=True)
    return time.perf_counter() - started


def bench_serial(plan: SweepPlan, out: Path) -> float:
    started = time.perf_counter()
    run_sweep(plan, out, serial=True, progress=False)
    return time.perf_counter() - started


def bench_dask(plan: SweepPlan, out: Path, workers: int) -> float:
    started = time.perf_counter()
    run_sweep(plan, out, workers=workers, progress=False)
    return time.perf_counter() - started


def first_cluster(workers: int) -> float:
    """Start and close one local cluster (untimed in the rounds): the first of a process starts
    the fork server, which imports habsburg and Dask for its workers; every later cluster forks
    its workers from it, as each round's does. Returns its seconds."""
    started = time.perf_counter()
    close_client(connect(workers=workers))
    return time.perf_counter() - started


def bench_pool(plan: SweepPlan, out: Path, workers: int) -> float:
    """The same runs and files through a plain process pool (no scheduler, no retries)."""
    started = time.perf_counter()
    check_output(plan, out, resume=False)
    write_manifest(plan, out)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(execute_run, t, plan.scenario_of(t), plan.outcomes, plan.steps)
            for t in plan.tasks
        ]
        for future in as_completed(futures):
            write_run_output(plan, out, future.result())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--runs", type=integer(1, 100_000), default=64)  # (10^12 hung)
    parser.add_argument("--workers", type=COUNT, default=2)
    parser.add_argument(
        "--repeat",
        type=COUNT,
        default=3,
        help="alternate the variants N times (default 3); report the best",
    )
    parser.add_argument(
        "--cli", action="store_true", help="also time whole `habsburg sweep` commands"
    )
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args()
    if args.json:  # an existing file is replaced only if this benchmark wrote it
        problem = json_output_problem(
            args.json, lambda data: isinstance(data, dict) and "speedup_dask_vs_serial" in data
        )
        if problem:
            parser.error(f"--json {args.json}: {problem}")

    plan = make_plan(args.runs)
    n = len(plan.tasks)
    print(f"{n} runs, {args.workers} workers, {os.cpu_count()} cores")
    times: dict[str, list[float]] = {"serial": [], "pool": [], "dask": []}
    if args.cli:
        times.update({"cli_serial": [], "cli_dask": []})
    loads = [os.getloadavg()[0]]
    first = first_cluster(args.workers)
    print(f"first cluster started and closed in {first:.1f} s (the fork server's imports; untimed)")
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(args.runs, Path(tmp) / "spec") if args.cli else None
        for i in range(args.repeat):
            tmp_i = Path(tmp) / str(i)
            times["serial"].append(bench_serial(plan, tmp_i / "serial"))
            loads.append(os.getloadavg()[0])
            times["pool"].append(bench_pool(plan, tmp_i / "pool", args.workers))
            loads.append(os.getloadavg()[0])
            times["dask"].append(bench_dask(plan, tmp_i / "dask", args.workers))
            loads.append(os.getloadavg()[0])
            line = (
                f"round {i + 1}: serial {times['serial'][-1]:.1f} s ({times['serial'][-1] / n:.2f} s "
                f"a run), process pool {times['pool'][-1]:.1f} s, dask {times['dask'][-1]:.1f} s "
                f"({times['serial'][-1] / times['dask'][-1]:.2f}x)"
            )
            if spec is not None:
                times["cli_serial"].append(bench_command(spec, tmp_i / "cli_s", ["--serial"]))
                loads.append(os.getloadavg()[0])
                workers = ["--workers", str(args.workers)]
                times["cli_dask"].append(bench_command(spec, tmp_i / "cli_d", workers))
                loads.append(os.getloadavg()[0])
                line += (
                    f"; commands: --serial {times['cli_serial'][-1]:.1f} s, --workers "
                    f"{args.workers} {times['cli_dask'][-1]:.1f} s"
                )
            print(f"{line} (load average {loads[-1]:.1f})", flush=True)
    serial, pool, dask = (min(times[k]) for k in ("serial", "pool", "dask"))
    numbers = {
        "runs": n,
        "workers": args.workers,
        "seconds_per_run": serial / n,
        "serial_s": serial,
        "pool_s": pool,
        "dask_s": dask,
        "speedup_dask_vs_serial": serial / dask,
        "dask_over_pool": dask / pool - 1.0,
        "load_average_max": max(loads),
        "first_cluster_s": first,
        "all_seconds": times,
    }
    if args.cli:
        cli_serial, cli_dask = min(times["cli_serial"]), min(times["cli_dask"])
        numbers.update(
            cli_serial_s=cli_serial,
            cli_dask_s=cli_dask,
            speedup_cli_dask_vs_serial=cli_serial / cli_dask,
        )
    print(
        f"best of {args.repeat}: serial {serial:.1f} s, process pool {pool:.1f} s, dask {dask:.1f} s\n"
        f"speed-up Dask vs serial: {numbers['speedup_dask_vs_serial']:.2f}x (target >= 1.7)\n"
        f"Dask overhead vs process pool: {numbers['dask_over_pool']:+.1%} (target <= +15%)\n"
        f"load average during the benchmark: up to {max(loads):.1f} on {os.cpu_count()} cores"
    )
    if args.cli:
        print(
            f"as commands (imports included): --serial {numbers['cli_serial_s']:.1f} s, "
            f"--workers {args.workers} {numbers['cli_dask_s']:.1f} s: "
            f"{numbers['speedup_cli_dask_vs_serial']:.2f}x"
        )
    if args.json:
        atomic_write_json(args.json, numbers)  # (an interrupted write leaves the old file)


if __name__ == "__main__":
    main()
