"""Error cascades on a hand-built registry with known answers, and on a finished run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from habsburg.analysis import cascades as X

NAMES = X.ActorNames(models=["m0", "m1"], farms=["mill"], scrapers=["s0"])


def registry():
    """Three errors: e0 started by author 5, spread by model m0 and aggregator s0, believed by
    m0 then m1; e1 made by m0, believed by m0 and later by two generations of m1; e2 made by
    farm mill through m1, believed by nobody."""
    errors = pd.DataFrame(
        {
            "error_id": [0, 1, 2],
            "fact": [10, 11, 12],
            "value": [1, 2, 3],
            "origin_kind": pd.Categorical(
                ["human", "model", "farm"],
                categories=["human", "hybrid", "model", "farm", "repost"],
            ),
            "origin_producer": [5, 0, 0],
            "origin_model": [-1, 0, 1],
            "step": [0, 2, 3],
        }
    )
    claims = pd.DataFrame(
        {
            "document": [10, 11, 12, 20, 21, 30],
            "error_id": [0, 0, 0, 1, 1, 2],
            "step": [0, 1, 2, 2, 3, 3],
            "kind": ["human", "model", "repost", "model", "hybrid", "farm"],
            "producer": [5, 0, 0, 0, 7, 0],
            "model": [-1, 0, 0, 0, 0, 1],
            "site": 0,
        }
    )
    adoptions = pd.DataFrame(
        {
            "error_id": [0, 0, 1, 1, 1],
            "model": [0, 1, 0, 1, 1],
            "generation": [0, 0, 0, 1, 2],
            "step": [1, 4, 2, 6, 9],
            "cross_model": [0, 0, 0, 1, 1],
        }
    )
    return errors, adoptions, claims


def test_cascade_table_on_a_hand_built_registry():
    errors, adoptions, claims = registry()
    t = X.cascade_table(errors, adoptions, claims, NAMES).set_index("error_id")
    assert t.loc[0, "origin"] == "author 5" and t.loc[0, "made_by"] == "human"
    assert t.loc[1, "origin"] == "model m0"
    assert t.loc[2, "origin"] == "farm mill" and t.loc[2, "made_by"] == "model"
    assert list(t["models"]) == [2, 2, 0]
    assert list(t["adoptions"]) == [2, 3, 0]
    assert list(t["documents"]) == [3, 2, 1]
    assert list(t["publishers"]) == [3, 2, 1]  # author 5, m0, s0 | m0, author 7 | mill
    assert t.loc[0, "months_to_first_adoption"] == 1
    assert np.isnan(t.loc[0, "first_cross_model"])  # a human error has no cross-model adoption
    assert t.loc[1, "first_cross_model"] == 6 and t.loc[1, "months_to_cross_model"] == 4
    assert np.isnan(t.loc[2, "first_adoption"])

    top = X.biggest(t.reset_index(), 2)
    assert list(top["error_id"]) == [0, 1]  # tie on models: more documents first

    sizes = X.size_distribution(t)
    assert list(sizes["models"]) == [0, 2] and list(sizes["errors"]) == [1, 2]
    assert sizes["ccdf"].tolist() == pytest.approx([1.0, 2 / 3])

    shares = X.origin_shares(t).set_index(["errors", "origin_kind"])["share"]
    assert shares[("all errors", "human")] == pytest.approx(1 / 3)
    assert shares[("believed by a model", "model")] == pytest.approx(0.5)
    assert ("believed by a model", "farm") not in shares.index
    assert X.human_share(t) == pytest.approx(1 / 3)
    assert X.human_share(t, min_models=2) == pytest.approx(0.5)


def test_cascade_graph_on_a_hand_built_registry():
    errors, adoptions, claims = registry()
    g = X.cascade_graph(0, errors, adoptions, claims, NAMES)
    assert set(g.nodes) == {"author 5", "model m0", "aggregator s0", "model m1"}
    assert g.nodes["author 5"]["role"] == "origin"
    assert g.nodes["model m0"]["role"] == "publisher+believer"
    assert g.nodes["model m1"]["role"] == "believer"
    assert g.nodes["model m1"]["adopted_step"] == 4
    # m0 adopted at step 1: only the author's document (step 0) came before it (its own is
    # not a source); m1 adopted at step 4, after all three publishers
    assert set(g.edges) == {
        ("author 5", "model m0"),
        ("author 5", "aggregator s0"),
        ("author 5", "model m1"),
        ("model m0", "model m1"),
        ("aggregator s0", "model m1"),
    }
    grouped = X.cascade_graph(1, errors, adoptions, claims, NAMES, group_authors=True)
    assert "authors" in grouped and ("model m0", "authors") in grouped.edges
    assert grouped.nodes["model m0"]["role"] == "origin+believer"
    with pytest.raises(KeyError):
        X.cascade_graph(99, errors, adoptions, claims, NAMES)


def test_cascades_of_a_run_agree_with_its_metrics(tiny_run_dir):
    read = lambda name: pd.read_parquet(tiny_run_dir / f"{name}.parquet")  # noqa: E731
    errors, adoptions, claims = read("errors"), read("adoptions"), read("error_claims")
    names = X.ActorNames.from_scenario(
        json.loads((tiny_run_dir / "manifest.json").read_text())["scenario"]
    )
    t = X.cascade_table(errors, adoptions, claims, names)
    mm = read("model_metrics")
    assert len(t) == len(errors) == mm["errors_registered"].iloc[-1]
    assert t["models"].max() == mm["largest_cascade_models"].iloc[-1]
    assert (t["documents"] <= errors["documents"]).all()  # distinct documents ≤ claims
    # every cross-model adoption the run counted is one the table can see
    assert t["first_cross_model"].notna().sum() <= mm["cross_model_adoptions"].iloc[-1]
    assert set(t["origin"].str.split(" ").str[0]) <= {"author", "model", "farm"}


def test_origin_share_matrix_has_every_group_in_order():
    cascades = pd.DataFrame(
        {
            "models": [0, 0, 1, 2],
            "origin_kind": ["human", "model", "model", "farm"],
        }
    )
    matrix = X.origin_share_matrix(X.origin_shares(cascades))
    assert list(matrix.index) == list(X.ORIGIN_GROUPS)
    assert matrix.loc["all errors"].to_dict() == {"farm": 0.25, "human": 0.25, "model": 0.5}
    assert matrix.loc["believed by 2+ models"].to_dict() == {
        "farm": 1.0,
        "human": 0.0,
        "model": 0.0,
    }
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)


#: document kinds, with one actor_labels does not know and a missing one
KINDS = st.sampled_from(["human", "hybrid", "model", "farm", "repost", "other", None])
CLAIM = st.tuples(KINDS, st.integers(-2, 6), st.integers(-2, 4))


def _same_partition(a, b) -> bool:
    a = np.asarray(pd.Series(a, dtype=object).fillna("<none>"), dtype=object)
    return bool(np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :]))


@settings(max_examples=200, deadline=None)
@given(st.lists(CLAIM, max_size=40), st.booleans())
def test_actor_codes_name_the_actors_the_labels_name(rows, categorical):
    kind = [r[0] for r in rows]
    producer = np.array([r[1] for r in rows], dtype=np.int64)
    model = np.array([r[2] for r in rows], dtype=np.int64)
    labels = X.actor_labels(kind, producer, model, NAMES)
    kinds = pd.Series(kind, dtype="category") if categorical else kind
    codes = X.actor_codes(kinds, producer, model)
    assert codes.dtype == np.int64 and codes.shape == (len(rows),)
    assert _same_partition(labels, codes)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 12),  # error
            st.one_of(st.integers(0, 30), st.integers(0, 2**62)),  # document (wide: by rank)
            st.integers(0, 200),  # step
            CLAIM,
        ),
        max_size=60,
    )
)
def test_spread_counts_what_pandas_groupby_counts(rows):
    claims = pd.DataFrame(
        {
            "error_id": np.array([r[0] for r in rows], dtype=np.int16),
            "document": np.array([r[1] for r in rows], dtype=np.int64),
            "step": np.array([r[2] for r in rows], dtype=np.int16),
            "kind": pd.Series([r[3][0] for r in rows], dtype="category"),
            "producer": np.array([r[3][1] for r in rows], dtype=np.int32),
            "model": np.array([r[3][2] for r in rows], dtype=np.int8),
        }
    )
    labels = X.actor_labels(claims["kind"], claims["producer"], claims["model"], NAMES)
    expect = (
        claims.assign(actor=pd.Series(labels, dtype=object).fillna("<none>"))
        .groupby("error_id")
        .agg(
            documents=("document", "nunique"),
            publishers=("actor", "nunique"),
            last_published=("step", "max"),
        )
    )
    pd.testing.assert_frame_equal(X._spread(claims), expect, check_index_type=False)
