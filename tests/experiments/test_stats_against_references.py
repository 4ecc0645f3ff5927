"""The statistics of the what-if studies against independent references: Sobol and Morris
indices against SALib called directly and against the Ishigami function's analytic indices (a
stub in place of the simulator, through habsburg's own sweep path), bands and credible intervals
against brute-force quantiles, the calibration distance against a hand computation from the
published measurements, and the posterior-predictive runs' random streams."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tinyscenario import CALIBRATION_TOY, tiny_scenario

from habsburg.experiments.calibration.outputs import (
    effective_sample_size,
    posterior_settings,
    posterior_summary,
    weighted_quantile,
)
from habsburg.experiments.calibration.simulator import (
    Simulator,
    StandardizedDistance,
    observed,
    target_key,
)
from habsburg.experiments.calibration.spec import Prior, spec_from_dict
from habsburg.experiments.seeds import replicate_seeds
from habsburg.scenarios.measurements import Measurement, calibration_targets
from habsburg.scenarios.schema import from_dict
from habsburg.scenarios.writer import scenario_toml


# ------------------------------------------------------------------- calibration distance
def _hand_distance(simulated: dict[str, float]) -> float:
    """RMS over the six published calibration targets of (simulated − midpoint) / half-width,
    written out from habsburg/scenarios/measurements.py's numbers."""
    published = [  # (statistic, low, high): Graphite (Surfer), Graphite follow-up, Liang et al.
        ("graphite_ai_share@2023-11", 0.34, 0.44),
        ("graphite_ai_share@2024-11", 0.45, 0.55),
        ("graphite_ai_share@2023-11", 0.31, 0.41),
        ("graphite_ai_share@2024-11", 0.43, 0.53),
        ("liang_llm_modified_share@2024-09", 0.10, 0.24),
        ("liang_llm_modified_share@2024-01", 0.10, 0.24),
    ]
    z = [(simulated[k] - (lo + hi) / 2) / ((hi - lo) / 2) for k, lo, hi in published]
    return math.sqrt(sum(v * v for v in z) / len(z))


def test_the_calibration_distance_counts_every_published_target():
    """Graphite's two analyses measured the same series in the same months: both are targets
    (README: six calibration targets), so a run at one analysis's values is still 0.6 and 0.4
    half-widths from the other's."""
    targets = calibration_targets()
    assert len(targets) == 6
    distance = StandardizedDistance(targets)
    x0 = observed(targets)
    at_follow_up = {
        "graphite_ai_share@2023-11": 0.36,
        "graphite_ai_share@2024-11": 0.48,
        "liang_llm_modified_share@2024-09": 0.17,
        "liang_llm_modified_share@2024-01": 0.17,
    }
    assert _hand_distance(at_follow_up) == pytest.approx(math.sqrt((0.6**2 + 0.4**2) / 6))
    assert distance(at_follow_up, x0) == pytest.approx(_hand_distance(at_follow_up), rel=1e-12)
    rng = np.random.default_rng(3)
    for _ in range(20):
        simulated = {k: float(v) for k, v in zip(at_follow_up, rng.uniform(0, 0.7, 4), strict=True)}
        assert distance(simulated, x0) == pytest.approx(_hand_distance(simulated), rel=1e-12)
    # the distance is least where the two analyses' midpoints meet halfway, not at either one
    halfway = at_follow_up | {"graphite_ai_share@2023-11": 0.375, "graphite_ai_share@2024-11": 0.49}
    assert distance(halfway, x0) < distance(at_follow_up, x0)
    # a missing statistic (NaN) makes the run unusable, as before
    assert distance(at_follow_up | {"graphite_ai_share@2023-11": math.nan}, x0) == math.inf


def test_targets_on_distinct_statistics_keep_the_rms_of_their_z_scores():
    """Targets on distinct statistics (like a spec's explicit [[targets]]): the RMS of z."""
    targets = [
        Measurement("spec", "graphite_ai_share", "2021-06", 0.10, "", "", 0.05, 0.15),
        Measurement("spec", "liang_llm_modified_share", "2021-06", 0.05, "", "", 0.02, 0.08),
    ]
    simulated = {"graphite_ai_share@2021-06": 0.13, "liang_llm_modified_share@2021-06": 0.02}
    # (0.13 − 0.10) / 0.05 = 0.6 and (0.02 − 0.05) / 0.03 = −1
    assert StandardizedDistance(targets)(simulated, observed(targets)) == pytest.approx(
        math.sqrt((0.6**2 + 1.0) / 2)
    )


