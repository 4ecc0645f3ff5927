"""The analysis layer's numbers against independent references.

Each test computes a figure with the library and again without it: scipy.stats (t intervals,
the paired t test, the Mann–Whitney U statistic, entropy), scipy's Jensen–Shannon distance,
networkx's simple paths, pandas' quantiles, or a brute-force loop written here. Inputs probe
ties, NaN, unsorted rows, integer dtypes, a single value, zero variance and one class only.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from habsburg.analysis import cascades as casc
from habsburg.analysis import compare as cmp
from habsburg.analysis import convergence as conv
from habsburg.analysis import detection as det
from habsburg.analysis import filters as filt
from habsburg.analysis import stats as st
from habsburg.analysis import tails
from habsburg.ecosystem import metrics
from habsburg.experiments import bands


def _t_reference(x: np.ndarray, confidence: float) -> tuple[float, float, float, int]:
    """Student's interval written out: mean ± t_{(1+c)/2, n−1} · s / √n over the finite values."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    mean = x.mean()
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half, n


def _mann_whitney_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """AUC as P(positive scores above negative) + ½ P(tie): Mann–Whitney U / (n₁ n₀)."""
    pos, neg = scores[positive], scores[~positive]
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u / (pos.size * neg.size))


# --- stats: t intervals ---------------------------------------------------------------------
def test_paired_ci_is_the_t_interval_of_the_values_left_after_nan() -> None:
    rng = np.random.default_rng(11)
    d = rng.normal(0.2, 1.0, 9)
    d[[2, 5]] = np.nan
    for confidence in (0.8, 0.95, 0.99):
        assert st.paired_ci(d, confidence) == pytest.approx(_t_reference(d, confidence))
    # integer differences (counts) and a column given as 2-D are the same numbers
    counts = np.array([3, -1, 4, 1, 5], dtype=np.int64)
    assert st.paired_ci(counts) == pytest.approx(_t_reference(counts, 0.95))
    assert st.paired_ci(counts.reshape(-1, 1)) == pytest.approx(_t_reference(counts, 0.95))


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # scipy, [2, 2, 2]
def test_paired_ci_of_constant_and_single_values() -> None:
    # zero variance: the t interval collapses onto the mean (scipy's ttest_1samp agrees)
    assert st.paired_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0, 3)
    ci = stats.ttest_1samp([2.0, 2.0, 2.0], 0.0).confidence_interval()
    assert (ci.low, ci.high) == (2.0, 2.0)
    mean, low, high, n = st.paired_ci([7.0, np.nan])
    assert (mean, n) == (7.0, 1) and np.isnan(low) and np.isnan(high)
    mean, low, high, n = st.paired_ci([])
    assert n == 0 and np.isnan(mean) and np.isnan(low) and np.isnan(high)


def test_t_interval_along_either_axis_matches_each_row_or_column() -> None:
    rng = np.random.default_rng(12)
    v = rng.normal(size=(5, 4))
    v[0, 0] = v[3, 0] = np.nan  # a ragged column
    v[1:, 1] = np.nan  # one value: a mean, no interval
    v[:, 2] = 4.0  # identical runs
    for axis in (0, 1):
        mean, low, high, n = st.t_interval(v, 0.9, axis=axis)
        lines = v.T if axis == 0 else v
        for i, x in enumerate(lines):
            finite = x[np.isfinite(x)]
            assert n[i] == finite.size
            assert mean[i] == pytest.approx(finite.mean())
            if finite.size > 1:
                assert (low[i], high[i]) == pytest.approx(_t_reference(x, 0.9)[1:3])
            else:
                assert np.isnan(low[i]) and np.isnan(high[i])
    assert all(
        np.array_equal(a, b, equal_nan=True)
        for a, b in zip(st.band(v, 0.9), st.t_interval(v, 0.9)[:3], strict=True)
    )


def test_t_interval_describes_the_same_values_as_its_mean_and_count() -> None:
    values = [1.0, 2.0, np.inf, 4.0]
    mean, low, high, n = st.paired_ci(values)
    assert (mean, n) == (pytest.approx(7 / 3), 3)  # what it does: inf left out
    assert (low, high) == pytest.approx(_t_reference(np.array([1.0, 2.0, 4.0]), 0.95)[1:3])


