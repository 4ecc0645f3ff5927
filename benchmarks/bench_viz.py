"""Benchmark: a step of the viz-sized baseline, what ``habsburg viz`` steps each time the page
asks for a month (target: well under a second, so the page keeps up).

    python benchmarks/bench_viz.py [--authors 400] [--months 36]

Prints the mean, median and slowest step after the chatbot launch (retraining months included).
"""

from __future__ import annotations

import argparse
import statistics
import time

from habsburg.cli.flags import COUNT
from habsburg.model.model import EcosystemModel
from habsburg.scenarios import load_scenario
from habsburg.viz.scenario import VIZ_AUTHORS, model_kwargs, pick

TARGET_S = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument(
        "--authors", type=COUNT, default=VIZ_AUTHORS, help="authors of the viz-sized baseline"
    )
    parser.add_argument("--months", type=COUNT, default=36, help="months timed after the launch")
    args = parser.parse_args()
    full = load_scenario("baseline").humans.authors
    if args.authors > full:  # the viz only shrinks a scenario: more ran the baseline's own size
        parser.error(f"argument --authors: must be at most {full} (the baseline's authors)")

    started = time.perf_counter()
    model = EcosystemModel(**model_kwargs(pick("baseline", args.authors)))
    built = time.perf_counter() - started
    for _ in range(model.config.launch_step):
        model.step()
    seconds = []
    for _ in range(args.months):
        started = time.perf_counter()
        model.step()
        seconds.append(time.perf_counter() - started)
    mean = statistics.mean(seconds)
    print(
        f"viz-sized baseline ({args.authors} authors): model built in {built:.2f} s; "
        f"{args.months} months after the launch: mean step {mean * 1000:.0f} ms, median "
        f"{statistics.median(seconds) * 1000:.0f} ms, slowest {max(seconds) * 1000:.0f} ms "
        f"(target < {TARGET_S:.0f} s: {'met' if mean < TARGET_S else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
