"""The n-gram learner: a proper distribution, the counts it was fitted on, and faithful sampling."""

from __future__ import annotations

import numpy as np
import pytest

from habsburg.ecosystem.text.corpus import BOS, EOS, Vocabulary, tokenize
from habsburg.ecosystem.text.ngram import NgramLearner, flatten, windows

TOY = [np.array(s) for s in ([3, 4, 5, 3, 4, 6], [3, 4, 5, 5, 7], [4, 5, 3, 4, 6, 6, 3])]
V = 9


def test_tokenize_and_vocabulary_cutoff():
    toks = tokenize('God\'s Spirit was hovering. God said, "Let there be light."')
    assert toks[:4] == ["god's", "spirit", "was", "hovering"]
    assert "," in toks and toks.count(".") == 2
    vocab = Vocabulary.build([toks], min_count=2)
    assert vocab.words[:3] == ["<unk>", "<s>", "</s>"]
    assert set(vocab.words[3:]) == {".", '"'}  # the only tokens seen twice
    assert vocab.encode(["spirit"])[0] == 0  # seen once: below the cut-off -> <unk>


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_sum_to_one(order):
    m = NgramLearner(V, order=order).fit(TOY)
    rng = np.random.default_rng(1)
    ctx = rng.integers(0, V, size=(20, order - 1))
    ctx[:5] = BOS
    p = m.next_token_probs(ctx)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert (p > 0).all()
    # the elementwise scorer agrees with the dense rows
    w = rng.integers(0, V, size=20)
    np.testing.assert_allclose(m.prob(ctx, w), p[np.arange(20), w], rtol=1e-12)


def test_without_discount_seen_contexts_give_count_ratios():
    m = NgramLearner(V, order=3, discount=0.0).fit(TOY)
    win = windows(*flatten(TOY), 3)
    for ctx in {tuple(r) for r in win[:, :2]}:
        rows = win[(win[:, 0] == ctx[0]) & (win[:, 1] == ctx[1])]
        expected = np.bincount(rows[:, 2], minlength=V) / rows.shape[0]
        np.testing.assert_allclose(m.next_token_probs(np.array([ctx]))[0], expected, atol=1e-12)


def test_kneser_ney_matches_hand_computation():
    m = NgramLearner(V, order=2, discount=0.5).fit(TOY)
    # bigram context 4 is followed by 5, 6, 5, 6 (3 4 5 / 3 4 6 / 3 4 5 / 4 5 / 3 4 6)
    win = windows(*flatten(TOY), 2)
    after4 = win[win[:, 0] == 4, 1]
    c = np.bincount(after4, minlength=V).astype(float)
    # continuation counts: distinct left neighbours of each word
    uni = np.array([len({a for a, b in win if b == w}) for w in range(V)], dtype=float)
    p1 = np.maximum(uni - 0.5, 0) / uni.sum() + 0.5 * (uni > 0).sum() / uni.sum() / V
    expected = np.maximum(c - 0.5, 0) / c.sum() + 0.5 * (c > 0).sum() / c.sum() * p1
    np.testing.assert_allclose(m.next_token_probs(np.array([[4]]))[0], expected, atol=1e-12)


def test_sampling_reproduces_bigram_frequencies():
    rng = np.random.default_rng(7)
    m = NgramLearner(V, order=2).fit(TOY)
    docs = m.sample(4000, 6, rng)
    prev = np.concatenate([np.full((docs.shape[0], 1), BOS), docs[:, :-1]], axis=1)
    for context in (3, 4, 5):
        nxt = docs[prev == context]
        freq = np.bincount(nxt, minlength=V) / nxt.size
        expected = m.next_token_probs(np.array([[context]]))[0]
        expected[[BOS, EOS]] = 0
        expected /= expected.sum()
        se = np.sqrt(expected * (1 - expected) / nxt.size)
        assert np.all(np.abs(freq - expected) < 5 * se + 1e-3), (context, freq, expected)


def test_temperature_and_top_p_decoding():
    m = NgramLearner(V, order=2, temperature=0.5, top_p=0.6).fit(TOY)
    raw = m.next_token_probs(np.array([[4]]))
    dec = m.decode_probs(raw.copy())
    sharpened = raw[0] ** 2
    sharpened[[BOS, EOS]] = 0
    sharpened /= sharpened.sum()
    order = np.argsort(-sharpened)
    keep = order[: np.searchsorted(np.cumsum(sharpened[order]), 0.6) + 1]
    assert set(np.flatnonzero(dec[0])) == set(keep)
    np.testing.assert_allclose(dec[0, keep], sharpened[keep] / sharpened[keep].sum(), rtol=1e-5)


def test_bad_hyperparameters_are_named():
    with pytest.raises(ValueError, match="top_p"):
        NgramLearner(V, top_p=0.0)
    with pytest.raises(ValueError, match="order"):
        NgramLearner(V, order=0)
    with pytest.raises(ValueError, match="token ids"):
        NgramLearner(V).fit([np.array([1, 99])])


def test_perplexity_of_training_text_is_lower_than_heldout(small_corpus):
    m = NgramLearner(len(small_corpus.vocab)).fit(small_corpus.train_documents())
    assert m.perplexity(small_corpus.train_documents()) < m.perplexity(
        small_corpus.heldout_documents()
    )


def test_top_p_sampling_reproduces_the_decoded_distribution():
    rng = np.random.default_rng(11)
    m = NgramLearner(V, order=2, temperature=0.8, top_p=0.7).fit(TOY)
    docs = m.sample(6000, 3, rng)
    prev = np.concatenate([np.full((docs.shape[0], 1), BOS), docs[:, :-1]], axis=1)
    for context in (BOS, 4, 5):
        nxt = docs[prev == context]
        freq = np.bincount(nxt, minlength=V) / nxt.size
        expected = m.decode_probs(m.next_token_probs(np.array([[context]])))[0]
        se = np.sqrt(expected * (1 - expected) / nxt.size)
        assert np.all(np.abs(freq - expected) < 5 * se + 1e-3), (context, freq, expected)
        assert np.all(freq[expected == 0] == 0)  # nothing outside the nucleus