# --- compare: paired differences ------------------------------------------------------------
def _runs_table(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for scenario, shift in (("base", 0.0), ("alt", 0.3), ("same", 0.0)):
        for seed in (5, 1, 4, 2, 3, 6):
            x = rng.normal() + shift if scenario != "same" else None
            rows.append({"scenario": scenario, "seed": seed, "x": x, "k": seed * 10})
    runs = pd.DataFrame(rows).sample(frac=1.0, random_state=3)  # rows in no particular order
    runs.loc[runs["scenario"] == "same", "x"] = (
        runs.loc[runs["scenario"] == "base"]
        .set_index("seed")["x"]
        .reindex(runs.loc[runs["scenario"] == "same", "seed"])
        .to_numpy()
    )
    return runs


def test_paired_differences_are_scipys_paired_t_test() -> None:
    rng = np.random.default_rng(13)
    runs = _runs_table(rng)
    runs = runs[~((runs["scenario"] == "alt") & (runs["seed"] == 6))]  # alt misses a seed
    d = cmp.paired_differences(runs, "base", 0.9).set_index(["scenario", "outcome"])
    base = runs[runs["scenario"] == "base"].set_index("seed")
    alt = runs[runs["scenario"] == "alt"].set_index("seed")
    seeds = sorted(alt.index)
    test = stats.ttest_rel(alt.loc[seeds, "x"], base.loc[seeds, "x"])
    ci = test.confidence_interval(0.9)
    row = d.loc[("alt", "x")]
    assert row["pairs"] == len(seeds)
    assert row["difference"] == pytest.approx((alt.loc[seeds, "x"] - base.loc[seeds, "x"]).mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))
    # a two-sided interval excludes 0 exactly when the paired test rejects at 1 − confidence
    assert row["excludes_zero"] == (test.pvalue < 0.1)
    # identical runs: difference 0 with an interval of zero width that does not exclude 0
    same = d.loc[("same", "x")]
    assert (same["difference"], same["ci_low"], same["ci_high"]) == (0.0, 0.0, 0.0)
    assert not same["excludes_zero"] and same["pairs"] == 6
    # an integer outcome with the same value in both arms
    assert d.loc[("alt", "k"), "difference"] == 0.0


def test_paired_differences_with_only_the_base_scenario_is_empty() -> None:
    runs = pd.DataFrame({"scenario": ["base", "base"], "seed": [1, 2], "x": [1.0, 2.0]})
    assert cmp.paired_differences(runs, "base").empty


def test_paired_differences_report_the_means_of_the_pairs_they_difference() -> None:
    runs = pd.DataFrame(
        {
            "scenario": ["base"] * 3 + ["alt"] * 3,
            "seed": [1, 2, 3] * 2,
            "x": [1.0, 2.0, 10.0, 2.0, np.nan, 11.0],
        }
    )
    row = cmp.paired_differences(runs, "base").iloc[0]
    assert row["difference"] == pytest.approx(1.0) and row["pairs"] == 2
    assert (row["base_mean"], row["scenario_mean"]) == pytest.approx((5.5, 6.5))


# --- filters and detection: ROC, AUC, rates -------------------------------------------------
def test_roc_points_are_the_rates_at_every_distinct_threshold() -> None:
    rng = np.random.default_rng(14)
    scores = rng.integers(0, 6, 60)  # integers: many ties, and not float
    positive = rng.random(60) < 0.4
    roc = filt.roc_curve(scores, positive)
    thresholds = np.sort(np.unique(scores))[::-1]
    assert roc["threshold"].tolist() == [np.inf, *thresholds.astype(float)]
    for t, tpr, fpr in roc.iloc[1:][["threshold", "tpr", "fpr"]].itertuples(index=False):
        flagged = scores >= t
        assert tpr == pytest.approx(flagged[positive].mean())
        assert fpr == pytest.approx(flagged[~positive].mean())
    assert (roc["tpr"].iloc[0], roc["fpr"].iloc[0]) == (0.0, 0.0)
    assert (roc["tpr"].iloc[-1], roc["fpr"].iloc[-1]) == (1.0, 1.0)


