"""The study instruments against hand-built webs with known synthetic fractions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, logit
from scipy.stats import norm
from tinyscenario import tiny_scenario

from habsburg.ecosystem.store import HUMAN, HYBRID, MODEL
from habsburg.model.instruments import (
    AHREFS_BINS,
    AhrefsInstrument,
    Detector,
    GraphiteInstrument,
    LiangInstrument,
    build_instruments,
)
from habsburg.model.model import EcosystemModel
from habsburg.model.reporters import MODEL_METRICS, data_collector
from habsburg.scenarios.measurements import MEASUREMENTS, calibration_targets, out_of_sample
from habsburg.scenarios.schema import InstrumentsConfig

EXACT = Detector(floor=1e-9, ceiling=1 - 1e-9, noise=0.0)


@settings(max_examples=200, deadline=None)
@given(
    floor=st.floats(1e-6, 0.5),
    span=st.floats(0.0, 0.5),
    noise=st.floats(0.0, 2.0),
    s=st.lists(
        st.sampled_from([0.0, 1.0, -0.5, 1.5, float("nan")]) | st.floats(0.0, 1.0), max_size=40
    ),
)
def test_estimate_is_the_noisy_logistic_reading_bit_for_bit(floor, span, noise, s):
    """The estimate (its logit taken once for documents at 0 or 1) is the formula's, value for
    value, and draws one normal per document."""
    detector = Detector(floor=floor, ceiling=floor + span, noise=noise)
    s = np.array(s, dtype=np.float64)
    z = np.random.default_rng(3).standard_normal(s.size)
    reading = floor + (detector.ceiling - floor) * np.clip(s, 0.0, 1.0)
    expected = expit(logit(reading) + noise * z)
    rng, after = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(detector.estimate(s, rng), expected)
    after.standard_normal(s.size)
    assert rng.bit_generator.state == after.bit_generator.state


def test_graphite_share_on_a_known_web_exact_and_with_detector_error():
    sf = np.r_[np.ones(400), np.full(100, 0.7), np.full(100, 0.3), np.zeros(400)]
    kind = np.full(sf.size, HUMAN)
    rng = np.random.default_rng(0)
    assert GraphiteInstrument(EXACT).measure(sf, kind, rng)["graphite_ai_share"] == 0.5
    noisy = Detector(floor=0.151, ceiling=0.925, noise=1.0)
    # closed form: P(logit(reading) + Z > 0) per document
    reading = noisy.floor + (noisy.ceiling - noisy.floor) * sf
    expected = norm.sf(-logit(reading) / noisy.noise).mean()
    big = np.tile(sf, 200)
    got = GraphiteInstrument(noisy).measure(big, np.tile(kind, 200), rng)["graphite_ai_share"]
    assert got == pytest.approx(expected, abs=0.005)


def test_graphite_default_detector_has_the_published_error_rates():
    g = InstrumentsConfig().graphite
    fpr, fnr = Detector.from_config(g).error_rates()
    assert fpr == pytest.approx(0.042, abs=0.002) and fnr == pytest.approx(0.006, abs=0.001)
    rng = np.random.default_rng(1)
    d = Detector.from_config(g)
    assert d.classify(np.zeros(200_000), rng).mean() == pytest.approx(0.042, abs=0.002)
    assert 1 - d.classify(np.ones(200_000), rng).mean() == pytest.approx(0.006, abs=0.001)


def test_ahrefs_bins_on_a_known_web():
    values = [0.0, 0.05, 0.2, 0.5, 0.8, 1.0]
    counts = [30, 10, 20, 15, 20, 5]
    sf = np.repeat(values, counts)
    out = AhrefsInstrument(EXACT).measure(sf, np.zeros(sf.size), np.random.default_rng(0))
    assert [out[f"ahrefs_{b}"] for b in AHREFS_BINS] == pytest.approx(np.array(counts) / 100)
    # the edges are whole percent: 10% is "1-10%", 11% is "11-40%", 99% is "71-99%"
    shares = AhrefsInstrument.bin_shares(np.array([0.004, 0.006, 0.10, 0.11, 0.99, 0.996]))
    assert list(shares * 6) == [1, 2, 1, 0, 1, 1]


def test_liang_counts_only_human_written_text_relative_to_its_reference():
    sf = np.r_[np.zeros(6), np.full(2, 0.25), np.full(2, 0.8), np.ones(10)]
    kind = np.r_[np.full(6, HUMAN), np.full(4, HYBRID), np.full(10, MODEL)]
    out = LiangInstrument(EXACT, reference=0.5).measure(sf, kind, np.random.default_rng(0))
    # (6·0 + 2·0.5 + 2·1) / 10: model users' posts are not human-written text
    assert out["liang_llm_modified_share"] == pytest.approx(0.3)
    empty = LiangInstrument(EXACT, 0.5).measure(
        np.ones(3), np.full(3, MODEL), np.random.default_rng(0)
    )
    assert np.isnan(empty["liang_llm_modified_share"])


def test_instruments_are_recorded_and_never_change_the_trajectory():
    sc = tiny_scenario(end="2022-06")
    with_instruments = EcosystemModel(sc)
    without = EcosystemModel(sc)
    without.datacollector = data_collector(
        {
            k: m
            for k, m in MODEL_METRICS.items()
            if not k.startswith(("graphite", "ahrefs", "liang"))
        }
    )
    for model in (with_instruments, without):
        for _ in range(sc.steps):
            model.step()
    a, b = with_instruments.internet.store, without.internet.store
    assert np.array_equal(a.synthetic_fraction, b.synthetic_fraction)
    mm = with_instruments.datacollector.get_model_vars_dataframe()
    mb = without.datacollector.get_model_vars_dataframe()
    assert np.array_equal(mm["synthetic_share_new_measured"], mb["synthetic_share_new_measured"])
    post = mm.iloc[sc.launch_step + 6 :]
    assert (post["graphite_ai_share"] > 0.1).all()
    bins = mm[[f"ahrefs_{b}" for b in AHREFS_BINS]].sum(axis=1)
    assert np.allclose(bins, 1.0)
    assert mm["liang_llm_modified_share"].iloc[-1] > mm["liang_llm_modified_share"].iloc[0]


def test_build_instruments_follows_the_scenario():
    cfg = InstrumentsConfig()
    cfg.graphite.threshold = 0.9
    graphite, ahrefs, liang = build_instruments(cfg)
    assert ahrefs.detector.floor == cfg.ahrefs.floor
    assert graphite.detector.threshold == 0.9 and liang.reference == cfg.liang_reference


def test_published_points_split_at_the_calibration_cutoff():
    assert MEASUREMENTS and all(m.month <= "2024-12" for m in calibration_targets())
    assert all(m.month > "2024-12" for m in out_of_sample())
    assert {m.study for m in out_of_sample()} >= {"ahrefs"}
    assert {m.study for m in calibration_targets()} >= {"graphite", "liang"}
    assert all(m.series in MODEL_METRICS for m in MEASUREMENTS)
    liang = next(m for m in MEASUREMENTS if m.study == "liang")
    assert liang.interval == (0.10, 0.24)
    graphite = next(m for m in MEASUREMENTS if m.study == "graphite")
    assert graphite.interval == pytest.approx((0.34, 0.44))
