"""How do errors cascade?

Built from the error registry of a run: ``errors`` (every wrong fact value with its origin),
``error_claims`` (every document carrying one) and ``adoptions`` (every model generation that came
to believe one). An *actor* is whoever published a document: a human author (human and hybrid
documents), a model (its users' posts), a content farm or a scraper's aggregator sites.

The spread of one error is a directed graph: origin → the other actors who published it →
the models that came to believe it. A model's in-edges come from the actors whose documents
carried the error before (or in the month of) its adoption: the possible sources of what it
learned (the run does not record which crawled document taught which belief).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import pandas as pd

from habsburg.ecosystem.sampling import sorted_unique

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: wrong values humans started, as opposed to models (directly, through an assistant or a farm)
HUMAN_ORIGIN = "human"


@dataclass
class ActorNames:
    """Names for the integer ids in the registry (index = id)."""

    models: Sequence[str] = field(default_factory=list)
    farms: Sequence[str] = field(default_factory=list)
    scrapers: Sequence[str] = field(default_factory=list)

    @classmethod
    def from_scenario(cls, scenario: dict) -> ActorNames:
        """From a scenario as a dict (``manifest.json``'s ``scenario``)."""
        return cls(
            models=[m["name"] for m in scenario.get("models", [])],
            farms=[f["name"] for f in scenario.get("farms", [])],
            scrapers=[s["name"] for s in scenario.get("scrapers", [])],
        )


def _name(names: Sequence[str], ids: np.ndarray, fallback: str) -> np.ndarray:
    table = np.array([*names, ""], dtype=object)
    ids = np.asarray(ids, dtype=np.int64)
    ok = (ids >= 0) & (ids < len(names))
    out = np.where(ok, table[np.where(ok, ids, len(names))], "")
    missing = ~ok
    if missing.any():
        out[missing] = [f"{fallback}{i}" for i in ids[missing]]
    return out


def actor_labels(
    kind: ArrayLike, producer: ArrayLike, model: ArrayLike, names: ActorNames | None = None
) -> np.ndarray:
    """Label of the actor behind each document (or origin): ``author 12``, ``model nw-chat``,
    ``farm clickmill``, ``aggregator openweb``. ``kind`` holds kind names (human, hybrid, model,
    farm, repost)."""
    names = names or ActorNames()
    kind = np.asarray(pd.Series(kind).astype(str), dtype=object)
    producer = np.asarray(producer, dtype=np.int64)
    model = np.asarray(model, dtype=np.int64)
    out = np.empty(kind.size, dtype=object)
    authors = (kind == "human") | (kind == "hybrid")
    out[authors] = "author " + producer[authors].astype(str).astype(object)
    for k, prefix, ids, table in (
        ("model", "model ", model, names.models),
        ("farm", "farm ", producer, names.farms),
        ("repost", "aggregator ", producer, names.scrapers),
    ):
        mask = kind == k
        if mask.any():
            out[mask] = prefix + _name(table, ids[mask], "#")
    return out


#: the columns of ``error_claims`` :func:`cascade_table` reads
CLAIM_COLUMNS = ("document", "error_id", "step", "kind", "producer", "model")
#: the actors of :func:`actor_labels` by kind: a human or hybrid document's author is one actor
_ACTOR_KIND = {"human": 0, "hybrid": 0, "model": 1, "farm": 2, "repost": 3}
_OTHER_KIND = len(set(_ACTOR_KIND.values()))


def actor_codes(kind: ArrayLike, producer: ArrayLike, model: ArrayLike) -> np.ndarray:
    """An int64 per document naming its actor as :func:`actor_labels` does, equal exactly where
    the labels are (the scenario's names are distinct): what counting an error's publishers
    needs, without a string per claim (a 100× run has 18 M claims of errors)."""
    kinds = pd.Categorical(kind)  # (a categorical column keeps its categories: no strings made)
    by_category = [_ACTOR_KIND.get(str(c), _OTHER_KIND) for c in kinds.categories]
    group = np.array([*by_category, _OTHER_KIND], dtype=np.int64)[kinds.codes]  # (-1: missing)
    producer = np.asarray(producer, dtype=np.int64)
    model = np.asarray(model, dtype=np.int64)
    ids = np.where(group == _ACTOR_KIND["model"], model, producer)
    ids[group == _OTHER_KIND] = 0  # (actor_labels gives every other kind one label, None)
    return (group << 40) | (ids & ((1 << 40) - 1))


def cascade_table(
    errors: pd.DataFrame,
    adoptions: pd.DataFrame,
    claims: pd.DataFrame,
    names: ActorNames | None = None,
) -> pd.DataFrame:
    """One row per error: its origin (patient zero), how far it spread on the web (documents,
    distinct publishers) and into models (distinct models that came to believe it, adoptions),
    and when: first adoption by any model, first cross-model adoption (by a model other than the
    one that made it, as the registry counts them: errors humans started have none) and the
    delays from the origin to them, in months."""
    e = errors[["error_id", "fact", "value", "origin_kind", "step"]].copy()
    e["origin_kind"] = e["origin_kind"].astype(str)
    e = e.rename(columns={"step": "origin_step"})
    e["origin"] = actor_labels(
        errors["origin_kind"], errors["origin_producer"], errors["origin_model"], names
    )
    e["origin_model"] = errors["origin_model"].to_numpy()
    e["made_by"] = np.where(e["origin_kind"] == HUMAN_ORIGIN, "human", "model")

    spread = _spread(claims)
    a = adoptions.copy()
    origin_model = a["error_id"].map(e.set_index("error_id")["origin_model"]).to_numpy()
    a["cross"] = ((origin_model >= 0) & (origin_model != a["model"].to_numpy())).astype(int)
    a["cross_step"] = np.where(a["cross"] == 1, a["step"], np.iinfo(np.int32).max)
    belief = a.groupby("error_id").agg(
        models=("model", "nunique"),
        adoptions=("model", "size"),
        first_adoption=("step", "min"),
        first_cross_model=("cross_step", "min"),
    )
    belief["first_cross_model"] = belief["first_cross_model"].where(
        belief["first_cross_model"] < np.iinfo(np.int32).max
    )
    out = e.join(spread, on="error_id").join(belief, on="error_id")
    for col in ("documents", "publishers", "models", "adoptions"):
        out[col] = out[col].fillna(0).astype(np.int64)
    out["months_to_first_adoption"] = out["first_adoption"] - out["origin_step"]
    out["months_to_cross_model"] = out["first_cross_model"] - out["origin_step"]
    return out.drop(columns="origin_model")


def _spread(claims: pd.DataFrame) -> pd.DataFrame:
    """Per error carrying at least one claim (index ``error_id``): its ``documents`` and
    ``publishers`` (distinct documents and actors) and the month it was last published
    (``last_published``), as ``groupby("error_id")`` with ``nunique`` and ``max`` gives them,
    counted on integer pairs: for a 100× run's 18 M claims 5.5 s and 0.95 GB on top of the
    claims, where a label string per claim and pandas' groupby took 17.5 s and 1.4 GB."""
    errors = claims["error_id"].to_numpy().astype(np.int64)
    step = claims["step"].to_numpy()
    if errors.size == 0:
        none = np.zeros(0, dtype=np.int64)
        empty = {"documents": none, "publishers": none, "last_published": step[:0]}
        return pd.DataFrame(empty, index=pd.Index(errors, name="error_id"))
    present = np.flatnonzero(np.bincount(errors))
    last = np.full(present[-1] + 1, np.iinfo(np.int64).min)
    np.maximum.at(last, errors, step.astype(np.int64))
    actors = actor_codes(claims["kind"], claims["producer"], claims["model"])
    return pd.DataFrame(
        {
            "documents": _distinct_per(errors, claims["document"].to_numpy())[present],
            "publishers": _distinct_per(errors, actors)[present],
            "last_published": last[present].astype(step.dtype),
        },
        index=pd.Index(present, name="error_id"),
    )


def _distinct_per(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Distinct ``values`` per key ``0 .. keys.max()`` (int64 keys >= 0): the distinct (key,
    value) pairs, a pair as one int64 (from the value's rank when its range is too wide)."""
    values = values.astype(np.int64)
    low = int(values.min())
    width = int(values.max()) - low + 1
    if width * (int(keys.max()) + 1) < 2**62:
        pairs = keys * width + (values - low)
    else:
        _, ranks = np.unique(values, return_inverse=True)  # (sorts: not the hash-based path)
        width = int(ranks.max()) + 1
        pairs = keys * width + ranks.ravel()
    return np.bincount(sorted_unique(pairs) // width, minlength=int(keys.max()) + 1)


def biggest(cascades: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` biggest cascades: most models that came to believe the error, then most
    documents carrying it."""
    return cascades.sort_values(
        ["models", "documents", "error_id"], ascending=[False, False, True]
    ).head(n)


def size_distribution(cascades: pd.DataFrame, column: str = "models") -> pd.DataFrame:
    """How many errors reached each size, and the complementary CDF P(size ≥ s)."""
    sizes = cascades[column].to_numpy()
    values, counts = np.unique(sizes, return_counts=True)
    ccdf = counts[::-1].cumsum()[::-1] / max(sizes.size, 1)
    return pd.DataFrame({column: values, "errors": counts, "ccdf": ccdf})


#: the three groups of errors :func:`origin_shares` compares, in order
ORIGIN_GROUPS = ("all errors", "believed by a model", "believed by 2+ models")


def origin_shares(cascades: pd.DataFrame) -> pd.DataFrame:
    """Where errors began (human authors vs models directly, through assistants or farms), among
    all errors, errors at least one model believed, and errors that reached two or more models."""
    groups = dict(
        zip(
            ORIGIN_GROUPS,
            (cascades, cascades[cascades["models"] >= 1], cascades[cascades["models"] >= 2]),
            strict=True,
        )
    )
    rows = []
    for label, df in groups.items():
        total = len(df)
        for kind, n in df["origin_kind"].value_counts().sort_index().items():
            rows.append((label, kind, int(n), n / total if total else float("nan")))
    return pd.DataFrame(rows, columns=["errors", "origin_kind", "count", "share"])


def origin_share_matrix(origins: pd.DataFrame) -> pd.DataFrame:
    """:func:`origin_shares` as a matrix: one row per group of errors (in the order of
    :data:`ORIGIN_GROUPS`), one column per origin kind, 0 where a kind began none."""
    wide = origins.pivot_table(index="errors", columns="origin_kind", values="share", aggfunc="sum")
    return wide.reindex(list(ORIGIN_GROUPS)).fillna(0)


def human_share(cascades: pd.DataFrame, min_models: int = 0) -> float:
    """Share of errors (reaching at least ``min_models`` models) that began with a human."""
    df = cascades[cascades["models"] >= min_models]
    return float((df["made_by"] == "human").mean()) if len(df) else float("nan")


def cascade_graph(
    error_id: int,
    errors: pd.DataFrame,
    adoptions: pd.DataFrame,
    claims: pd.DataFrame,
    names: ActorNames | None = None,
    *,
    group_authors: bool = False,
) -> nx.DiGraph:
    """The spread of one error: origin → publishers → believing models.

    Nodes carry ``role`` (origin / publisher / believer, or combinations), ``kind``,
    ``documents`` and ``first_step``; origin → publisher edges carry the publisher's documents
    and first month; publisher → model edges the publisher's documents up to the model's
    first adoption. With ``group_authors`` all authors other than the origin are merged into one
    ``authors`` node (readable drawings of errors many people repeat)."""
    err = errors[errors["error_id"] == error_id]
    if err.empty:
        raise KeyError(f"error {error_id} is not in the registry")
    err = err.iloc[0]
    origin = actor_labels(
        [err["origin_kind"]], [err["origin_producer"]], [err["origin_model"]], names
    )[0]
    g = nx.DiGraph(error_id=int(error_id), fact=int(err["fact"]), value=int(err["value"]))
    g.add_node(
        origin,
        role="origin",
        kind=str(err["origin_kind"]),
        first_step=int(err["step"]),
        documents=0,
    )

    c = claims[claims["error_id"] == error_id]
    actor = actor_labels(c["kind"], c["producer"], c["model"], names)
    if group_authors:
        actor = np.where(
            (np.char.startswith(actor.astype(str), "author ")) & (actor != origin), "authors", actor
        )
    c = c.assign(actor=actor)
    per_actor = c.groupby("actor").agg(
        documents=("document", "nunique"), first_step=("step", "min"), kind=("kind", "first")
    )
    for name, row in per_actor.iterrows():
        if name == origin:
            g.nodes[origin]["documents"] = int(row["documents"])
            continue
        g.add_node(
            name,
            role="publisher",
            kind=str(row["kind"]),
            documents=int(row["documents"]),
            first_step=int(row["first_step"]),
        )
        g.add_edge(origin, name, documents=int(row["documents"]), step=int(row["first_step"]))

    a = adoptions[adoptions["error_id"] == error_id]
    first = a.groupby("model")["step"].min()
    model_names = names.models if names else []
    for model_id, step in first.items():
        node = "model " + _name(model_names, np.array([model_id]), "#")[0]
        if node in g:
            role = g.nodes[node]["role"]
            if "believer" not in role:
                g.nodes[node]["role"] = f"{role}+believer"
        else:
            g.add_node(node, role="believer", kind="model", documents=0, first_step=int(step))
        g.nodes[node]["adopted_step"] = int(step)
        before = c[c["step"] <= step].groupby("actor")["document"].nunique()
        for src, docs in before.items():
            if src != node:
                g.add_edge(src, node, documents=int(docs), step=int(step))
        if before.empty and node != origin:
            g.add_edge(origin, node, documents=0, step=int(step))
    return g