def test_auc_is_the_mann_whitney_statistic_with_ties_counted_half() -> None:
    rng = np.random.default_rng(15)
    for scores in (rng.integers(0, 4, 80).astype(float), rng.normal(size=80)):
        positive = rng.random(80) < 0.3
        got = filt.auc(filt.roc_curve(scores, positive))
        assert got == pytest.approx(_mann_whitney_auc(scores, positive))
    assert filt.auc(filt.roc_curve([1.0, 1.0], [True, False])) == 0.5
    assert filt.auc(filt.roc_curve([3.0, 1.0], [True, False])) == 1.0
    assert filt.auc(filt.roc_curve([1.0, 3.0], [True, False])) == 0.0


def test_auc_with_one_class_only_is_undefined() -> None:
    assert np.isnan(filt.auc(filt.roc_curve([1.0, 2.0, 3.0], [False, False, False])))
    assert np.isnan(filt.auc(filt.roc_curve([1.0, 2.0, 3.0], [True, True, True])))
    human_only = pd.DataFrame({"z": [0.5, 1.0, 2.0], "synthetic_fraction": [0.0, 0.0, 0.0]})
    roc = filt.watermark_roc(human_only)
    assert np.isnan(filt.auc(roc[roc["group"] == "all AI documents"]))


def test_watermark_roc_curves_and_operating_point_against_brute_force() -> None:
    rng = np.random.default_rng(16)
    n = 90
    z = pd.DataFrame(
        {
            "z": np.round(rng.normal(size=n), 1).astype(np.float32),
            "synthetic_fraction": rng.choice([0.0, 0.2, 0.5, 1.0], n),
            "source": rng.choice(["watermarking labs", "other"], n),
        }
    )
    ai = z["synthetic_fraction"].to_numpy() >= 0.5
    scores = z["z"].to_numpy(dtype=float)
    roc = filt.watermark_roc(z, ai_threshold=0.5, by="source")
    aucs = {g: filt.auc(c) for g, c in roc.groupby("group", sort=False)}
    assert aucs["all AI documents"] == pytest.approx(_mann_whitney_auc(scores, ai))
    for name in ("watermarking labs", "other"):
        keep = ~ai | (z["source"].to_numpy() == name)
        assert aucs[name] == pytest.approx(_mann_whitney_auc(scores[keep], ai[keep]))
    t = 0.3
    point = filt.operating_point(z, t, ai_threshold=0.5)
    # the scrapers' filter flags z > threshold (WatermarkScheme.detect), and so does the point
    assert point["tpr"] == pytest.approx(np.mean(scores[ai] > t))
    assert point["fpr"] == pytest.approx(np.mean(scores[~ai] > t))
    # ... which lies on the ROC curve (score >= threshold) at the next distinct score above t
    curve = roc[roc["group"] == "all AI documents"]
    above = curve[curve["threshold"] > t]  # (in float64, as the point compares)
    on_curve = above[above["threshold"] == above["threshold"].min()]
    assert (on_curve["tpr"].item(), on_curve["fpr"].item()) == pytest.approx(
        (point["tpr"], point["fpr"])
    )


def test_the_operating_point_follows_the_threshold_in_force_each_month() -> None:
    """A mandate's intervention lowers the scrapers' threshold from 4 to 3 at month 5: samples
    crawled before are flagged at z > 4, after at z > 3."""
    rng = np.random.default_rng(8)
    n = 400
    z = pd.DataFrame(
        {
            "step": rng.integers(0, 10, n),
            "z": rng.normal(3.5, 1.0, n),
            "synthetic_fraction": rng.choice([0.0, 1.0], n),
        }
    )
    history = [(0, 4.0), (5, 3.0)]
    point = filt.operating_point(z, 3.0, history=history)
    threshold = np.where(z["step"] >= 5, 3.0, 4.0)
    flagged = z["z"].to_numpy() > threshold
    ai = z["synthetic_fraction"].to_numpy() >= 0.5
    assert point == {
        "threshold": 3.0,
        "tpr": pytest.approx(flagged[ai].mean()),
        "fpr": pytest.approx(flagged[~ai].mean()),
    }
    assert point["tpr"] != pytest.approx(np.mean(z["z"].to_numpy()[ai] > 3.0))


