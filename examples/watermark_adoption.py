"""How much watermark adoption keeps synthetic text out of training data?

A watermark mandate takes effect in 2025-01: a share ``adoption`` of the output of labs that did
not watermark complies, and crawlers lower their detector threshold to z > 3. For each adoption
level (over a couple of seeds) this study runs the calibrated baseline with that mandate and reports,
for the last year of the run: the synthetic share of crawled data after the filters, the filters'
recall, human documents wrongly removed, and the models' tail coverage and fact accuracy. It then
answers: what is the smallest adoption that keeps the synthetic share of filtered crawls under a
target (default one third, the rough stability bound of Bertrand et al. 2024)?

    python examples/watermark_adoption.py            # 5 levels x 2 seeds, full baseline (~4 min)
    python examples/watermark_adoption.py --quick    # 3 levels x 1 seed, a fifth-size world to 2026-12

Writes ``watermark_adoption.csv`` (one row per run) and ``watermark_adoption.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from tqdm.auto import tqdm

from habsburg.cli import run_script
from habsburg.cli.flags import number
from habsburg.experiments.files import prepare_output_dir, save_figure, save_outputs
from habsburg.experiments.run import simulate
from habsburg.scenarios import load_scenario, set_setting
from habsburg.scenarios.library import scaled
from habsburg.scenarios.schema import Intervention, Scenario, check_setting

if TYPE_CHECKING:
    from habsburg.model.model import EcosystemModel

MANDATE = "2025-01"


def with_mandate(base: Scenario, adoption: float, threshold: float) -> Scenario:
    """``base`` plus a watermark mandate at ``MANDATE`` with the given compliance."""
    sc = copy.deepcopy(base)
    settings = {
        "watermark.adoption": adoption,
        "scrapers.*.filters.watermark_threshold": threshold,
    }
    for path, value in settings.items():
        check_setting(sc, path, value, "mandate")
    sc.interventions.append(
        Intervention(at=MANDATE, set=settings, note=f"watermark mandate, {adoption:.0%} compliance")
    )
    sc.name = f"mandate-{adoption:g}"
    return sc


def last_year(model: EcosystemModel) -> dict[str, float]:
    """Headline outcomes of a run: means over its last 12 months (DataCollector table)."""
    mm = model.datacollector.get_model_vars_dataframe().iloc[-12:]
    return {
        "synthetic_after_filters": mm["training_synthetic_after"].mean(),
        "synthetic_before_filters": mm["training_synthetic_before"].mean(),
        "filter_recall": mm["filter_recall"].mean(),
        "human_documents_lost": mm["human_documents_lost"].mean(),
        "tail_coverage": mm["mean_tail_coverage"].mean(),
        "fact_accuracy": mm["mean_fact_accuracy"].mean(),
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument(
        "--quick", action="store_true", help="small grid on a fifth-size world to 2026-12"
    )
    parser.add_argument(
        "--target",
        type=number(0.0, 1.0, open_low=True, open_high=True),
        default=1 / 3,
        help="target synthetic share",
    )
    parser.add_argument(
        "--threshold",
        type=number(0.0, 100.0),  # the range of scrapers.*.filters.watermark_threshold
        default=3.0,
        help="detector z threshold",
    )
    parser.add_argument("--out", default="results/examples", help="output directory")
    args = parser.parse_args(argv)
    out = prepare_output_dir(
        args.out,
        command="examples",
        can_force=False,
        expect=["watermark_adoption.csv", "watermark_adoption.png"],
    )  # before any work: never a user's file

    base = load_scenario("baseline")
    if args.quick:
        base = scaled(base, 0.2)
        set_setting(base, "end", "2026-12")
        levels, seeds = [0.0, 0.5, 0.95], [1]
    else:
        levels, seeds = [0.0, 0.25, 0.5, 0.75, 0.95], [1, 2]

    rows, series = [], []
    runs = [(level, seed) for level in levels for seed in seeds]
    for level, seed in tqdm(runs, desc="runs", unit="run"):
        model = simulate(with_mandate(base, level, args.threshold), seed=seed)
        rows.append({"adoption": level, "seed": seed, **last_year(model)})
        mm = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        series.append(
            pd.DataFrame(
                {
                    "adoption": level,
                    "seed": seed,
                    "month": pd.to_datetime([base.step_to_month(i) for i in range(len(mm))]),
                    "synthetic_after_filters": mm["training_synthetic_after"],
                }
            )
        )
    runs_df = pd.DataFrame(rows)
    table = runs_df.drop(columns="seed").groupby("adoption").mean()

    save_outputs(
        out,
        {"watermark_adoption.csv": lambda p: runs_df.to_csv(p, index=False)},
        command="examples",
    )
    pd.set_option("display.width", 200)
    print(f"Watermark mandate from {MANDATE}, detector z > {args.threshold:g}; last 12 months,")
    print(f"mean over seeds {seeds}:\n")
    print(table.round(3).to_string())
    enough = table.index[table["synthetic_after_filters"] <= args.target]
    if len(enough):
        print(
            f"\nSmallest adoption keeping filtered crawls under {args.target:.0%} synthetic: "
            f"{enough.min():.0%}"
        )
    else:
        print(f"\nNo adoption level in {levels} keeps filtered crawls under {args.target:.0%}.")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ts = pd.concat(series).groupby(["adoption", "month"])["synthetic_after_filters"].mean()
    for level in levels:
        ax1.plot(ts.loc[level].index, ts.loc[level].values, label=f"{level:.0%}")
    ax1.axvline(pd.Timestamp(MANDATE), color="grey", ls=":", lw=1)
    ax1.axhline(args.target, color="black", ls="--", lw=1)
    ax1.set(title="Synthetic share of crawls after filters", ylabel="share")
    ax1.legend(title="adoption", fontsize=8)
    for column in ("synthetic_after_filters", "tail_coverage", "fact_accuracy", "filter_recall"):
        ax2.plot(table.index, table[column], marker="o", label=column.replace("_", " "))
    ax2.set(title="Last 12 months", xlabel="watermark adoption", ylim=(0, 1))
    ax2.legend(fontsize=8)
    fig.tight_layout()
    png = save_figure(out, "watermark_adoption.png", fig, command="examples")
    print(f"\nwrote {out / 'watermark_adoption.csv'} and {png}")
    return table


if __name__ == "__main__":
    run_script(main)