# ---------------------------------------------------------------- posterior predictive runs
def _toy_spec(tmp: Path, runs: int = 3):
    (tmp / "toy.toml").write_text(scenario_toml(from_dict(CALIBRATION_TOY, "toy")))
    data = {
        "scenario": "toy.toml",
        "parameters": [{"path": "demand.adoption.ceiling", "range": [100.0, 1000.0]}],
        "targets": [
            {"series": "graphite_ai_share", "month": "2021-06", "value": 0.10},
            {
                "series": "liang_llm_modified_share",
                "month": "2021-06",
                "value": 0.05,
                "half_width": 0.03,
            },
        ],
        "abc": {"window": 1, "predictive_runs": runs, "seed": 5},
    }
    return spec_from_dict(data, "toy-spec", tmp)


def test_posterior_predictive_runs_draw_fresh_simulator_noise(tmp_path):
    """A posterior-predictive run is a new simulation of a posterior draw: two draws of the same
    particle are two replicates (not one run twice), and the fitted statistic is not the ABC
    run that was accepted for being close to the data."""
    from habsburg.experiments.calibrate import _predictive

    spec = _toy_spec(tmp_path)
    sim = Simulator(
        spec.scenario, spec.priors, spec.targets, spec.end_step, spec.abc.window, spec.abc.seed
    )
    particle = {"demand.adoption.ceiling": 432.1}
    posterior = pd.DataFrame({"demand.adoption.ceiling": [432.1], "weight": [1.0]})
    runs = _predictive(posterior, sim, spec, None)
    assert len(runs) == 3 and all(d == particle for d, _ in runs)
    key = target_key(spec.targets[0])
    from habsburg.experiments.calibration.simulator import summaries

    fitted = [summaries(f, spec.targets, spec.scenario, 1)[key] for _, f in runs]
    accepted = sim(particle)[key]  # the particle's own ABC simulation
    assert len(set(fitted)) == 3, fitted
    assert accepted not in fitted
    # reproducible: the same spec gives the same predictive runs
    again = _predictive(posterior, sim, spec, None)
    for (_, a), (_, b) in zip(runs, again, strict=True):
        pd.testing.assert_frame_equal(a, b)


# ------------------------------------------------------------------------ sensitivity indices
SWEEP_TINY = Path(__file__).parent / "data" / "sweep_tiny.toml"
#: Ishigami's constants (Ishigami & Homma 1990; Sobol' & Levitan 1999)
ISHIGAMI_A, ISHIGAMI_B = 7.0, 0.1


def _ishigami_indices() -> tuple[list[float], list[float]]:
    """Analytic first- and total-order indices of Ishigami's function on [−π, π]³."""
    a, b, pi = ISHIGAMI_A, ISHIGAMI_B, math.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return [v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v]


def _sensitivity_spec(tmp: Path, *, seeds: int, sobol: int, morris: int):
    """Three settings whose design numbers map onto [−π, π]: a plain range, a narrow one and a
    log axis (its design numbers are log10 of the setting)."""
    from habsburg.experiments.sweep import load_spec

    path = tmp / "ishigami.toml"
    path.write_text(
        f"""
name = "ishigami"
scenario = "{SWEEP_TINY.as_posix()}"
steps = 4
seed = 11
seeds = {seeds}
outcomes = ["final_synthetic_share_new"]

[[parameters]]
path = "humans.assistant.ceiling"
range = [0.0, 1.0]

[[parameters]]
path = "humans.error_rate"
range = [0.0, 0.05]

[[parameters]]
path = "demand.adoption.ceiling"
range = [10.0, 1000.0]
log = true

[sensitivity]
sobol_samples = {sobol}
morris_trajectories = {morris}
"""
    )
    return load_spec(path, sampled=True)


def _unit(settings: dict[str, float]) -> list[float]:
    """The three settings as fractions of their design ranges."""
    return [
        settings["humans.assistant.ceiling"],
        settings["humans.error_rate"] / 0.05,
        (math.log10(settings["demand.adoption.ceiling"]) - 1.0) / 2.0,
    ]


def ishigami(settings: dict[str, float]) -> float:
    x1, x2, x3 = (-math.pi + 2 * math.pi * u for u in _unit(settings))
    return math.sin(x1) + ISHIGAMI_A * math.sin(x2) ** 2 + ISHIGAMI_B * x3**4 * math.sin(x1)