def test_detection_groups_and_aucs_against_brute_force() -> None:
    rng = np.random.default_rng(17)
    n = 120
    sf = rng.choice([0.0, 0.0, 0.4, 1.0], n)
    para = np.where(rng.random(n) < 0.3, 0.5, 0.0)
    z = pd.DataFrame(
        {
            "z": np.round(rng.normal(sf * 3, 1.0), 1),
            "classifier_score": rng.integers(0, 5, n).astype(float),
            "paraphrase": para,
            "synthetic_fraction": sf,
        }
    )
    expected = [
        "human" if s <= 0 else "paraphrased" if p > 0 else "pure" if s >= 1 else "hybrid"
        for s, p in zip(sf, para, strict=True)
    ]
    group = det.document_group(z)
    assert group.tolist() == expected
    table = det.auc_table(det.roc_by_group(z))
    human = group == "human"
    for column, detector in det.DETECTORS.items():
        scores = z[column].to_numpy()
        for name in det.GROUPS:
            keep = human | (group == name)
            want = _mann_whitney_auc(scores[keep], group[keep] == name)
            assert table.loc[detector, name] == pytest.approx(want)
    shares = det.recall_at(z, "classifier_score", 2.0)
    for name in ("human", *det.GROUPS):
        assert shares[name] == pytest.approx(np.mean(z["classifier_score"][group == name] > 2.0))


def test_pooled_filter_rates_are_ratios_of_summed_counts() -> None:
    rng = np.random.default_rng(18)
    n = 30
    crawls = pd.DataFrame({"scraper": rng.choice(["a", "b"], n), "step": rng.integers(0, 4, n)})
    for c in filt.COUNTS:
        # int32 counts whose sums pass 2**31: pooling must not wrap around
        crawls[c] = rng.integers(2**27, 2**28, n).astype(np.int32)
    crawls["synthetic_before"] = rng.random(n)
    crawls["synthetic_after"] = rng.random(n)
    out = filt.by_scraper(crawls, since_step=1).set_index("scraper")
    since = crawls[crawls["step"] >= 1]
    for name, g in [*since.groupby("scraper"), ("all", since)]:
        tp, fp, fn, tn = (int(g[k].astype(np.int64).sum()) for k in ("tp", "fp", "fn", "tn"))
        row = out.loc[name]
        assert int(row["sampled"]) == int(g["sampled"].astype(np.int64).sum())
        assert row["precision"] == pytest.approx(tp / (tp + fp))
        assert row["recall"] == pytest.approx(tp / (tp + fn))
        assert row["false_positive_rate"] == pytest.approx(fp / (fp + tn))
        before = np.average(g["synthetic_before"], weights=g["sampled"].astype(float))
        after = np.average(g["synthetic_after"], weights=g["kept"].astype(float))
        assert (row["synthetic_before"], row["synthetic_after"]) == pytest.approx((before, after))
    r = filt.rates(np.array([0, 3]), np.array([0, 1]), np.array([2, 0]), np.array([0, 5]))
    precision, fpr = np.asarray(r["precision"]), np.asarray(r["false_positive_rate"])
    assert np.isnan(precision[0]) and precision[1] == pytest.approx(3 / 4)
    assert np.isnan(fpr[0]) and np.asarray(r["recall"]).tolist() == [0.0, 1.0]


