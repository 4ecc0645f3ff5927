"""Tails and capability: rank-frequency, tail survival, generation phases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from frames import concept_distributions as distributions

from habsburg.analysis import tails as T

P_H = np.array([0.4, 0.3, 0.1, 0.1, 0.05, 0.05])
TAIL = np.array([False, False, False, True, True, True])  # concepts 3, 4, 5 are the tail
CONCEPTS = pd.DataFrame({"concept": np.arange(6), "p_human": P_H, "tail": TAIL})


def lineage_distributions():
    gen0 = np.array([0.4, 0.3, 0.1, 0.1, 0.05, 0.05])  # knows the whole tail
    gen1 = np.array([0.45, 0.3, 0.1, 0.1, 0.05, 0.0])  # lost concept 5
    gen2 = np.array([0.5, 0.35, 0.15, 0.0, 0.0, 0.0])  # lost the tail
    gen3 = np.array([0.5, 0.3, 0.1, 0.0, 0.1, 0.0])  # concept 4 came back
    return distributions(
        [
            ("human", -1, 0, P_H),
            ("m", 0, 10, gen0),
            ("m", 1, 20, gen1),
            ("m", 2, 30, gen2),
            ("m", 3, 40, gen3),
            ("n", 0, 15, gen1),
        ]
    )


def test_phases():
    assert list(T.phase([0, 1, 2, 7])) == [
        "generation 0",
        "generation 1",
        "generation 2+",
        "generation 2+",
    ]


def test_tail_survival_counts_the_tail_a_lineage_still_knows():
    s = T.tail_survival(lineage_distributions(), CONCEPTS).set_index(["model", "generation"])
    assert list(s.loc["m", "tail_known"]) == [3, 2, 0, 1]
    assert s.loc[("m", 1), "tail_coverage"] == pytest.approx(2 / 3)
    assert list(s.loc["m", "survival"]) == pytest.approx([1.0, 2 / 3, 0.0, 1 / 3])
    assert s.loc[("n", 0), "survival"] == 1.0  # measured against n's own generation 0
    assert list(s.loc["m", "support"]) == [6, 5, 3, 4]
    assert (s["tail_total"] == 3).all()
    phases = T.by_phase(s.reset_index(), "tail_known")
    assert phases.loc["m", "generation 2+"] == pytest.approx(0.5)  # mean of generations 2 and 3
    assert np.isnan(phases.loc["n", "generation 1"])
    # n never left generation 0: the all-models row is m's alone, one set of models in each phase
    assert phases.loc["all models", "generation 0"] == pytest.approx(3)
    assert T.phase_models(s.reset_index()) == (1, 2)


def test_by_phase_compares_phases_over_the_models_that_reached_them_all():
    """Two models lose nothing from generation 0 to 2+; a third, launched late, is in generation
    0 only and knows far less. Averaging each phase over whoever reached it would read a gain of
    (10 + 10 + 1) / 3 = 7 → 10; over the two models with every phase there is no change."""
    table = pd.DataFrame(
        {
            "model": ["a", "a", "a", "b", "b", "b", "late"],
            "phase": [*T.PHASES, *T.PHASES, "generation 0"],
            "x": [10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 1.0],
        }
    )
    row = T.by_phase(table, "x").loc["all models"]
    assert list(row) == [10.0, 10.0, 10.0]
    assert T.phase_models(table) == (2, 3)
    # no model with every phase: each phase over the models that reached it
    sparse = table[
        ~((table["model"] == "b") | ((table["model"] == "a") & (table["phase"] == "generation 0")))
    ]
    assert T.phase_models(sparse) == (0, 2)
    assert list(T.by_phase(sparse, "x").loc["all models"]) == [1.0, 10.0, 10.0]


def test_rank_frequency_ends_at_the_support_and_ratio_is_one_for_p_h():
    rf = T.rank_frequency(lineage_distributions(), "m", generations=[0, 2])
    assert set(rf["model"]) == {"m", "human"}
    gen2 = rf[(rf["model"] == "m") & (rf["generation"] == 2)]
    assert list(gen2["rank"]) == [1, 2, 3]
    assert gen2["probability"].is_monotonic_decreasing
    ratio = T.ratio_to_human(lineage_distributions(), CONCEPTS, "m", bins=6)
    gen0 = ratio[ratio["generation"] == 0]
    assert np.allclose(gen0["ratio"], 1.0) and np.allclose(gen0["producible"], 1.0)
    last = ratio[ratio["generation"] == 2]
    assert last["producible"].iloc[-1] == 0.0  # the rarest bin is gone


def test_generation_quality_and_capability_excess():
    lineage = pd.DataFrame(
        {
            "model": ["m", "m", "m"],
            "generation": [0, 1, 2],
            "step": [10, 20, 30],
            "month": ["a", "b", "c"],
            "capability": [1.5, 1.6, 1.9],
            "fact_accuracy": [0.9, 0.85, 0.8],
        }
    )
    q = T.generation_quality(lineage, CONCEPTS)
    entropy = -(P_H * np.log(P_H)).sum()
    assert T.human_entropy(CONCEPTS) == pytest.approx(entropy)
    assert q["excess_nats"].tolist() == pytest.approx([1.5 - entropy, 1.6 - entropy, 1.9 - entropy])
    assert list(q["phase"]) == ["generation 0", "generation 1", "generation 2+"]


def test_run_tail_coverage_matches_lineage(tiny_run_dir):
    cd = pd.read_parquet(tiny_run_dir / "concept_distributions.parquet")
    concepts = pd.read_parquet(tiny_run_dir / "concepts.parquet")
    lineage = pd.read_parquet(tiny_run_dir / "lineage.parquet")
    s = T.tail_survival(cd, concepts).merge(lineage, on=["model", "generation"])
    assert len(s) == len(lineage) > 0
    assert np.allclose(s["tail_coverage_x"], s["tail_coverage_y"])
    assert np.allclose(s["support_x"] / len(concepts), s["support_y"])
