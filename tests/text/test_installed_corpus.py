"""The installed corpus real-text mode runs on (the New Heart English Bible of the ``text`` extra,
which the ``dev`` extra installs): loaded whole and as an evenly spread subset, and a clear error
when the extra is missing. The other text tests build their own small corpus."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from habsburg.ecosystem.text.corpus import GENRES, load_installed_corpus
from habsburg.scenarios.errors import UserError


@pytest.fixture(scope="module")
def bible():
    return load_installed_corpus()


def _words(corpus, ids) -> str:
    return " ".join(corpus.vocab.words[i] for i in ids)


def test_the_bible_loads_as_passages_of_chapters_in_genre_communities(bible):
    # Genesis opens the first passage and Revelation closes the last
    assert _words(bible, bible.document(0)[:8]) == "in the beginning god created the heavens and"
    assert _words(bible, bible.document(bible.n_docs - 1)[-4:]) == "be with all ."
    assert bible.community_names == list(GENRES)
    sizes = np.bincount(bible.community, minlength=len(GENRES))
    assert (sizes > 0).all() and bible.community[0] == 0 and bible.community[-1] == len(GENRES) - 1
    lengths = np.diff(bible.offsets)
    assert lengths.min() >= 2 and lengths.max() <= 400  # chapters split into passages of <= 400
    assert 800_000 < bible.tokens.size < 1_100_000 and 5_000 < len(bible.vocab) < 10_000
    assert bible.tokens.max() < len(bible.vocab)
    # a tenth of each community is held out (at least one passage)
    for c, size in enumerate(sizes):
        held = int(bible.heldout[bible.community == c].sum())
        assert held == max(round(0.1 * size), 1)


def test_a_token_budget_keeps_an_evenly_spread_subset_of_chapters(bible):
    small = load_installed_corpus(max_tokens=20_000)
    assert 10_000 < small.tokens.size < 40_000 and small.n_docs < bible.n_docs / 10
    # every genre is still there (chapters are taken every k-th, through the whole book order)
    assert (np.bincount(small.community, minlength=len(GENRES)) > 0).all()
    # Genesis 1 is kept; its rarer words are unknown to the smaller vocabulary
    first, whole = (_words(c, c.document(0)[:8]).split() for c in (small, bible))
    assert all(a in (b, "<unk>") for a, b in zip(first, whole, strict=True))
    assert first.count("<unk>") < len(first) / 2 and len(small.vocab) < len(bible.vocab) / 4


def test_without_the_text_extra_the_corpus_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pythonbible_nheb.plain_text_readers_bible", None)
    with pytest.raises(UserError, match=r"pip install -e '\.\[text\]'"):
        load_installed_corpus()