# --- metrics and convergence: divergences, distances, paths ---------------------------------
def test_js_divergence_is_scipys_squared_jensen_shannon_distance() -> None:
    rng = np.random.default_rng(19)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(12), 2)
        p[rng.random(12) < 0.3] = 0.0  # probabilities with zeros
        p /= p.sum()
        assert metrics.js_divergence(p, q) == pytest.approx(jensenshannon(p, q) ** 2, abs=1e-15)
    assert metrics.js_divergence(np.array([1, 0]), np.array([0, 1])) == pytest.approx(np.log(2))
    dists = [rng.dirichlet(np.ones(5)) for _ in range(4)]
    pairs = [jensenshannon(a, b) ** 2 for a, b in itertools.combinations(dists, 2)]
    assert metrics.mean_pairwise_js(dists) == pytest.approx(np.mean(pairs))
    assert np.isnan(metrics.mean_pairwise_js(dists[:1]))


def test_cross_entropy_and_failure_ratios_against_their_definitions() -> None:
    rng = np.random.default_rng(20)
    p = np.array([0.2, 0.0, 0.3, 0.5])
    q = np.array([0.5, 0.5, 0.0, 0.0])
    floor = 1e-6
    mixed = (1 - floor) * q + floor / q.size
    want = -sum(pi * np.log(qi) for pi, qi in zip(p, mixed, strict=True) if pi > 0)
    assert metrics.cross_entropy(p, q) == pytest.approx(want)
    assert metrics.cross_entropy(p, p, floor=0.0) == pytest.approx(stats.entropy(p))
    f = rng.random((4, 7))
    observed = np.mean([np.prod(f[:, i]) for i in range(7)])
    independent = np.prod([np.mean(f[m]) for m in range(4)])
    assert metrics.systemic_failure_ratio(f) == pytest.approx(observed / independent)
    ratios = [
        np.mean(f[a] * f[b]) / (np.mean(f[a]) * np.mean(f[b]))
        for a, b in itertools.combinations(range(4), 2)
    ]
    assert metrics.pairwise_failure_ratio(f) == pytest.approx(np.mean(ratios))
    assert np.isnan(metrics.systemic_failure_ratio(f[:1]))
    assert np.isnan(metrics.pairwise_failure_ratio(np.zeros((3, 5))))


def _concept_table(rng: np.random.Generator, k: int = 9) -> tuple[pd.DataFrame, dict]:
    """A shuffled ``concept_distributions`` with p_H, two models, generations at known steps."""
    dists, rows = {}, []
    for model, generation, step in (
        ("human", -1, 0),
        ("a", 0, 1),
        ("b", 0, 2),
        ("a", 1, 4),
        ("b", 1, 6),
    ):
        q = rng.dirichlet(np.ones(k))
        q[rng.random(k) < 0.25 * (generation + 1)] = 0.0
        q /= q.sum()
        dists[(model, generation)] = q
        rows.append(
            pd.DataFrame(
                {
                    "model": model,
                    "generation": generation,
                    "step": step,
                    "concept": np.arange(k),
                    "probability": q,
                }
            )
        )
    return pd.concat(rows, ignore_index=True).sample(frac=1.0, random_state=1), dists


def test_js_over_time_is_scipys_js_between_the_deployed_generations() -> None:
    rng = np.random.default_rng(21)
    table, dists = _concept_table(rng)
    steps = [0, 1, 2, 3, 4, 5, 6, 9]
    pairs = conv.js_over_time(table, steps)

    def deployed(model: str, step: int) -> int | None:
        trained = {1: ("a", 0), 2: ("b", 0), 4: ("a", 1), 6: ("b", 1)}
        gens = [g for s, (m, g) in trained.items() if m == model and s <= step]
        return max(gens) if gens else None

    expected = {}
    for step in steps:
        live = {m: deployed(m, step) for m in ("a", "b") if deployed(m, step) is not None}
        if len(live) == 2:
            expected[(step, "a", "b")] = jensenshannon(dists["a", live["a"]], dists["b", live["b"]])
        for m, g in live.items():
            expected[(step, m, "human")] = jensenshannon(dists[m, g], dists["human", -1])
    got = {(s, a, b): js for s, a, b, js in pairs.itertuples(index=False)}
    assert got.keys() == expected.keys()
    for key, distance in expected.items():
        assert got[key] == pytest.approx(distance**2, abs=1e-15)
    matrix = conv.js_at_step(table, 5)
    assert matrix.loc["a", "b"] == pytest.approx(got[(5, "a", "b")])
    assert matrix.loc["human", "b"] == pytest.approx(got[(5, "b", "human")])


