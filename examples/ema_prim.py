"""Scenario discovery with EMA Workbench and PRIM: under which conditions do models lose the tails?

The simulator becomes an EMA model (habsburg.experiments.ema.ema_model): deep uncertainties
(how fast AI demand grows, how hard content farms paraphrase, how strict crawler filters are) and
policy levers (watermark mandate compliance, licensed human-data reservoirs) are setting paths
with ranges from the scenario schema. EMA samples them (Latin hypercube), runs the experiments
in parallel, and PRIM (Friedman & Fisher 1999) finds the box of conditions where the models'
mean tail coverage ends in the worst quartile.

Needs the ``ema`` extra:  pip install -e ".[ema]"
Run:                      python examples/ema_prim.py [--scenarios 64] [--seed N] [--quick]
Writes:                   results/ema_prim/{experiments.csv, outcomes.csv, prim_box.csv,
                          prim_tradeoff.png, prim_box.png}
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pandas as pd
from ema_workbench import MultiprocessingEvaluator, SequentialEvaluator, perform_experiments

from habsburg.cli import run_script
from habsburg.cli.flags import SEED, integer
from habsburg.experiments.ema import ema_model, find_box, parameter_frame, seeded_sampling
from habsburg.experiments.files import prepare_output_dir, save_outputs
from habsburg.scenarios import load_scenario, set_setting

UNCERTAINTIES = {
    "demand.adoption.ceiling": (2000.0, 12000.0),  # documents/month from model users
    "farms.*.paraphrase_share": None,  # declared range [0, 1]
    "farms.*.output.ceiling": (200.0, 2000.0),
    "scrapers.*.filters.watermark_threshold": (2.0, 6.0),
    "humans.assistant.ceiling": (0.1, 0.9),
}
LEVERS = {
    "watermark.adoption": None,  # mandate compliance, declared range [0, 1]
    "models.*.data.human_reservoir": (0.0, 0.4),
}
OUTCOMES = ["final_mean_tail_coverage", "final_synthetic_share_new", "final_mean_fact_accuracy"]


FILES = [
    "experiments.csv",
    "outcomes.csv",
    "prim_box.csv",
    "prim_tradeoff.png",
    "prim_box.png",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    # (at most 10^5 each: 10^12 ran out of memory naming flags this script lacks)
    samples = integer(1, 100_000)
    parser.add_argument("--scenarios", type=samples, default=64, help="uncertainty samples")
    parser.add_argument("--policies", type=samples, default=2, help="lever samples")
    parser.add_argument(
        "--quick", action="store_true", help="tiny world, 56 months to 2024-08 (a smoke run)"
    )
    parser.add_argument(
        "--seed", type=SEED, default=None, help="seed of EMA's sampling (default: the scenario's)"
    )
    parser.add_argument("--out", default="results/ema_prim")
    args = parser.parse_args()
    out = prepare_output_dir(
        args.out, command="examples", can_force=False, expect=FILES
    )  # before any work

    # The baseline, made smaller so a few hundred experiments take minutes, not hours.
    scenario = load_scenario("baseline")
    shrink = {"humans.authors": 600, "world.concepts": 2000, "world.facts": 800, "web.sites": 200}
    if args.quick:
        shrink.update({"humans.authors": 200, "world.concepts": 500, "world.facts": 200})
    for path, value in shrink.items():
        set_setting(scenario, path, value)
    steps = 56 if args.quick else 96  # 2020-01 .. 2024-08 / 2027-12

    # one experiment per core at once: the model is refused before any work if that many of
    # its largest experiment would not fit this machine's memory
    processes = 1 if args.quick else (os.cpu_count() or 1)
    model = ema_model(scenario, UNCERTAINTIES, LEVERS, OUTCOMES, steps=steps, processes=processes)
    evaluator = (
        SequentialEvaluator(model)
        if args.quick
        else MultiprocessingEvaluator(model, n_processes=processes)
    )
    with evaluator:
        experiments, outcomes = perform_experiments(
            model,
            scenarios=args.scenarios,
            policies=args.policies,
            evaluator=evaluator,
            **seeded_sampling(scenario.seed if args.seed is None else args.seed),
        )

    save_outputs(
        out,
        {
            "experiments.csv": lambda p: experiments.to_csv(p, index=False),
            "outcomes.csv": lambda p: pd.DataFrame(outcomes).to_csv(p, index=False),
        },
        command="examples",
    )

    # Cases of interest: tail coverage in the worst quartile (the "collapse" runs).
    tail = outcomes["final_mean_tail_coverage"]
    collapse = tail <= np.nanquantile(tail, 0.25)
    print(
        f"{collapse.sum()} of {collapse.size} experiments end in the worst tail-coverage quartile"
    )

    box = find_box(parameter_frame(experiments, model), collapse, threshold=0.6)
    if box is None:  # (every experiment in the worst quartile, e.g. one experiment, or none)
        print(
            "PRIM found no box (it needs experiments both in and out of the worst quartile); "
            f"results: {out}/ (experiments.csv, outcomes.csv)"
        )
        return
    box.inspect()  # prints coverage, density and the box limits
    stats, limits = box.inspect(style="data")[0]
    print(f"box: coverage {stats['coverage']:.2f}, density {stats['density']:.2f}")
    tradeoff, box_graph = box.show_tradeoff(), box.inspect(style="graph")[0]
    save_outputs(
        out,
        {
            "prim_box.csv": lambda p: limits.to_csv(p),
            "prim_tradeoff.png": lambda p: tradeoff.savefig(
                p, dpi=110, bbox_inches="tight", format="png"
            ),
            "prim_box.png": lambda p: box_graph.savefig(
                p, dpi=110, bbox_inches="tight", format="png"
            ),
        },
        command="examples",
    )
    print(f"results: {out}/")


if __name__ == "__main__":
    run_script(main)