def _stub_run(task, base, outcomes, steps=None, scale=None, store_dir=None):
    """A run of the stub simulator: Ishigami's function of the settings, plus seed noise (that
    varies between points) which the mean over two replicates cancels."""
    from habsburg.experiments.sweep.executors import RunOutput

    settings = dict(task.settings)
    noise = (1 if task.replicate == 0 else -1) * math.cos(7 * sum(_unit(settings)))
    y = ishigami(settings) + noise
    return RunOutput(task, {"final_synthetic_share_new": y}, None, 0.0)


def test_sensitivity_indices_are_salibs_on_the_same_samples(tmp_path, monkeypatch):
    """habsburg sensitivity (design, sweep of every point on two seeds, means per point, SALib's
    analysis) against SALib's own sample and analysis of the stub's exact values."""
    pytest.importorskip("SALib")
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    from habsburg.experiments import sensitivity as S
    from habsburg.experiments.sweep import executors

    monkeypatch.setattr(executors, "execute_run", _stub_run)
    spec = _sensitivity_spec(tmp_path, seeds=2, sobol=32, morris=8)
    result = S.run_sensitivity(spec, tmp_path / "out", serial=True, progress=False)
    table = result.table.set_index("parameter")
    assert result.runs == 2 * (32 * 5 + 8 * 4)
    names = ["humans.assistant.ceiling", "humans.error_rate", "log10(demand.adoption.ceiling)"]
    assert list(table.index) == names

    problem = {
        "num_vars": 3,
        "names": names,
        "bounds": [[0.0, 1.0], [0.0, 0.05], [1.0, 3.0]],
    }

    def exact(X: np.ndarray) -> np.ndarray:
        return np.array(
            [
                ishigami(
                    {
                        "humans.assistant.ceiling": x[0],
                        "humans.error_rate": x[1],
                        "demand.adoption.ceiling": 10.0 ** x[2],
                    }
                )
                for x in X
            ]
        )

    X = sobol_sample.sample(problem, 32, calc_second_order=False, seed=11)
    ref = sobol_analyze.analyze(problem, exact(X), calc_second_order=False, seed=11)
    for column in ("S1", "S1_conf", "ST", "ST_conf"):
        np.testing.assert_allclose(table[column], ref[column], rtol=1e-9, atol=1e-12)
    X = morris_sample.sample(problem, 8, num_levels=4, seed=11)
    ref = morris_analyze.analyze(problem, X, exact(X), num_levels=4, seed=11)
    for column in ("mu_star", "mu", "sigma"):
        np.testing.assert_allclose(table[column], ref[column], rtol=1e-9, atol=1e-12)


def test_sobol_indices_of_ishigami_and_morris_of_a_linear_model_match_the_closed_forms(tmp_path):
    """habsburg's design and analysis (the log axis mapped through its setting values) on
    Ishigami's function: first- and total-order indices near the analytic ones; on a model
    linear in the settings' fractions of their design ranges every elementary effect (Δy over
    the step Δ in the unit cube, Morris 1991) is the coefficient, so μ* is |a| and σ is 0."""
    pytest.importorskip("SALib")
    from habsburg.experiments import sensitivity as S

    spec = _sensitivity_spec(tmp_path, seeds=1, sobol=4096, morris=10)
    settings = S.sensitivity_settings(spec)

    def evaluate(X: np.ndarray, f) -> pd.DataFrame:
        values = [
            {a.path: a.value(x) for a, x in zip(spec.parameters, row, strict=True)} for row in X
        ]
        return pd.DataFrame({"final_synthetic_share_new": [f(v) for v in values]})

    X = S.design(spec, settings, "sobol")
    sobol = S.analyze(spec, settings, "sobol", X, evaluate(X, ishigami))
    s1, st = _ishigami_indices()
    np.testing.assert_allclose(sobol["S1"], s1, atol=0.02)
    np.testing.assert_allclose(sobol["ST"], st, atol=0.02)

    coefficients = [3.0, -2.0, 0.5]

    def linear(v: dict[str, float]) -> float:
        return sum(a * u for a, u in zip(coefficients, _unit(v), strict=True))

    X = S.design(spec, settings, "morris")
    morris = S.analyze(spec, settings, "morris", X, evaluate(X, linear))
    np.testing.assert_allclose(morris["mu_star"], np.abs(coefficients), rtol=1e-9)
    np.testing.assert_allclose(morris["mu"], coefficients, rtol=1e-9)
    np.testing.assert_allclose(morris["sigma"], 0.0, atol=1e-9)


