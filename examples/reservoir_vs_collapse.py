"""How large a licensed human-data reservoir holds off collapse in a closed loop?

Starts from the library's ``synthetic_loop`` scenario: from 2024-01 human authors stop publishing
on the open web and every model retrains on ``replace``, so without help each generation learns
from model, farm and repost text only. Each lab then fills a share ``human_reservoir`` of every
retrain's budget from licensed pre-AI human writing. For each share (over a couple of seeds) the
study reports the models' tail coverage, fact accuracy and capability (cross-entropy to human text)
at the end of the run, next to the calibrated baseline (open web, humans still writing), and plots
their trajectories. Alemohammad et al. (2024) find that a fixed real set delays but does not
prevent decline; here the question is how much of it is enough to match the open web.

    python examples/reservoir_vs_collapse.py           # 5 shares x 2 seeds (~4 min)
    python examples/reservoir_vs_collapse.py --quick   # 3 shares x 1 seed, a fifth-size world to 2026-12

Writes ``reservoir_vs_collapse.csv`` and ``reservoir_vs_collapse.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from tqdm.auto import tqdm

from habsburg.cli import run_script
from habsburg.experiments.files import prepare_output_dir, save_figure, save_outputs
from habsburg.experiments.run import simulate
from habsburg.scenarios import load_scenario, set_setting
from habsburg.scenarios.library import scaled

if TYPE_CHECKING:
    from habsburg.scenarios.schema import Scenario

OUTCOMES = {
    "mean_tail_coverage": "tail coverage",
    "mean_fact_accuracy": "fact accuracy",
    "mean_capability": "capability (nats, lower is better)",
}


def prepare(name: str, quick: bool) -> Scenario:
    sc = load_scenario(name)
    if quick:
        sc = scaled(sc, 0.2)
        set_setting(sc, "end", "2026-12")
    return sc


def run(sc: Scenario, seed: int, label: str) -> pd.DataFrame:
    """Monthly model-level metrics of one run (DataCollector table) tagged with ``label``."""
    model = simulate(sc, seed=seed)
    mm = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    mm["month"] = pd.to_datetime([sc.step_to_month(i) for i in range(len(mm))])
    mm["arm"], mm["seed"] = label, seed
    return mm[["arm", "seed", "month", *OUTCOMES, "training_synthetic_after"]]


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument(
        "--quick", action="store_true", help="small grid on a fifth-size world to 2026-12"
    )
    parser.add_argument("--out", default="results/examples", help="output directory")
    args = parser.parse_args(argv)
    out = prepare_output_dir(
        args.out,
        command="examples",
        can_force=False,
        expect=["reservoir_vs_collapse.csv", "reservoir_vs_collapse.png"],
    )  # before any work: never a user's file
    shares = [0.0, 0.25, 0.5] if args.quick else [0.0, 0.1, 0.25, 0.4, 0.6]
    seeds = [1] if args.quick else [1, 2]

    arms = [("baseline (open web)", prepare("baseline", args.quick))]
    for share in shares:
        sc = prepare("synthetic_loop", args.quick)
        set_setting(sc, "models.*.data.human_reservoir", share)
        arms.append((f"closed loop, reservoir {share:.0%}", sc))

    jobs = [(label, sc, seed) for label, sc in arms for seed in seeds]
    frames = [run(sc, seed, label) for label, sc, seed in tqdm(jobs, desc="runs", unit="run")]
    monthly = pd.concat(frames, ignore_index=True)
    order = [label for label, _ in arms]
    final = (
        monthly.groupby(["arm", "seed"])
        .tail(1)
        .groupby("arm")[list(OUTCOMES)]
        .mean()
        .reindex(order)
        .rename(columns=OUTCOMES)
    )

    save_outputs(
        out,
        {"reservoir_vs_collapse.csv": lambda p: monthly.to_csv(p, index=False)},
        command="examples",
    )
    pd.set_option("display.width", 200)
    print(f"End of run ({arms[0][1].end}), mean over seeds {seeds}:\n")
    print(final.round(3).to_string())
    matched = [
        label
        for label in order[1:]
        if final.loc[label, "tail coverage"] >= final.loc[order[0], "tail coverage"]
    ]
    print(
        "\nSmallest reservoir matching the open web's tail coverage: "
        + (matched[0].split()[-1] if matched else "none in the grid")
    )

    fig, axes = plt.subplots(1, len(OUTCOMES), figsize=(14, 4))
    means = monthly.groupby(["arm", "month"])[list(OUTCOMES)].mean()
    for ax, (column, title) in zip(axes, OUTCOMES.items(), strict=True):
        for label in order:
            s = means.loc[label, column]
            ax.plot(s.index, s.values, label=label, ls="--" if label == order[0] else "-")
        ax.axvline(pd.Timestamp("2024-01"), color="grey", ls=":", lw=1)
        ax.set(title=title)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    png = save_figure(out, "reservoir_vs_collapse.png", fig, command="examples")
    print(f"\nwrote {out / 'reservoir_vs_collapse.csv'} and {png}")
    return final


if __name__ == "__main__":
    run_script(main)
