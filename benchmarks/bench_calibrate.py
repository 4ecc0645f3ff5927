"""Calibration benchmark: the same small ABC-SMC calibration (pyabc) serially and on a 2-worker
Dask LocalCluster; wall time and simulations per second, start-up and shut-down included.

The world is the toy of tests/experiments/test_calibrate.py (``CALIBRATION_TOY`` in
tests/tinyscenario.py: one model, 60 authors, 18 months, a fraction of a second a simulation),
fitted to two targets it simulated itself.

    python benchmarks/bench_calibrate.py [--population 24] [--generations 3] [--workers 2]
        [--repeat 1] [--json FILE]

On a shared machine the numbers are noisy: ``--repeat`` alternates the variants and reports the
best time of each, with the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tinyscenario import CALIBRATION_TOY as TOY

from habsburg.cli.flags import COUNT, integer
from habsburg.experiments.calibrate import calibrate
from habsburg.experiments.calibration.spec import AbcDeclaration, CalibrationSpec, spec_from_dict
from habsburg.experiments.files import atomic_write_json, json_output_problem
from habsburg.scenarios.schema import from_dict
from habsburg.scenarios.writer import scenario_toml


def make_spec(directory: Path, population: int, generations: int) -> CalibrationSpec:
    (directory / "toy.toml").write_text(scenario_toml(from_dict(TOY, "toy")))
    data = {
        "scenario": "toy.toml",
        "parameters": [
            {"path": "demand.adoption.ceiling", "range": [100.0, 1000.0]},
            {"path": "humans.assistant.ceiling", "range": [0.1, 0.9]},
        ],
        "targets": [
            {"series": "graphite_ai_share", "month": "2021-10", "value": 0.70, "half_width": 0.03},
            {
                "series": "liang_llm_modified_share",
                "month": "2021-10",
                "value": 0.40,
                "half_width": 0.03,
            },
        ],
        "abc": {
            "population": population,
            "generations": generations,
            "window": 2,
            "initial_epsilon": 4.0,
            "predictive_runs": 0,
        },
    }
    return spec_from_dict(data, str(directory / "spec.toml"), directory)


def one(spec: CalibrationSpec, serial: bool, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = calibrate(
            spec, Path(tmp) / "out", serial=serial, workers=None if serial else workers
        )
        seconds = time.perf_counter() - started
    sims = int(result.diagnostics["simulations"].sum())
    return {"seconds": seconds, "simulations": sims, "per_second": sims / seconds}


def declared(name: str) -> Callable[[str], int]:
    """The flag of ``[abc] name``: an integer in the spec's declared range (the parser refuses
    what the spec would, before any work)."""
    meta = {f.name: f.metadata for f in fields(AbcDeclaration)}[name]
    return integer(int(meta["low"]), int(meta["high"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--population", type=declared("population"), default=24)
    parser.add_argument("--generations", type=declared("generations"), default=3)
    parser.add_argument("--workers", type=COUNT, default=2)
    parser.add_argument("--repeat", type=COUNT, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.json:  # an existing file is replaced only if this benchmark wrote it
        problem = json_output_problem(
            args.json,
            lambda data: (
                isinstance(data, dict)
                and bool(data)  # (it never writes an empty object: a user's {} is not its)
                and all(isinstance(v, dict) and "seconds" in v for v in data.values())
            ),
        )
        if problem:
            parser.error(f"--json {args.json}: {problem}")
    with tempfile.TemporaryDirectory() as tmp:
        spec = make_spec(Path(tmp), args.population, args.generations)
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for name, serial in (("serial", True), (f"dask x{args.workers}", False)):
                r = one(spec, serial, args.workers)
                if name not in best or r["seconds"] < best[name]["seconds"]:
                    best[name] = r
    print(
        f"load average {os.getloadavg()[0]:.2f}; population {args.population}, "
        f"{args.generations} generations"
    )
    print(f"{'variant':<10} {'wall s':>8} {'simulations':>12} {'sims/s':>8}")
    for name, r in best.items():
        print(f"{name:<10} {r['seconds']:>8.1f} {r['simulations']:>12d} {r['per_second']:>8.2f}")
    if args.json:
        atomic_write_json(args.json, best)  # (an interrupted write leaves the old file)


if __name__ == "__main__":
    main()