# ------------------------------------------------------------- posterior: weights and bands
def test_posterior_summary_is_the_weighted_inverse_cdf_of_brute_force_replication():
    """Weighted mean and quantiles against the same particles replicated by integer weights
    (numpy's inverted-CDF quantile of the replicated sample), ties and zero weights included."""
    rng = np.random.default_rng(4)
    for _ in range(200):
        n = int(rng.integers(1, 15))
        x = np.round(rng.normal(size=n), 1)  # ties
        counts = rng.integers(0, 6, size=n)
        if counts.sum() == 0:
            continue
        posterior = pd.DataFrame({"p": x, "weight": counts / counts.sum()})
        row = posterior_summary(posterior, [Prior("p", -5.0, 5.0)]).iloc[0]
        replicated = np.repeat(x, counts)
        assert row["mean"] == pytest.approx(replicated.mean(), abs=1e-12)
        for column, q in (("q05", 0.05), ("median", 0.5), ("q95", 0.95)):
            assert row[column] == np.quantile(replicated, q, method="inverted_cdf"), (x, counts)
    # equal weights as pyabc gives them (1/20 each: their cumulative sums round off 0.05 and 0.5)
    x = np.arange(20.0)
    w = np.full(20, 1 / 20)
    assert [weighted_quantile(x, w, q) for q in (0.05, 0.5, 0.95)] == [0.0, 9.0, 18.0]
    # one particle: every quantile is it; a weight-0 particle is never a quantile
    assert weighted_quantile(np.array([3.0]), np.array([1.0]), 0.05) == 3.0
    assert weighted_quantile(np.array([-9.0, 1.0, 2.0]), np.array([0.0, 0.5, 0.5]), 0.05) == 1.0


def test_effective_sample_size_is_kish():
    assert effective_sample_size(np.full(16, 1 / 16)) == pytest.approx(16.0)
    w = np.array([0.5, 0.25, 0.125, 0.125])
    assert effective_sample_size(w) == pytest.approx(1 / (w**2).sum())
    assert effective_sample_size(w * 7) == pytest.approx(1 / (w**2).sum())  # scale-free


def test_posterior_draws_follow_the_weights(tmp_path):
    """`run --posterior` / `compare --posterior` draw settings by weight: frequencies within
    5 binomial standard errors of the weights, a weight-0 particle never, one seed one ensemble."""
    weights = np.array([0.6, 0.3, 0.1, 0.0])
    pd.DataFrame({"a.b": [1.0, 2.0, 3.0, 4.0], "weight": weights * 3}).to_parquet(
        tmp_path / "posterior.parquet"
    )
    n = 20_000
    draws = posterior_settings(tmp_path, n, seed=9)
    values = np.array([d["a.b"] for d in draws])
    freq = np.array([(values == v).mean() for v in (1.0, 2.0, 3.0, 4.0)])
    se = np.sqrt(weights * (1 - weights) / n)
    assert np.all(np.abs(freq - weights) <= 5 * se + 1e-12), freq
    assert freq[3] == 0.0
    assert posterior_settings(tmp_path, 50, seed=9) == draws[:50]


def test_band_quantiles_with_nan_one_draw_and_identical_values():
    from habsburg.experiments.bands import band_table

    series = pd.DataFrame(
        {
            "draw": [0, 1, 2, 0, 1, 2, 0, 1, 2],
            "month": ["2021-01"] * 3 + ["2021-02"] * 3 + ["2021-03"] * 3,
            "mean_tail_coverage": [0.1, np.nan, 0.3, 0.2, 0.2, 0.2, np.nan, 0.7, np.nan],
        }
    )
    t = band_table(series, ["mean_tail_coverage"]).set_index("month")
    # 2021-01: two draws with a value (linear interpolation, numpy's default)
    assert t.loc["2021-01", ["q05", "q50", "q95"]].tolist() == pytest.approx(
        np.quantile([0.1, 0.3], [0.05, 0.5, 0.95])
    )
    assert t.loc["2021-01", "draws"] == 2
    assert t.loc["2021-02", ["q05", "q50", "q95"]].tolist() == pytest.approx([0.2] * 3)
    assert t.loc["2021-03", ["q05", "q50", "q95"]].tolist() == [0.7] * 3
    assert t.loc["2021-03", "draws"] == 1


