"""Fact and concept views of real text, and the token store's provenance."""

from __future__ import annotations

import numpy as np

from habsburg.ecosystem.text.corpus import Vocabulary, tokenize
from habsburg.ecosystem.text.store import HUMAN, KIND_HUMAN, KIND_MODEL, TokenStore
from habsburg.ecosystem.text.views import (
    concept_distribution,
    concept_divergence,
    fact_accuracy,
    fact_claims,
    true_values,
)

TEXT = (
    "joshua the son of nun spoke. caleb, the son of jephunneh, went. joshua the son of nun came. "
    "then the son of man said. joshua the son of caleb lied."
)


def test_fact_claims_follow_the_pattern_and_score_against_the_human_majority():
    toks = tokenize(TEXT)
    vocab = Vocabulary.build([toks], min_count=1)
    ids = vocab.encode(toks)
    claims = fact_claims(ids, vocab, first_content_id=3)
    pairs = [(vocab.words[a], vocab.words[b]) for a, b in claims]
    assert pairs == [
        ("joshua", "nun"),
        ("caleb", "jephunneh"),
        ("joshua", "nun"),
        ("joshua", "caleb"),
    ]
    truth = true_values(claims, len(vocab))
    assert vocab.words[truth[vocab.index["joshua"]]] == "nun"
    acc, n = fact_accuracy(claims, truth)
    assert n == 4 and acc == 0.75  # the lie about joshua's father is an error


def test_concept_divergence_is_zero_for_equal_text_and_positive_otherwise():
    p = concept_distribution(np.array([5, 6, 7, 7, 1, 2]), 10, first_content_id=3)
    q = concept_distribution(np.array([8, 9, 9]), 10, first_content_id=3)
    assert p.sum() == 1 and p[1] == 0  # function ids (below the cut) are not concepts
    assert concept_divergence(p, p) == 0
    assert 0 < concept_divergence(p, q) <= np.log(2) + 1e-12


def test_token_store_keeps_per_token_provenance():
    store = TokenStore()
    store.publish([np.array([5, 6, 7])], generation=0, kind=KIND_HUMAN, producer=0, author=HUMAN)
    model_doc = np.array([[8, 9, 10, 11]])
    author = np.array([[2, 2, HUMAN, HUMAN]])  # a human finished a model's draft
    ids = store.publish(model_doc, generation=1, kind=KIND_MODEL, producer=2, author=author)
    assert ids.tolist() == [1]
    np.testing.assert_allclose(store.synthetic_fraction(), [0.0, 0.5])
    tokens, offsets = store.select(np.array([1, 0]))
    assert tokens.tolist() == [8, 9, 10, 11, 5, 6, 7] and offsets.tolist() == [0, 4, 7]
    for _ in range(40):  # growth by doubling keeps earlier columns intact
        store.publish(model_doc, generation=2, kind=KIND_MODEL, producer=1, author=1)
    assert len(store) == 42 and store.documents(np.array([0]))[0].tolist() == [5, 6, 7]
    m = store.concept_matrix(vocab_size=12, n_function_words=5)
    assert m.shape == (42, 12) and m[0].sum() == 0 and m[1].sum() == 4


def test_perplexity_figure_of_a_generation_above_the_axis_says_so_without_a_warning(
    tmp_path, monkeypatch
):
    """A generation whose every sample lies beyond the axis (the 99th percentile of generation
    0's; found with one sample a generation) has no density to draw: a legend entry says so
    instead of numpy's "invalid value encountered in divide" on the user's terminal."""
    import warnings
    from typing import Any

    import pandas as pd
    from matplotlib.figure import Figure

    from habsburg.reports import text_report

    made: list[Figure] = []

    class Kept(Figure):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(text_report, "Figure", Kept)
    values = [1.457, 1.547, 1.2]
    ppl = pd.DataFrame({"model": ["lab_b"] * 3, "generation": [0, 1, 2], "perplexity_gen0": values})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text_report._perplexity_figure(ppl, tmp_path / "p.png")
    legend = made[0].axes[0].get_legend()
    assert legend is not None
    hi = np.quantile(values, 0.99)
    assert [t.get_text() for t in legend.get_texts()] == [
        "gen 0",
        f"gen 1: all above {hi:.3g}",
        "gen 2",
    ]
    assert (tmp_path / "p.png").stat().st_size > 0