def test_gaussian_w2_has_the_closed_form_of_commuting_covariances() -> None:
    # diagonal covariances commute: W2² = |μa − μb|² + Σ (√σa − √σb)²
    rng = np.random.default_rng(22)
    va, vb = rng.uniform(0.1, 2.0, 3), rng.uniform(0.1, 2.0, 3)
    va[0] = 0.0  # a collapsed direction
    ma, mb = rng.normal(size=3), rng.normal(size=3)
    want = np.sqrt(np.sum((ma - mb) ** 2) + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2))
    assert conv.gaussian_w2(ma, np.diag(va), mb, np.diag(vb)) == pytest.approx(want)
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]  # the same in any rotated frame
    got = conv.gaussian_w2(rot @ ma, rot @ np.diag(va) @ rot.T, rot @ mb, rot @ np.diag(vb) @ rot.T)
    assert got == pytest.approx(want)


def test_heaviest_paths_are_networkx_simple_paths_by_product_of_shares() -> None:
    rng = np.random.default_rng(23)
    g = nx.DiGraph()
    for a, b in itertools.permutations("ABCDE", 2):
        if rng.random() < 0.6:
            g.add_edge(a, b, weight=float(rng.random()))
    g.add_edge("C", "C", weight=0.99)  # self-loop: skipped
    g.add_edge("A", "E", weight=0.0)  # a share of 0: no chain
    for max_hops in (1, 2, 3):
        brute = {}
        for s, t in itertools.permutations(g.nodes, 2):
            for path in nx.all_simple_paths(g, s, t, cutoff=max_hops):
                weights = [g[u][v]["weight"] for u, v in itertools.pairwise(path)]
                if all(w > 0 for w in weights):
                    brute[" → ".join(path)] = float(np.prod(weights))
        got = conv.heaviest_paths(g, k=10_000, max_hops=max_hops)
        assert dict(zip(got["path"], got["weight"], strict=True)) == pytest.approx(brute)
        assert got["weight"].is_monotonic_decreasing
        top = conv.heaviest_paths(g, k=3, max_hops=max_hops)
        assert top["weight"].tolist() == pytest.approx(sorted(brute.values())[::-1][:3])


# --- tails ----------------------------------------------------------------------------------
def _tail_inputs() -> tuple[pd.DataFrame, pd.DataFrame, dict, np.ndarray]:
    rng = np.random.default_rng(24)
    table, dists = _concept_table(rng, k=13)
    p_h = dists["human", -1]
    p_h[[3, 7]] = p_h[5]  # ties in p_H's ranks
    p_h /= p_h.sum()
    table.loc[table["model"] == "human", "probability"] = p_h[
        table.loc[table["model"] == "human", "concept"]
    ]
    tail = p_h < np.quantile(p_h, 0.4)
    concepts = pd.DataFrame({"concept": np.arange(13), "p_human": p_h, "tail": tail})
    return table, concepts.iloc[::-1], dists, tail  # concepts in no particular order


def test_ratio_to_human_is_mass_over_p_h_mass_in_each_rank_bin() -> None:
    table, concepts, dists, _ = _tail_inputs()
    p_h = dists["human", -1]
    rank = np.empty(p_h.size, int)
    rank[np.argsort(-p_h, kind="stable")] = np.arange(1, p_h.size + 1)
    out = tails.ratio_to_human(table, concepts, "a", bins=5)
    for generation, g in out.groupby("generation"):
        q = dists["a", generation]
        assert (g["rank_high"] - g["rank_low"] + 1).sum() == p_h.size  # bins tile the ranks
        for low, high, ratio, producible in g[
            ["rank_low", "rank_high", "ratio", "producible"]
        ].itertuples(index=False):
            sel = (rank >= low) & (rank <= high)
            assert ratio == pytest.approx(q[sel].sum() / p_h[sel].sum())
            assert producible == pytest.approx(np.mean(q[sel] > 0))
    assert tails.human_entropy(concepts) == pytest.approx(stats.entropy(p_h))


