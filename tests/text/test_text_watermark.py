"""Kirchenbauer watermark on real tokens: exact null, √T growth, and what paraphrase does."""

from __future__ import annotations

import numpy as np
import pytest

from habsburg.ecosystem.text.ngram import NgramLearner, flatten
from habsburg.ecosystem.text.watermark import TokenWatermark, paraphrase, previous_tokens


def test_green_list_has_exactly_gamma_v_tokens_per_context():
    wm = TokenWatermark(vocab_size=101, key=5, gamma=0.3)
    rows = wm.green_rows(np.arange(50))
    assert (rows.sum(axis=1) == 30).all()
    assert len({r.tobytes() for r in rows}) == 50  # a different list for each context
    other = TokenWatermark(vocab_size=101, key=6, gamma=0.3).green_rows(np.arange(50))
    assert (rows != other).any()


def test_null_z_on_human_text_is_standard_normal(small_corpus):
    docs = small_corpus.documents()
    tokens, offsets = flatten(docs)
    wm = TokenWatermark(vocab_size=len(small_corpus.vocab), key=0)
    # the null is over the secret key: each document scored under an independent key
    keys = np.arange(len(docs)) * 7919 + 11
    zs = np.concatenate([wm.detect(tokens, offsets, key=keys + 10_000 * r)["z"] for r in range(4)])
    assert abs(zs.mean()) < 0.1, zs.mean()
    assert 0.88 < zs.std() < 1.12, zs.std()


@pytest.fixture(scope="module")
def watermarked(small_corpus):
    V = len(small_corpus.vocab)
    model = NgramLearner(V, order=2).fit(small_corpus.train_documents())
    wm = TokenWatermark(vocab_size=V, key=42, gamma=0.25, delta=2.0)
    docs = model.sample(300, 160, np.random.default_rng(3), watermark=wm)
    return model, wm, docs


def test_mean_z_grows_as_sqrt_length(watermarked):
    _, wm, docs = watermarked
    means = {}
    for T in (40, 160):
        part = docs[:, :T]
        offsets = np.arange(0, part.size + 1, T)
        means[T] = wm.detect(part.ravel(), offsets, ignore_repeated=False)["z"].mean()
    assert means[40] > 2.0
    assert 1.75 < means[160] / means[40] < 2.25, means  # √(160/40) = 2


@pytest.mark.parametrize("source", ["paraphraser", "unigram"])
def test_span_edits_dilute_less_than_random_edits(watermarked, source):
    model, wm, docs = watermarked
    rng = np.random.default_rng(9)
    flat = docs.ravel()
    offsets = np.arange(0, flat.size + 1, docs.shape[1])
    z0 = wm.detect(flat, offsets)["z"].mean()
    words = (
        {"paraphraser": model, "offsets": offsets}
        if source == "paraphraser"
        else {"replacement_probs": model.unigram_}
    )
    out = {}
    for mode in ("random", "span"):
        edited, mask = paraphrase(flat, 0.3, rng, mode=mode, **words)
        assert abs(mask.mean() - 0.3) < 0.03
        changed = (edited[mask] != flat[mask]).mean()
        assert changed == 1.0 if source == "paraphraser" else changed > 0.5  # real substitutions
        out[mode] = wm.detect(edited, offsets)["z"].mean()
    assert out["random"] < out["span"] < z0, (out, z0)
    # random edits keep about (1-ε)² of the evidence, spans about (1-ε)
    assert out["random"] / z0 < 0.62 and out["span"] / z0 > 0.6


def test_previous_token_resets_at_document_start():
    prev = previous_tokens(np.array([5, 6, 7, 8]), np.array([0, 2, 4]))
    assert prev.tolist() == [1, 5, 1, 7]


def test_bad_watermark_settings_are_named():
    with pytest.raises(ValueError, match="gamma"):
        TokenWatermark(vocab_size=10, key=1, gamma=1.5)
    with pytest.raises(ValueError, match="mode"):
        paraphrase(
            np.arange(5), 0.1, np.random.default_rng(0), replacement_probs=np.ones(5), mode="x"
        )


def test_paraphraser_rewrites_in_context(small_corpus):
    from habsburg.ecosystem.text.ngram import NgramLearner

    V = len(small_corpus.vocab)
    model = NgramLearner(V, order=2, discount=0.0).fit(small_corpus.train_documents())
    docs = small_corpus.train_documents()[:40]
    tokens, offsets = flatten(docs)
    edited, mask = paraphrase(
        tokens, 0.2, np.random.default_rng(4), paraphraser=model, offsets=offsets
    )
    prev = previous_tokens(edited, offsets)
    assert (edited[mask] != tokens[mask]).all()
    # with no discount the paraphraser writes a word it has seen after the preceding word,
    # wherever the preceding word admits another word than the original one
    lone = mask & ~np.concatenate([[False], mask[:-1]])  # the preceding word is original
    seen = model.prob(prev[lone, None], edited[lone]) > 0
    choices = (model.next_token_probs(prev[lone, None]) > 0).sum(axis=1)
    assert (choices > 1).mean() > 0.5
    assert seen[choices > 1].all()
