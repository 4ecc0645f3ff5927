"""Convergence: JS matrices over time, style distances, the training graph and its paths."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from frames import concept_distributions as distributions
from scipy import linalg

from habsburg.analysis import convergence as C

P = np.array([0.5, 0.5, 0.0, 0.0])
Q = np.array([0.0, 0.0, 0.25, 0.75])


def test_identical_models_have_js_zero_and_disjoint_ln2():
    m = C.js_matrix({"a": P, "b": P.copy(), "c": Q})
    assert m.loc["a", "b"] == pytest.approx(0.0, abs=1e-15)
    assert m.loc["a", "c"] == pytest.approx(math.log(2))
    assert m.loc["c", "b"] == pytest.approx(math.log(2))
    assert np.allclose(m.to_numpy(), m.to_numpy().T)


def test_js_over_time_follows_which_generation_is_deployed():
    # a is deployed from step 0; b's generation 0 (same as a) from step 2, its generation 1
    # (disjoint from a) from step 5
    cd = distributions([("human", -1, 0, P), ("a", 0, 0, P), ("b", 0, 2, P), ("b", 1, 5, Q)])
    pairs = C.js_over_time(cd, np.arange(8))
    between = pairs[pairs["model_b"] != C.HUMAN].set_index("step")["js"]
    assert list(between.index) == [2, 3, 4, 5, 6, 7]  # no pair before b exists
    assert np.allclose(between.loc[2:4], 0.0)
    assert np.allclose(between.loc[5:], math.log(2))
    to_human = pairs[(pairs["model_b"] == C.HUMAN) & (pairs["model_a"] == "b")]
    assert np.allclose(to_human.set_index("step")["js"].loc[5:], math.log(2))
    mean = C.mean_pairwise_over_time(pairs)
    assert mean.loc[6] == pytest.approx(math.log(2))


def test_generation_vectors_do_not_depend_on_row_order():
    cd = distributions([("human", -1, 0, P), ("a", 0, 0, Q), ("a", 1, 3, P)])
    keys, q = C.generation_vectors(cd)
    keys2, q2 = C.generation_vectors(cd.sample(frac=1.0, random_state=1))
    order = keys.merge(keys2.reset_index(), on=["model", "generation", "step"])["index"]
    assert np.allclose(q, q2[order.to_numpy()])
    assert set(map(tuple, keys[["model", "generation"]].to_numpy())) == {
        ("human", -1),
        ("a", 0),
        ("a", 1),
    }


def test_gaussian_w2_matches_closed_forms():
    eye = np.eye(2)
    assert C.gaussian_w2(np.zeros(2), eye, np.zeros(2), eye) == pytest.approx(0.0, abs=1e-7)
    # 1-D: W2² = (μa − μb)² + (σa − σb)²
    w = C.gaussian_w2(np.array([0.0]), np.array([[1.0]]), np.array([3.0]), np.array([[4.0]]))
    assert w == pytest.approx(math.sqrt(9 + 1))
    # commuting covariances: Σ (√λa − √λb)² over eigenvalues
    w = C.gaussian_w2(np.zeros(2), np.diag([1.0, 9.0]), np.ones(2), np.diag([4.0, 1.0]))
    assert w == pytest.approx(math.sqrt(2 + 1 + 4))


def test_gaussian_w2_agrees_with_a_general_matrix_root():
    """On well-conditioned covariances that do not commute, the same distance as the formula
    with scipy's general matrix square root."""
    rng = np.random.default_rng(11)
    for d in (2, 3, 5):
        a, b = rng.normal(size=(2, d, d + 2))
        cov_a, cov_b = a @ a.T / d, b @ b.T / d
        mean_a, mean_b = rng.normal(size=(2, d))
        root_b = linalg.sqrtm(cov_b)
        cross = np.real(np.trace(linalg.sqrtm(root_b @ cov_a @ root_b)))
        plain = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b) - 2 * cross
        assert C.gaussian_w2(mean_a, cov_a, mean_b, cov_b) == pytest.approx(math.sqrt(plain))


