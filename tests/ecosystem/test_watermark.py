"""Watermark evidence from token positions: dilution by random edits and spans, compounding spins,
hybrids marking only their model-written part (issue 12). The old fixed rule (re-randomise 2εT
scored tokens) fails the dilution and span tests."""

import numpy as np
import pytest

from habsburg.ecosystem import edits, rawdraws
from habsburg.ecosystem.edits import (
    RANDOM,
    EditProcess,
    combine_fractions,
    edited_positions,
    retention,
    surviving_pairs,
)
from habsburg.ecosystem.watermark import WatermarkScheme, model_written_tokens

N, T = 8000, 200
TOKENS = np.full(N, T)
ONES = np.ones(N)  # full spike entropy: less noise, same ratios


def excess(scheme, green):
    """Per-document excess green count g − γT (mean z is proportional to its mean)."""
    return green - scheme.gamma * TOKENS


def ratio_and_se(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    r = num.mean() / den.mean()
    rel = np.hypot(num.std() / num.mean(), den.std() / den.mean()) / np.sqrt(num.size)
    return float(r), float(abs(r) * rel)


def dilution(scheme, eps, edits=RANDOM, seed=0):
    rng = np.random.default_rng(seed)
    clean = excess(scheme, scheme.draw_green_counts(TOKENS, TOKENS, rng, entropy=ONES))
    edited = excess(
        scheme,
        scheme.draw_green_counts(TOKENS, TOKENS, rng, paraphrase=eps, edits=edits, entropy=ONES),
    )
    return ratio_and_se(edited, clean)


@pytest.mark.parametrize(("h", "eps"), [(1, 0.25), (1, 0.5), (2, 0.25)])
def test_random_edits_keep_one_minus_eps_to_the_h_plus_one(h, eps):
    scheme = WatermarkScheme(context_width=h)
    r, se = dilution(scheme, eps)
    assert abs(r - (1 - eps) ** (h + 1)) < 3.5 * se
    if h == 1:
        assert abs(r - max(0.0, 1 - 2 * eps)) > 6 * se  # the old "2ε re-randomised" rule
    assert r > 0.2 * (1 - eps) ** (h + 1)  # ε = 0.5 does not erase the watermark


def test_spans_dilute_less_and_follow_the_span_formula():
    scheme = WatermarkScheme()
    eps, L = 0.25, 4.0
    spans = EditProcess(span_length=L)
    r_span, se_span = dilution(scheme, eps, spans, seed=1)
    r_rand, _ = dilution(scheme, eps, RANDOM, seed=2)
    assert abs(r_span - (1 - eps * (1 + 1 / L))) < 3.5 * se_span
    assert r_span > r_rand + 5 * se_span
    assert float(scheme.retention(eps, spans)) == pytest.approx(1 - eps * (1 + 1 / L))


@pytest.mark.parametrize(
    "process", [RANDOM, EditProcess(3.0), EditProcess(6.0, random_share=0.4)], ids=str
)
@pytest.mark.parametrize("h", [1, 2])
def test_surviving_pairs_match_the_closed_form(process, h):
    rng = np.random.default_rng(5)
    for eps in (0.1, 0.4, 0.7):
        kept = surviving_pairs(np.full(4000, 300), eps, rng, context_width=h, process=process)
        share = kept / 300
        expected = float(retention(eps, h, process))
        assert abs(share.mean() - expected) < 3.5 * share.std() / np.sqrt(share.size) + 1e-9


def test_edited_share_is_eps_and_spans_have_their_mean_length():
    rng = np.random.default_rng(3)
    edited = edited_positions(np.full(200, 2000), 0.3, EditProcess(span_length=5.0), rng)
    assert edited.mean() == pytest.approx(0.3, abs=0.01)
    flips = np.flatnonzero(np.diff(edited.astype(np.int8)) == -1).size  # span ends
    assert edited.sum() / flips == pytest.approx(5.0, rel=0.05)


@pytest.mark.parametrize(
    "process", [RANDOM, EditProcess(3.0), EditProcess(6.0, random_share=0.4)], ids=str
)
@pytest.mark.parametrize("h", [1, 3])
def test_surviving_pairs_count_the_edited_positions_they_draw(process, h):
    """The fast counts (integer thresholds, runs for spans) are exactly the per-token definition
    applied to :func:`edited_positions` with the same draws, and leave the stream where it does."""
    gen = np.random.default_rng(11)
    scored = gen.integers(0, 60, 300)
    eps = np.where(gen.random(300) < 0.2, 0.0, gen.choice([1e-50, 0.05, 0.5, 0.97, 1.0], 300))
    fast, slow = np.random.default_rng(12), np.random.default_rng(12)
    fast.random(1, dtype=np.float32), slow.random(1, dtype=np.float32)  # a spare half-output
    kept = surviving_pairs(scored, eps, fast, context_width=h, process=process)
    todo = (eps > 0) & (scored > 0)
    edited = edited_positions(scored[todo] + h, eps[todo], process, slow)
    expected, at = scored.copy(), 0
    for i in np.flatnonzero(todo):
        doc = edited[at : at + scored[i] + h]
        expected[i] = sum(not doc[t - h : t + 1].any() for t in range(h, doc.size))
        at += doc.size
    np.testing.assert_array_equal(kept, expected)
    assert fast.random() == slow.random()


@pytest.mark.parametrize("chunk", [1 << 21, 7, 2, 1])
def test_integer_thresholds_draw_numpys_float32_uniforms(monkeypatch, chunk):
    """Whole or a few tokens per pass (documents split across passes, empty ones, a spare
    half-output from before), the flags are numpy's float32 draws against each document's
    threshold, and the stream ends where numpy's does."""
    assert rawdraws.RAW_DRAWS32  # the fast path is in use with this numpy
    monkeypatch.setattr(edits, "_BELOW_CHUNK", chunk)
    lengths = np.array([5, 0, 9, 1, 30, 0, 0, 13])
    p = np.array([0.3, 0.5, 1.0, 1e-50, 0.7, 0.2, 1e-50, 1e-50])
    for spare in (False, True):
        for raw in (True, False):
            monkeypatch.setattr(rawdraws, "RAW_DRAWS32", raw)
            plain, fast = np.random.default_rng(3), np.random.default_rng(3)
            if spare:
                plain.random(1, dtype=np.float32), fast.random(1, dtype=np.float32)
            n = int(lengths.sum())
            expected = plain.random(n, dtype=np.float32) < np.repeat(p.astype(np.float32), lengths)
            np.testing.assert_array_equal(edits._below(lengths, p, fast), expected)
            assert plain.random(3).tolist() == fast.random(3).tolist()


def test_two_spins_compound_like_one_spin_of_the_combined_fraction():
    scheme = WatermarkScheme()
    rng = np.random.default_rng(7)
    e1, e2 = 0.2, 0.25
    green = scheme.draw_green_counts(TOKENS, TOKENS, rng, entropy=ONES)
    once, stored_once = scheme.spin(green, TOKENS, np.zeros(N), e1, rng)
    twice, stored_twice = scheme.spin(once, TOKENS, stored_once, e2, rng)
    combined = 1 - (1 - e1) * (1 - e2)
    np.testing.assert_allclose(stored_twice, combined)
    assert float(combine_fractions(e1, e2)) == pytest.approx(combined)
    direct = scheme.paraphrase(green, TOKENS, combined, rng)
    a, b = excess(scheme, twice), excess(scheme, direct)
    se = np.hypot(a.std(), b.std()) / np.sqrt(N)
    assert abs(a.mean() - b.mean()) < 3.5 * se
    r, se_r = ratio_and_se(a, excess(scheme, green))
    assert abs(r - (1 - combined) ** 2) < 3.5 * se_r


def test_hybrids_carry_evidence_only_on_model_written_tokens():
    tokens = np.array([100, 100, 100, 7])
    sf = np.array([0.3, 0.3, 1.0, 0.5])
    marked = np.array([True, False, True, True])
    np.testing.assert_array_equal(model_written_tokens(tokens, sf, marked), [30, 0, 100, 4])
    scheme = WatermarkScheme()
    rng = np.random.default_rng(2)
    hybrid = excess(scheme, scheme.draw_green_counts(TOKENS, TOKENS * 3 // 10, rng, entropy=ONES))
    full = excess(scheme, scheme.draw_green_counts(TOKENS, TOKENS, rng, entropy=ONES))
    r, se = ratio_and_se(hybrid, full)
    assert abs(r - 0.3) < 3.5 * se


def test_human_text_z_is_standard_normal_whatever_the_edits():
    scheme = WatermarkScheme(context_width=2)
    rng = np.random.default_rng(4)
    green = scheme.draw_green_counts(TOKENS, 0 * TOKENS, rng, paraphrase=0.3)
    spun = scheme.paraphrase(green, TOKENS, 0.4, rng, edits=EditProcess(4.0))
    for g in (green, spun):
        z = scheme.z_scores(g, TOKENS)
        assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="context_width"):
        WatermarkScheme(context_width=0)
    with pytest.raises(ValueError, match="span_length"):
        EditProcess(span_length=0.5)
    with pytest.raises(ValueError, match="random_share"):
        EditProcess(random_share=1.5)


@pytest.mark.parametrize("builtin", [True, False])
def test_set_bits_are_counted_with_or_without_numpys_bitwise_count(monkeypatch, builtin):
    """numpy < 2.0 (which the package allows) has no ``bitwise_count``: the SWAR fallback must
    count the same bits, and the count of ones before a position must match a plain scan."""
    if not builtin:
        monkeypatch.setattr(edits, "_BITWISE_COUNT", None)
    rng = np.random.default_rng(8)
    words = rng.integers(0, 2**64, size=500, dtype=np.uint64, endpoint=False)
    words[:4] = [0, 2**64 - 1, 1, 2**63]
    bits = np.unpackbits(words.view(np.uint8), bitorder="little").reshape(-1, 64)
    np.testing.assert_array_equal(edits._popcount(words), bits.sum(axis=1))
    positions = rng.integers(0, words.size * 64, size=2_000)
    flat = bits.ravel().astype(np.int64)
    before = np.concatenate(([0], np.cumsum(flat)))[positions]
    np.testing.assert_array_equal(edits._ones_before(words, positions), before)
