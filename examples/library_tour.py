"""What does each defense and failure mode in the scenario library change, next to the baseline?

Runs library scenarios on the same seed as the calibrated baseline (so the comparison is paired)
and prints their headline numbers at the end of the run: the models' mean tail coverage, fact
accuracy and capability (cross-entropy to human text, lower is better), the synthetic share of the
training data of each model's latest generation, the largest error cascade (models that came to believe
one error; documents carrying it), wrong beliefs held, and the mean pairwise Jensen-Shannon
divergence between models. A bar chart shows each scenario's change from the baseline.

    python examples/library_tour.py                      # every library scenario (~8 min)
    python examples/library_tour.py replace_only accumulate_all
    python examples/library_tour.py --quick              # four scenarios, a fifth-size world to 2026-12

Writes ``library_tour.csv`` and ``library_tour.png`` to ``--out``.
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
from habsburg.scenarios import list_scenarios, load_scenario, set_setting
from habsburg.scenarios.library import scaled

if TYPE_CHECKING:
    from habsburg.model.model import EcosystemModel

QUICK = ["baseline", "replace_only", "human_reservoir", "tail_preserving"]


def headline(model: EcosystemModel) -> dict[str, float]:
    """End-of-run headline numbers of one run."""
    last = model.datacollector.get_model_vars_dataframe().iloc[-1]
    lineage = pd.DataFrame(model.events.lineage)
    return {
        "tail coverage": last["mean_tail_coverage"],
        "fact accuracy": last["mean_fact_accuracy"],
        "capability": last["mean_capability"],
        "synthetic share of training": lineage.groupby("model")["synthetic_share"].last().mean(),
        "largest cascade (models)": last["largest_cascade_models"],
        "largest cascade (documents)": last["largest_cascade_documents"],
        "wrong beliefs": last["active_wrong_beliefs"],
        "pairwise JS": last["mean_pairwise_js"],
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("scenarios", nargs="*", help="library scenarios (default: all)")
    parser.add_argument(
        "--quick", action="store_true", help="four scenarios, fifth-size world to 2026-12"
    )
    parser.add_argument("--out", default="results/examples", help="output directory")
    args = parser.parse_args(argv)
    out = prepare_output_dir(
        args.out,
        command="examples",
        can_force=False,
        expect=["library_tour.csv", "library_tour.png"],
    )  # before any work: never a user's file
    names = args.scenarios or (QUICK if args.quick else list(list_scenarios()))
    if "baseline" not in names:
        names = ["baseline", *names]
    scenarios = {name: load_scenario(name) for name in names}  # before any run: a typo is named

    rows = {}
    for name in tqdm(names, desc="scenarios", unit="run"):
        sc = scenarios[name]
        if args.quick:
            sc = scaled(sc, 0.2)
            set_setting(sc, "end", "2026-12")
        rows[name] = headline(simulate(sc))
    table = pd.DataFrame(rows).T

    save_outputs(
        out,
        {"library_tour.csv": lambda p: table.to_csv(p, index_label="scenario")},
        command="examples",
    )
    pd.set_option("display.width", 220)
    print(table.round(4).to_string())

    change = (table - table.loc["baseline"]) / table.loc["baseline"].abs()
    columns = ["tail coverage", "fact accuracy", "synthetic share of training", "wrong beliefs"]
    ax = change.drop(index="baseline")[columns].plot.barh(figsize=(9, 0.5 * len(names) + 2))
    ax.axvline(0, color="black", lw=0.8)
    ax.set(title="Change from the baseline (relative)", xlabel="(scenario - baseline) / baseline")
    ax.legend(fontsize=8)
    plt.tight_layout()
    png = save_figure(out, "library_tour.png", plt.gcf(), command="examples")
    print(f"\nwrote {out / 'library_tour.csv'} and {png}")
    return table


if __name__ == "__main__":
    run_script(main)