def test_gaussian_w2_of_collapsed_styles_is_exact_and_silent():
    """A collapsed model's covariance is singular (σ → 0): the distance is still the closed
    form, with no warning (scipy's sqrtm warned "ill-conditioned" in a run's report)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = C.gaussian_w2(np.zeros(2), np.diag([1.0, 0.0]), np.zeros(2), np.diag([4.0, 0.0]))
        assert w == pytest.approx(1.0)
        zero = np.zeros((3, 3))
        w = C.gaussian_w2(np.zeros(3), zero, np.ones(3), np.eye(3))  # a point against N(1, I)
        assert w == pytest.approx(math.sqrt(3 + 3))
        assert C.gaussian_w2(np.ones(3), zero, np.ones(3), zero) == 0.0


def sources(rows):
    return pd.DataFrame(
        rows, columns=["model", "generation", "step", "source_model", "share"]
    ).assign(model_id=0, source_model_id=0)


def test_training_graph_and_heaviest_paths():
    ts = sources(
        [
            ("B", 0, 5, "A", 0.9),  # an older generation of B: replaced below
            ("B", 1, 10, "A", 0.5),
            ("C", 0, 12, "B", 0.4),
            ("C", 0, 12, "A", 0.1),
            ("C", 0, 12, "C", 0.3),  # C trained on its own output
        ]
    )
    g = C.training_graph(ts)
    assert g["A"]["B"]["weight"] == pytest.approx(0.5)
    assert g.nodes["C"]["synthetic_share"] == pytest.approx(0.8)
    assert g.nodes["B"]["generation"] == 1
    paths = C.heaviest_paths(g, k=10)
    assert paths.iloc[0]["path"] == "A → B" and paths.iloc[0]["weight"] == pytest.approx(0.5)
    chain = paths[paths["hops"] == 2].iloc[0]
    assert chain["path"] == "A → B → C" and chain["weight"] == pytest.approx(0.2)
    assert not paths["path"].str.contains("C → C").any()
    # as deployed at step 7: only B's generation 0 existed
    early = C.training_graph(ts, step=7)
    assert early["A"]["B"]["weight"] == pytest.approx(0.9) and "C" not in early


def test_run_convergence_matches_the_runs_own_metrics(tiny_run_dir):
    """The mean pairwise JS rebuilt from concept_distributions equals what the run recorded."""
    mm = pd.read_parquet(tiny_run_dir / "model_metrics.parquet")
    cd = pd.read_parquet(tiny_run_dir / "concept_distributions.parquet")
    pairs = C.js_over_time(cd, mm["step"].to_numpy())
    mean = C.mean_pairwise_over_time(pairs)
    recorded = mm.set_index("step")["mean_pairwise_js"].dropna()
    assert len(mean) > 0 and len(recorded) > 0  # (allclose of nothing is true)
    assert np.allclose(mean.reindex(recorded.index), recorded, atol=1e-12)

    style = C.style_distances_over_time(
        pd.read_parquet(tiny_run_dir / "style_distributions.parquet"), mm["step"].to_numpy()
    )
    between = style[style["model_b"] != C.HUMAN].groupby("step")["mean_distance"].mean()
    recorded = mm.set_index("step")["mean_style_distance"].dropna()
    assert len(recorded) > 0
    assert np.allclose(between.reindex(recorded.index), recorded, atol=1e-9)
    assert (style["w2"] >= style["mean_distance"] - 1e-9).all()  # W2 ≥ distance of the means


def test_means_over_time_split_model_pairs_from_distances_to_humans():
    pairs = pd.DataFrame(
        {
            "step": [0, 0, 0, 1, 1],
            "model_a": ["a", "a", "b", "a", "a"],
            "model_b": ["b", C.HUMAN, C.HUMAN, "b", C.HUMAN],
            "js": [0.2, 0.1, 0.3, 0.4, 0.5],
        }
    )
    between, to_human = C.means_over_time(pairs, "js")
    assert between.to_dict() == {0: pytest.approx(0.2), 1: pytest.approx(0.4)}
    assert to_human.to_dict() == {0: pytest.approx(0.2), 1: pytest.approx(0.5)}
    assert C.mean_pairwise_over_time(pairs).equals(between.rename("mean_pairwise_js"))