# -------------------------------------------------------------------------------- seeds
def test_replicate_seeds_are_numpys_spawned_streams_and_extend_without_changing():
    seeds = replicate_seeds(42, 6)
    reference = [
        int(child.generate_state(1, np.uint64)[0] >> 1)
        for child in np.random.SeedSequence(42).spawn(6)
    ]
    assert seeds == reference
    assert len(set(seeds)) == 6 and all(0 <= s < 2**63 for s in seeds)
    assert replicate_seeds(42, 3) == seeds[:3]  # more replicates keep the first ones
    assert not set(seeds) & set(replicate_seeds(43, 6))
    # the streams of different replicates are not correlated (10⁵ uniforms each)
    u = [np.random.default_rng(s).random(100_000) for s in seeds[:3]]
    assert abs(np.corrcoef(u[0], u[1])[0, 1]) < 5 / math.sqrt(100_000)
    assert abs(np.corrcoef(u[1], u[2])[0, 1]) < 5 / math.sqrt(100_000)


def test_design_points_share_replicate_seeds_and_posterior_draws_do_not():
    """Common random numbers across the points of a sweep (replicate r of every point on seed
    r), one seed per posterior draw; a particle's ABC seed is a function of its settings."""
    from habsburg.experiments.bands import posterior_plan
    from habsburg.experiments.calibration.simulator import seed_of
    from habsburg.experiments.sweep import plan_points

    sc = tiny_scenario()
    points = [{"humans.error_rate": e} for e in (0.0, 0.01, 0.02)]
    plan = plan_points("p", sc, points, seeds=3, seed=8)
    by_point: dict[int, list[int]] = {}
    for t in plan.tasks:
        by_point.setdefault(t.point, []).append(t.seed)
    assert all(s == replicate_seeds(8, 3) for s in by_point.values())
    draws = posterior_plan(sc, points, seed=8)
    assert [t.seed for t in draws.tasks] == replicate_seeds(8, 3)
    a = seed_of({"x": 1.0}, 5)
    assert a == seed_of({"x": 1.0}, 5) and a != seed_of({"x": 1.0000001}, 5)
    assert a != seed_of({"x": 1.0}, 6)


# ------------------------------------------------------------- aggregation of replicates
def test_point_summary_means_each_point_over_its_own_runs():
    from habsburg.experiments.sweep import plan_points, point_summary

    plan = plan_points(
        "p",
        tiny_scenario(),
        [{"humans.error_rate": e} for e in (0.02, 0.0)],
        seeds=3,
        outcomes=["final_synthetic_share_new", "final_mean_tail_coverage"],
    )
    rng = np.random.default_rng(1)
    rows = []
    for t in plan.tasks:
        rows.append(
            {
                "point": t.point,
                "replicate": t.replicate,
                "humans.error_rate": dict(t.settings)["humans.error_rate"],
                "final_synthetic_share_new": rng.uniform(),
                "final_mean_tail_coverage": np.nan if t.run_id == "p00001-s002" else rng.uniform(),
            }
        )
    runs = pd.DataFrame(rows)
    shuffled = runs.sample(frac=1.0, random_state=2).reset_index(drop=True)
    table = point_summary(shuffled, plan)
    assert table["humans.error_rate"].tolist() == [0.02, 0.0]  # point order
    assert table["runs"].tolist() == [3, 3]
    # the outcome missing in one run says how many runs its mean is over; the other says nothing
    assert table["final_mean_tail_coverage runs"].tolist() == [3, 2]
    assert "final_synthetic_share_new runs" not in table
    for point, row in table.iterrows():
        mine = runs[runs["point"] == point]
        assert row["final_synthetic_share_new"] == pytest.approx(
            mine["final_synthetic_share_new"].mean()
        )
        # a run without the outcome (NaN) is left out of its point's mean
        assert row["final_mean_tail_coverage"] == pytest.approx(
            np.nanmean(mine["final_mean_tail_coverage"])
        )


def test_a_declared_target_is_fitted_to_its_value_and_half_width_on_any_scale():
    """A spec's [[targets]] (value ± half_width) on a count series, or a share near 0: the
    distance is |simulated − value| / half_width, not measured against the interval clipped
    to [0, 1] (400 ± 50 became (350, 1): centre 175.5, half-width −174.5)."""
    demand = Measurement("spec", "ai_demand", "2021-06", 400.0, "", "", 350.0, 450.0)
    share = Measurement("spec", "graphite_ai_share", "2021-06", 0.02, "", "", -0.01, 0.05)
    for m, at_edge in ((demand, 450.0), (share, 0.05)):
        distance, x0 = StandardizedDistance([m]), observed([m])
        assert x0 == {target_key(m): pytest.approx(m.value)}
        assert distance({target_key(m): m.value}, x0) == pytest.approx(0.0, abs=1e-12)
        assert distance({target_key(m): at_edge}, x0) == pytest.approx(1.0)