def test_tail_survival_and_rank_frequency_against_brute_force() -> None:
    table, concepts, dists, tail = _tail_inputs()
    out = tails.tail_survival(table, concepts)
    assert set(out["model"]) == {"a", "b"}
    for model, generation, known, total, coverage, support, survival in out[
        ["model", "generation", "tail_known", "tail_total", "tail_coverage", "support", "survival"]
    ].itertuples(index=False):
        q, first = dists[model, generation], dists[model, 0]
        assert (known, total, support) == ((q[tail] > 0).sum(), tail.sum(), (q > 0).sum())
        assert coverage == pytest.approx(metrics.tail_coverage(q, tail))
        lost = (q[tail] > 0) & (first[tail] > 0)
        assert survival == pytest.approx(lost.sum() / (first[tail] > 0).sum())
    rf = tails.rank_frequency(table, "b", [1])
    for (model, generation), g in rf.groupby(["model", "generation"]):
        q = dists[model, generation]
        assert g["probability"].tolist() == sorted(q[q > 0], reverse=True)
        assert g["rank"].tolist() == list(range(1, (q > 0).sum() + 1))


def test_tail_coverage_without_tail_concepts_is_as_in_lineage() -> None:
    table, concepts, dists, _ = _tail_inputs()
    none = concepts.assign(tail=False)
    out = tails.tail_survival(table, none)
    q = dists["a", 0]
    want = metrics.tail_coverage(q, np.zeros(q.size, dtype=bool))
    got = out.loc[(out["model"] == "a") & (out["generation"] == 0), "tail_coverage"].item()
    assert np.isnan(want) and np.isnan(got)


# --- cascades and bands ---------------------------------------------------------------------
def test_cascade_size_distribution_and_shares_against_counting() -> None:
    rng = np.random.default_rng(25)
    models = rng.integers(0, 5, 40)
    kind = rng.choice(["human", "model", "farm"], 40)
    cascades = pd.DataFrame(
        {
            "models": models,
            "origin_kind": kind,
            "made_by": np.where(kind == "human", "human", "model"),
        }
    )
    dist = casc.size_distribution(cascades)
    for size, errors, ccdf in dist.itertuples(index=False):
        assert errors == np.sum(models == size)
        assert ccdf == pytest.approx(np.mean(models >= size))
    assert casc.human_share(cascades, 2) == pytest.approx(np.mean(kind[models >= 2] == "human"))
    shares = casc.origin_shares(cascades).set_index(["errors", "origin_kind"])["share"]
    believed = models >= 1
    for k in ("human", "model", "farm"):
        assert shares["believed by a model", k] == pytest.approx(np.mean(kind[believed] == k))


def test_band_table_is_pandas_quantiles_over_the_finite_draws() -> None:
    rng = np.random.default_rng(26)
    months = ["2024-03", "2024-01", "2024-02"]  # not sorted: the table keeps their order
    series = pd.DataFrame(
        {
            "month": np.tile(months, 7),
            "x": rng.normal(size=21),
            "n": rng.integers(0, 10**12, 21),  # integer counts
        }
    )
    series.loc[[0, 4], "x"] = [np.nan, np.inf]
    out = bands.band_table(series, ["x", "n"]).set_index(["metric", "month"])
    finite = series.replace(np.inf, np.nan)
    for metric in ("x", "n"):
        q = finite.groupby("month")[metric].quantile([0.05, 0.5, 0.95]).unstack()
        for month in months:
            row = out.loc[(metric, month)]
            assert row[["q05", "q50", "q95"]].tolist() == pytest.approx(q.loc[month].tolist())
            assert row["draws"] == finite.loc[finite["month"] == month, metric].notna().sum()
    assert list(out.loc["x"].index) == months


def test_a_legend_names_an_undefined_auc_instead_of_printing_nan() -> None:
    assert filt.auc_label(filt.roc_curve([1.0, 2.0, 3.0], [False, True, True])) == "AUC 1.00"
    assert filt.auc_label(filt.roc_curve([1.0, 2.0], [False, False])) == "no AUC: one class only"
