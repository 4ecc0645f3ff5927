"""What is lost: tails, variance, correctness, capability — generation by generation.

Rank-frequency curves of each generation's concept distribution against the human reference
p_H, tail-survival curves (how many rare concepts a lineage can still produce), and the
collapse symptoms per generation from ``lineage`` (capability, fact accuracy, style variance).
Generations are read in the framing of the collapse literature: generation 0 (trained on a
mostly human web), generation 1, and generations 2+ (trained on a web full of model output).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from habsburg.analysis.convergence import HUMAN, generation_vectors
from habsburg.ecosystem.metrics import QUALITY_METRICS

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

PHASES = ("generation 0", "generation 1", "generation 2+")


def phase(generation: ArrayLike) -> np.ndarray:
    """``generation 0`` / ``generation 1`` / ``generation 2+`` for each generation number."""
    g = np.asarray(generation)
    return np.array(PHASES, dtype=object)[np.clip(g, 0, 2)]


def human_entropy(concepts: pd.DataFrame) -> float:
    """Entropy of p_H in nats: the floor of the capability (cross-entropy) measure."""
    p = concepts["p_human"].to_numpy(dtype=float)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def rank_frequency(
    concept_distributions: pd.DataFrame, model: str, generations: list[int] | None = None
) -> pd.DataFrame:
    """Zipf plots: each generation's concept probabilities sorted from most to least likely
    (``rank`` 1..support), next to p_H's (``model = "human"``). A generation's curve ends at its
    support: concepts past it can no longer be produced."""
    keys, q = generation_vectors(concept_distributions)
    pick = keys["model"] == model
    if generations is not None:
        pick &= keys["generation"].isin(generations)
    pick |= keys["model"] == HUMAN
    parts = []
    for i in np.flatnonzero(pick.to_numpy()):
        p = np.sort(q[i])[::-1]
        p = p[p > 0]
        parts.append(
            pd.DataFrame(
                {
                    "model": keys.at[i, "model"],
                    "generation": int(keys.at[i, "generation"]),
                    "rank": np.arange(1, p.size + 1),
                    "probability": p,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def ratio_to_human(
    concept_distributions: pd.DataFrame,
    concepts: pd.DataFrame,
    model: str,
    bins: int = 30,
) -> pd.DataFrame:
    """How each generation over- or under-produces concepts by their p_H rank: in log-spaced
    rank bins, the generation's probability mass over p_H's mass (1 = as humans write; the head
    above 1 and the tail falling toward 0 is collapse), and the share of the bin it can still
    produce at all."""
    keys, q = generation_vectors(concept_distributions)
    p_h = concepts.sort_values("concept")["p_human"].to_numpy(dtype=float)
    order = np.argsort(-p_h, kind="stable")
    k = p_h.size
    edges = np.unique(np.geomspace(1, k + 1, bins + 1).astype(int))
    bin_of_rank = np.searchsorted(edges, np.arange(1, k + 1), side="right") - 1
    human_mass = np.bincount(bin_of_rank, weights=p_h[order], minlength=edges.size - 1)
    size = np.bincount(bin_of_rank, minlength=edges.size - 1)
    rows = []
    for i in np.flatnonzero((keys["model"] == model).to_numpy()):
        qq = q[i][order]
        mass = np.bincount(bin_of_rank, weights=qq, minlength=edges.size - 1)
        alive = np.bincount(bin_of_rank, weights=qq > 0, minlength=edges.size - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rows.append(
                pd.DataFrame(
                    {
                        "generation": int(keys.at[i, "generation"]),
                        "rank_low": edges[:-1],
                        "rank_high": edges[1:] - 1,
                        "ratio": np.where(human_mass > 0, mass / human_mass, np.nan),
                        "producible": np.where(size > 0, alive / size, np.nan),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def tail_survival(concept_distributions: pd.DataFrame, concepts: pd.DataFrame) -> pd.DataFrame:
    """How many tail concepts each lineage still knows, generation by generation.

    One row per (model, generation): ``tail_known`` (tail concepts with non-zero sampling
    probability), ``tail_total``, ``tail_coverage`` (their share, as in ``lineage``),
    ``survival`` (share of the tail concepts generation 0 knew that this generation still knows)
    and ``phase`` (generation 0 / 1 / 2+).
    """
    keys, q = generation_vectors(concept_distributions)
    tail = concepts.sort_values("concept")["tail"].to_numpy(dtype=bool)
    known = q[:, tail] > 0
    out = keys.copy()
    out["tail_known"] = known.sum(axis=1)
    out["tail_total"] = int(tail.sum())
    n_tail = int(tail.sum())  # none: the coverage is undefined (NaN), as in lineage
    out["tail_coverage"] = out["tail_known"] / n_tail if n_tail else np.nan
    out["support"] = (q > 0).sum(axis=1)
    survival = np.full(len(keys), np.nan)
    for _, g in keys[keys["model"] != HUMAN].groupby("model"):
        rows = g.sort_values("generation").index.to_numpy()
        first = known[rows[0]]
        if first.any():
            survival[rows] = (known[rows] & first).sum(axis=1) / first.sum()
    out["survival"] = survival
    out = out[out["model"] != HUMAN].reset_index(drop=True)
    out["phase"] = phase(out["generation"].to_numpy())
    return out


#: the ``lineage`` columns :func:`generation_quality` keeps: each generation's quality metrics
#: (declared once in :data:`habsburg.ecosystem.metrics.QUALITY_METRICS`) and what it was trained on
GENERATION_COLUMNS = (*QUALITY_METRICS, "synthetic_share", "wrong_claim_share")


def generation_quality(lineage: pd.DataFrame, concepts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The collapse symptoms of every generation (from ``lineage``): capability (and, given
    ``concepts``, its excess over the entropy of p_H, ``excess_nats``), tail coverage, fact
    accuracy (all and tail facts), style variance ratio (lost variance), and the synthetic and
    wrong-claim shares of the data it was trained on (compounding errors)."""
    cols = ["model", "generation", "step", "month"]
    cols += [c for c in GENERATION_COLUMNS if c in lineage]
    out = lineage[cols].sort_values(["model", "generation"]).reset_index(drop=True)
    if concepts is not None:
        out["excess_nats"] = out["capability"] - human_entropy(concepts)
    out["phase"] = phase(out["generation"].to_numpy())
    return out


def by_phase(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` per model in generation 0, generation 1 and generations 2+ (their mean), with a
    last row ``all models``: the mean over the models that reached every phase the table shows,
    so that the row compares phases over one set of models (a model launched late, still in
    generation 0, would otherwise move it by who is averaged, not by what the generations lost).
    When no model reached every phase, each phase's mean is over the models that reached it;
    :func:`phase_models` says which case a table is."""
    wide = table.pivot_table(index="model", columns="phase", values=column, aggfunc="mean")
    wide = wide.reindex(columns=[p for p in PHASES if p in wide.columns])
    complete = _complete(table).reindex(wide.index, fill_value=False)
    wide.loc["all models"] = wide[complete].mean() if complete.any() else wide.mean()
    wide.columns.name = None
    return wide


def _complete(table: pd.DataFrame) -> pd.Series:
    """Per model: whether it reached every phase ``table`` shows."""
    return table.groupby("model")["phase"].nunique() == table["phase"].nunique()


def phase_models(table: pd.DataFrame) -> tuple[int, int]:
    """(models that reached every phase ``table`` shows, models): the models
    :func:`by_phase`'s ``all models`` row averages, when the first is not 0."""
    complete = _complete(table)
    return int(complete.sum()), int(complete.size)
