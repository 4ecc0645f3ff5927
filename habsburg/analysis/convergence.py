"""Are the models converging on each other?

Pairwise Jensen–Shannon divergence between the concept distributions of the deployed models over
time, distances between their style distributions, the homogenization index (systemic-failure
ratio), and the "who trains on whose output" graph with its heaviest paths.

Inputs are a run's tables (``concept_distributions``, ``style_distributions``, ``model_metrics``,
``training_sources``); a generation is deployed from the step it was trained until its model's
next generation.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import networkx as nx
import numpy as np
import pandas as pd

from habsburg.ecosystem.metrics import js_divergence

HUMAN = "human"


def generation_vectors(
    table: pd.DataFrame, column: str = "probability"
) -> tuple[pd.DataFrame, np.ndarray]:
    """Each generation's concept distribution as one row of a matrix.

    ``table`` is ``concept_distributions`` (model, generation, step, concept, probability);
    returns ``(keys, Q)``: keys has one row per (model, generation) with its ``step``; ``Q[i]`` is
    the distribution of ``keys.iloc[i]`` over concepts ``0..K-1``.
    """
    if table.empty:
        return pd.DataFrame(columns=["model", "generation", "step"]), np.zeros((0, 0))
    concept = table["concept"].to_numpy()
    k = int(concept.max()) + 1
    if len(table) % k == 0 and np.array_equal(
        concept.reshape(-1, k), np.broadcast_to(np.arange(k), (len(table) // k, k))
    ):
        # as runs write it: one block of K concepts per generation, in concept order
        keys = table.iloc[::k][["model", "generation", "step"]].reset_index(drop=True)
        if not keys.duplicated(["model", "generation"]).any():
            return keys, table[column].to_numpy(dtype=float).reshape(-1, k)
    t = table.sort_values(["model", "generation", "concept"], kind="stable")
    keys = t.drop_duplicates(["model", "generation"])[["model", "generation", "step"]]
    keys = keys.reset_index(drop=True)
    q = np.zeros((len(keys), k))
    row = t.groupby(["model", "generation"], sort=True).ngroup().to_numpy()
    q[row, t["concept"].to_numpy()] = t[column].to_numpy()
    return keys, q


def deployed_at(keys: pd.DataFrame, steps: np.ndarray | list[int]) -> pd.DataFrame:
    """Which generation of each model is deployed at each step: ``(step, model, generation,
    row)`` where ``row`` indexes ``keys`` (the latest generation trained at or before the step)."""
    keys = keys.reset_index(drop=True)
    models = keys[keys["model"] != HUMAN]
    parts = []
    for model, g in models.groupby("model", sort=True):
        g = g.sort_values("step", kind="stable")
        at = np.searchsorted(g["step"].to_numpy(), np.asarray(steps), side="right") - 1
        ok = at >= 0
        parts.append(
            pd.DataFrame(
                {
                    "step": np.asarray(steps)[ok],
                    "model": model,
                    "generation": g["generation"].to_numpy()[at[ok]],
                    "row": g.index.to_numpy()[at[ok]],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["step", "model", "generation", "row"])
    return pd.concat(parts, ignore_index=True).sort_values(["step", "model"], ignore_index=True)


def js_matrix(distributions: dict[str, np.ndarray]) -> pd.DataFrame:
    """Square matrix of pairwise Jensen–Shannon divergences (nats) between named distributions."""
    names = list(distributions)
    m = np.zeros((len(names), len(names)))
    for i, j in itertools.combinations(range(len(names)), 2):
        m[i, j] = m[j, i] = js_divergence(distributions[names[i]], distributions[names[j]])
    return pd.DataFrame(m, index=names, columns=names)


def js_at_step(
    concept_distributions: pd.DataFrame, step: int, *, include_human: bool = True
) -> pd.DataFrame:
    """JS matrix between the models deployed at ``step`` (and the human reference p_H)."""
    keys, q = generation_vectors(concept_distributions)
    deployed = deployed_at(keys, [step])
    dists = {m: q[r] for m, r in zip(deployed["model"], deployed["row"], strict=True)}
    if include_human:
        human = keys.index[keys["model"] == HUMAN]
        if len(human):
            dists[HUMAN] = q[human[0]]
    return js_matrix(dists)


def js_over_time(
    concept_distributions: pd.DataFrame, steps: np.ndarray | list[int] | None = None
) -> pd.DataFrame:
    """Pairwise JS divergence between deployed models at every step: long table ``(step,
    model_a, model_b, js)``, plus each model's JS to p_H as ``model_b = "human"``.

    ``steps`` defaults to every step from the first generation to the last one recorded.
    """
    keys, q = generation_vectors(concept_distributions)
    if steps is None:
        trained = keys.loc[keys["model"] != HUMAN, "step"]
        steps = np.arange(int(trained.min()), int(trained.max()) + 1) if len(trained) else []
    return _pairwise_by_step(
        keys, steps, lambda a, b: (js_divergence(q[a], q[b]),), ["step", "model_a", "model_b", "js"]
    )


def _pairwise_by_step(
    keys: pd.DataFrame,
    steps: np.ndarray | list[int],
    distance: Callable[[int, int], tuple[float, ...]],
    columns: list[str],
) -> pd.DataFrame:
    """At every step, ``distance`` between the rows of each pair of deployed models and between
    each deployed model and the human reference (``model_b = "human"``): a long table with
    ``columns`` (step, model_a, model_b, then the distance's values). A pair of rows is measured
    once (generations stay deployed for many steps)."""
    deployed = deployed_at(keys, steps)
    human = keys.index[keys["model"] == HUMAN]
    cache: dict[tuple[int, int], tuple[float, ...]] = {}

    def measured(a: int, b: int) -> tuple[float, ...]:
        key = (min(a, b), max(a, b))
        if key not in cache:
            cache[key] = distance(a, b)
        return cache[key]

    rows = []
    for step, g in deployed.groupby("step", sort=True):
        models, idx = g["model"].tolist(), g["row"].tolist()
        for i, j in itertools.combinations(range(len(models)), 2):
            rows.append((step, models[i], models[j], *measured(idx[i], idx[j])))
        if len(human):
            rows.extend(
                (step, m, HUMAN, *measured(r, human[0])) for m, r in zip(models, idx, strict=True)
            )
    return pd.DataFrame(rows, columns=columns)


def mean_pairwise_over_time(pairs: pd.DataFrame) -> pd.Series:
    """Mean JS between deployed models per step (the same figure as ``model_metrics``'s
    ``mean_pairwise_js``); pairs with the human reference are left out."""
    return means_over_time(pairs, "js")[0].rename("mean_pairwise_js")


def means_over_time(
    pairs: pd.DataFrame, columns: str | list[str]
) -> tuple[pd.Series | pd.DataFrame, pd.Series | pd.DataFrame]:
    """Per step, the mean of ``columns`` of a long pair table (:func:`js_over_time`,
    :func:`style_distances_over_time`) over the pairs of models, and over each model's distance
    to the human reference: ``(between models, to humans)``, indexed by step."""
    to_human = pairs["model_b"] == HUMAN
    return (
        pairs[~to_human].groupby("step")[columns].mean(),
        pairs[to_human].groupby("step")[columns].mean(),
    )


def gaussian_w2(
    mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """2-Wasserstein distance between two Gaussians (Dowson & Landau 1982; Givens & Shortt 1984):
    W2² = |μa − μb|² + tr(Σa + Σb − 2 (Σb^½ Σa Σb^½)^½).

    Both roots are of symmetric positive semi-definite matrices, taken from their eigenvalues
    (negative rounding clipped to 0): a collapsed model's singular covariance (σ → 0, the end
    point of Shumailov et al.'s Thm 3.1) has an exact root, where a general matrix root
    (``scipy.linalg.sqrtm``) warned that the matrix was ill-conditioned or singular."""
    w, v = np.linalg.eigh(_symmetric(cov_b))
    root_b = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    cross = np.linalg.eigvalsh(_symmetric(root_b @ np.asarray(cov_a, dtype=float) @ root_b))
    bures = (
        np.trace(cov_a) + np.trace(cov_b) - 2.0 * float(np.sqrt(np.clip(cross, 0.0, None)).sum())
    )
    w2sq = float(np.sum((np.asarray(mean_a) - np.asarray(mean_b)) ** 2) + max(bures, 0.0))
    return float(np.sqrt(max(w2sq, 0.0)))


def _symmetric(m: np.ndarray) -> np.ndarray:
    """(M + Mᵀ)/2: a covariance (or a product of such) rid of asymmetric rounding."""
    m = np.asarray(m, dtype=float)
    return (m + m.T) / 2.0


def style_distances_over_time(
    style_distributions: pd.DataFrame, steps: np.ndarray | None = None
) -> pd.DataFrame:
    """Distances between the style distributions of deployed models at every step: long table
    ``(step, model_a, model_b, mean_distance, w2)``; ``model_b = "human"`` rows compare each model
    with the human documents' style. ``mean_distance`` is |μa − μb| (as ``mean_style_distance``
    in ``model_metrics``), ``w2`` the Gaussian 2-Wasserstein distance."""
    cols = ["step", "model_a", "model_b", "mean_distance", "w2"]
    if style_distributions is None or style_distributions.empty:
        return pd.DataFrame(columns=cols)
    keys = style_distributions[["model", "generation", "step"]].reset_index(drop=True)
    if steps is None:
        trained = keys.loc[keys["model"] != HUMAN, "step"]
        if trained.empty:
            return pd.DataFrame(columns=cols)
        steps = np.arange(int(trained.min()), int(trained.max()) + 1)
    means = [np.asarray(m, dtype=float) for m in style_distributions["mean"]]
    covs = [
        np.asarray(c, dtype=float).reshape(len(m), len(m))
        for m, c in zip(means, style_distributions["cov"], strict=True)
    ]

    def distance(a: int, b: int) -> tuple[float, float]:
        return (
            float(np.linalg.norm(means[a] - means[b])),
            gaussian_w2(means[a], covs[a], means[b], covs[b]),
        )

    return _pairwise_by_step(keys, steps, distance, cols)


def homogenization(model_metrics: pd.DataFrame) -> pd.DataFrame:
    """The homogenization index over time: the systemic-failure ratio (rate at which all deployed
    models fail the same fact over the rate independence predicts; Bommasani et al. 2022)."""
    cols = ["step", "month", "deployed_models", "systemic_failure_ratio"]
    return model_metrics[[c for c in cols if c in model_metrics]].dropna(
        subset=["systemic_failure_ratio"]
    )


def training_graph(training_sources: pd.DataFrame, step: int | None = None) -> nx.DiGraph:
    """Who trains on whose output: an edge A → B weighted by the share of model B's training data
    written by model A, for the generation of B deployed at ``step`` (default: B's latest).

    Node attributes: ``generation`` (of the node's deployed generation) and ``synthetic_share``
    (share of its training data written by any model; the rest is human or sensor data).
    """
    g = nx.DiGraph()
    if training_sources is None or training_sources.empty:
        return g
    ts = training_sources
    if step is not None:
        ts = ts[ts["step"] <= step]
    latest = ts.groupby("model")["generation"].transform("max")
    ts = ts[ts["generation"] == latest]
    for model, rows in ts.groupby("model", sort=True):
        g.add_node(
            model,
            generation=int(rows["generation"].iloc[0]),
            synthetic_share=float(rows["share"].sum()),
        )
    for src in ts["source_model"].unique():
        if src not in g:
            g.add_node(src, generation=-1, synthetic_share=float("nan"))
    for src, dst, share in ts[["source_model", "model", "share"]].itertuples(index=False):
        g.add_edge(src, dst, weight=float(share))
    return g


def heaviest_paths(graph: nx.DiGraph, k: int = 10, max_hops: int = 4) -> pd.DataFrame:
    """The ``k`` heaviest training chains: simple paths A → … → Z of 1..``max_hops`` edges, weighed
    by the product of their shares (the share of Z's training data that is, through that chain,
    A's output passed on model to model). Self-loops (a model training on itself) are skipped."""
    out = {
        n: [(m, d["weight"]) for m, d in graph[n].items() if m != n and d["weight"] > 0]
        for n in graph.nodes
    }
    rows = []

    def extend(path: list, weight: float) -> None:
        if len(path) > 1:
            rows.append((" → ".join(map(str, path)), len(path) - 1, weight, path[0], path[-1]))
        if len(path) > max_hops:
            return
        for nxt, w in out[path[-1]]:
            if nxt not in path:
                extend([*path, nxt], weight * w)

    for node in graph.nodes:
        extend([node], 1.0)
    df = pd.DataFrame(rows, columns=["path", "hops", "weight", "source", "target"])
    return (
        df.sort_values(["weight", "hops", "path"], ascending=[False, True, True])
        .head(k)
        .reset_index(drop=True)
    )
