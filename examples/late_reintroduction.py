"""Does collapse reverse when human data comes back, and how fast?

Starts from the library's ``synthetic_loop`` scenario (human authors leave the open web in 2024-01,
every model retrains on ``replace``) and adds, at a chosen month, the reintroduction of the
library's ``late_reintroduction`` scenario: labs license a pre-AI human archive for half of every
budget, add 10% fresh ground-truth data, and authors return to the open web. The authors come
back changed: while away they kept reading, and their interests drifted toward the synthetic text
they read (``humans.drift_rate``). For each reintroduction month the study reports tail coverage
and fact accuracy just before it and at the end, how many months tail coverage took to climb back
to the open web's (the baseline run, humans still writing, in the same month), and how far the authors' own writing has drifted from the original
human distribution by the end (Jensen-Shannon divergence to p_H): the drift follows the synthetic
text they read, so it grows while the loop is closed and eases once models recover.

    python examples/late_reintroduction.py           # reintroduction in 2026-01 and 2028-01 (~2 min)
    python examples/late_reintroduction.py --quick   # 2026-01 only, a fifth-size world, to 2027-12

Writes ``late_reintroduction.csv`` and ``late_reintroduction.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from habsburg.cli import run_script
from habsburg.cli.flags import SEED
from habsburg.ecosystem.metrics import js_divergence
from habsburg.experiments.files import prepare_output_dir, save_figure, save_outputs
from habsburg.experiments.run import simulate
from habsburg.scenarios import load_scenario, set_setting
from habsburg.scenarios.library import scaled
from habsburg.scenarios.schema import Intervention, Scenario

if TYPE_CHECKING:
    from habsburg.model.model import EcosystemModel

OPEN_WEB = "open web (baseline)"
#: tail coverage counts as recovered at this fraction of the open web's in the same month
RECOVERED = 0.95


def human_drift(model: EcosystemModel) -> float:
    """JS divergence (nats) between what the human population writes now and p_H."""
    humans, world = model.humans, model.world
    current = world.community_weight @ humans.community_concepts
    return js_divergence(current / current.sum(), world.p_human)


def with_reintroduction(loop: Scenario, at: str) -> Scenario:
    """The closed loop plus the ``late_reintroduction`` library scenario's intervention at ``at``."""
    reintroduction = load_scenario("late_reintroduction").interventions[-1]
    sc = copy.deepcopy(loop)
    sc.interventions.append(
        Intervention(at=at, set=dict(reintroduction.set), note=reintroduction.note)
    )
    return sc


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="one month, fifth-size world")
    parser.add_argument("--seed", type=SEED, default=1, help="random seed")
    parser.add_argument("--out", default="results/examples", help="output directory")
    args = parser.parse_args(argv)
    out = prepare_output_dir(
        args.out,
        command="examples",
        can_force=False,
        expect=["late_reintroduction.csv", "late_reintroduction.png"],
    )  # before any work: never a user's file

    base, loop = load_scenario("baseline"), load_scenario("synthetic_loop")
    if args.quick:
        base, loop = scaled(base, 0.2), scaled(loop, 0.2)
        for sc in (base, loop):
            set_setting(sc, "end", "2027-12")
    months = ["2026-01"] if args.quick else ["2026-01", "2028-01"]
    arms: list[tuple[str, str | None, Scenario]] = [
        (OPEN_WEB, None, base),
        ("closed loop", None, loop),
    ]
    arms += [(f"reintroduced {at}", at, with_reintroduction(loop, at)) for at in months]

    frames, rows, reference = [], [], None
    for label, at, sc in tqdm(arms, desc="runs", unit="run"):
        model = simulate(sc, seed=args.seed)
        mm = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        mm["month"] = pd.to_datetime([sc.step_to_month(i) for i in range(len(mm))])
        mm["arm"] = label
        frames.append(mm[["arm", "month", "mean_tail_coverage", "mean_fact_accuracy"]])
        tail = mm["mean_tail_coverage"].to_numpy()
        reference = tail if reference is None else reference
        row = {"arm": label}
        if at is not None:
            step = sc.month_to_step(at)
            back = np.flatnonzero(tail[step:] >= RECOVERED * reference[step:])
            row["tail before"] = tail[step - 1]
            row["facts before"] = mm["mean_fact_accuracy"].iloc[step - 1]
            row["months to recover"] = int(back[0]) if back.size else np.nan
        row["tail at end"] = tail[-1]
        row["facts at end"] = mm["mean_fact_accuracy"].iloc[-1]
        row["human drift (JS, nats)"] = human_drift(model)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("arm")

    monthly = pd.concat(frames, ignore_index=True)
    save_outputs(
        out,
        {"late_reintroduction.csv": lambda p: monthly.to_csv(p, index=False)},
        command="examples",
    )
    pd.set_option("display.width", 200)
    print(
        f"Seed {args.seed}; 'months to recover': from the reintroduction until tail coverage is back"
        f" to {RECOVERED:.0%} of the open web's in the same month (NaN: not within the run).\n"
    )
    print(table.round(4).to_string())

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, column in zip(axes, ("mean_tail_coverage", "mean_fact_accuracy"), strict=True):
        for label, at, _ in arms:
            s = monthly[monthly["arm"] == label]
            ax.plot(s["month"], s[column], label=label)
            if at is not None:
                ax.axvline(pd.Timestamp(at), color="grey", ls=":", lw=1)
        ax.axvline(pd.Timestamp("2024-01"), color="red", ls=":", lw=1)
        ax.set(title=column.replace("mean_", "").replace("_", " "))
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    png = save_figure(out, "late_reintroduction.png", fig, command="examples")
    print(f"\nwrote {out / 'late_reintroduction.csv'} and {png}")
    return table


if __name__ == "__main__":
    run_script(main)
