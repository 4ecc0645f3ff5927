"""A human corpus as token ids: tokeniser, vocabulary with an unknown cut-off, communities, split.

The installed corpus is the New Heart English Bible (public domain, modern English), which the
``pythonbible-nheb`` package ships inside its wheel (the ``text`` extra). Documents are chapters;
author communities are the books' traditional genres (law, history, wisdom, prophets, gospels,
letters ...), so each community writes with its own vocabulary. Nothing is downloaded at run time;
tests build their own small corpus with :func:`build_corpus`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from habsburg.scenarios.errors import UserError

#: word tokens (letters with an optional apostrophe part), numbers, or one punctuation mark
TOKEN_RE = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+|[^\sa-z0-9]")
UNK, BOS, EOS = 0, 1, 2
SPECIALS = ("<unk>", "<s>", "</s>")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks: ``"God's Spirit."`` -> ``["god's", "spirit", "."]``."""
    return TOKEN_RE.findall(text.lower())


@dataclass
class Vocabulary:
    """Token strings <-> ids. Ids 0, 1, 2 are ``<unk>``, ``<s>``, ``</s>``; words follow by
    decreasing training frequency. Words seen fewer than ``min_count`` times map to ``<unk>``."""

    words: list[str]

    @classmethod
    def build(cls, token_lists: Sequence[Sequence[str]], min_count: int = 2) -> Vocabulary:
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counts = Counter(tok for toks in token_lists for tok in toks)
        kept = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls(list(SPECIALS) + kept)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}
        self.array = np.array(self.words, dtype=object)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        return np.fromiter(
            (self.index.get(t, UNK) for t in tokens), dtype=np.int32, count=len(tokens)
        )

    def decode(self, ids: np.ndarray) -> str:
        """Token ids as readable text (``<s>``/``</s>`` dropped, no space before punctuation)."""
        ids = np.asarray(ids)
        words = self.array[ids[(ids != BOS) & (ids != EOS)]] if ids.size else []
        return re.sub(r" ([.,;:!?)])", r"\1", " ".join(words))


@dataclass
class Corpus:
    """Documents as a flat token array with offsets, each with a community and a held-out flag."""

    vocab: Vocabulary
    tokens: np.ndarray  # int32, all documents concatenated
    offsets: np.ndarray  # int64, len = n_docs + 1
    community: np.ndarray  # int16 per document
    community_names: list[str]
    heldout: np.ndarray  # bool per document

    @property
    def n_docs(self) -> int:
        return self.offsets.size - 1

    def document(self, i: int | np.integer) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def documents(self, mask: np.ndarray | None = None) -> list[np.ndarray]:
        idx = np.arange(self.n_docs) if mask is None else np.flatnonzero(mask)
        return [self.document(i) for i in idx]

    def train_documents(self) -> list[np.ndarray]:
        return self.documents(~self.heldout)

    def heldout_documents(self) -> list[np.ndarray]:
        return self.documents(self.heldout)


def build_corpus(
    texts: Sequence[str],
    communities: Sequence[int],
    *,
    community_names: Sequence[str] | None = None,
    min_count: int = 2,
    heldout_fraction: float = 0.1,
    rng: np.random.Generator | None = None,
    max_doc_tokens: int | None = None,
) -> Corpus:
    """Tokenise ``texts`` (one per document), build the vocabulary on the training part only, and
    hold out ``heldout_fraction`` of each community's documents (at least one when it has two).

    ``max_doc_tokens`` splits long documents into consecutive passages of at most that length.
    """
    if len(texts) != len(communities):
        raise ValueError(f"{len(texts)} texts but {len(communities)} community labels")
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    rng = rng or np.random.default_rng(0)
    token_lists, comm = [], []
    for text, c in zip(texts, communities, strict=True):
        toks = tokenize(text)
        step = max_doc_tokens or max(len(toks), 1)
        for start in range(0, len(toks), step):
            if len(toks[start : start + step]) >= 2:
                token_lists.append(toks[start : start + step])
                comm.append(int(c))
    comm_arr = np.asarray(comm, dtype=np.int16)
    heldout = np.zeros(comm_arr.size, dtype=bool)
    for c in np.unique(comm_arr):
        members = rng.permutation(np.flatnonzero(comm_arr == c))
        k = round(heldout_fraction * members.size)
        if heldout_fraction > 0 and members.size >= 2:
            k = max(k, 1)
        heldout[members[:k]] = True
    vocab = Vocabulary.build(
        [t for t, h in zip(token_lists, heldout, strict=True) if not h], min_count
    )
    encoded = [vocab.encode(t) for t in token_lists]
    lengths = np.array([e.size for e in encoded], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    n_comm = int(comm_arr.max()) + 1 if comm_arr.size else 0
    names = list(community_names) if community_names else [f"community {i}" for i in range(n_comm)]
    tokens = np.concatenate(encoded) if encoded else np.zeros(0, np.int32)
    return Corpus(vocab, tokens.astype(np.int32), offsets, comm_arr, names, heldout)


def passages(
    docs: list[np.ndarray], n: int, length: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """``n`` random windows of ``length`` tokens from ``docs`` (documents weighted by length)."""
    if n == 0 or not docs:
        return []
    lengths = np.array([d.size for d in docs], dtype=np.float64)
    pick = rng.choice(len(docs), size=n, p=lengths / lengths.sum())
    starts = rng.integers(0, np.maximum(lengths[pick] - length, 0) + 1)
    return [docs[i][s : s + length] for i, s in zip(pick, starts, strict=True)]


#: what :func:`load_installed_corpus` loads, as a results manifest and a report name it
INSTALLED_CORPUS = "the New Heart English Bible (public domain; pythonbible-nheb, the text extra)"

#: the Bible's books (1..66) grouped into genre communities (first book number of each group)
GENRES = {
    "law": range(1, 6),
    "history": range(6, 18),
    "wisdom and poetry": range(18, 23),
    "major prophets": range(23, 28),
    "minor prophets": range(28, 40),
    "gospels and acts": range(40, 45),
    "letters": range(45, 66),
    "apocalypse": range(66, 67),
}


def load_installed_corpus(
    *,
    min_count: int = 3,
    heldout_fraction: float = 0.1,
    max_doc_tokens: int | None = 400,
    max_tokens: int | None = None,
    seed: int = 0,
) -> Corpus:
    """The installed public-domain corpus (New Heart English Bible, ``pip install -e ".[text]"``).

    Documents are chapters (split into passages of ``max_doc_tokens``); ``max_tokens`` keeps an
    evenly spread subset of chapters so small runs stay small.
    """
    try:
        from pythonbible_nheb.plain_text_readers_bible import bible
    except ImportError as exc:
        raise UserError(
            "text mode needs the installed corpus: pip install -e '.[text]' "
            "(it brings pythonbible-nheb, the public-domain New Heart English Bible)"
        ) from exc
    content = bible.scripture_content
    starts = bible.verse_start_indices
    ends = bible.verse_end_indices
    chapters: dict[int, list[str]] = {}
    for verse_id in sorted(starts):
        chapters.setdefault(verse_id // 1000, []).append(content[starts[verse_id] : ends[verse_id]])
    keys = sorted(chapters)
    texts = [" ".join(chapters[k]) for k in keys]
    book_genre = {b: g for g, (_, books) in enumerate(GENRES.items()) for b in books}
    comms = [book_genre[k // 1000] for k in keys]
    if max_tokens is not None:
        sizes = np.array([len(t.split()) for t in texts])
        keep_every = max(1, int(np.ceil(sizes.sum() / max_tokens)))
        idx = np.arange(0, len(texts), keep_every)
        texts = [texts[i] for i in idx]
        comms = [comms[i] for i in idx]
    return build_corpus(
        texts,
        comms,
        community_names=list(GENRES),
        min_count=min_count,
        heldout_fraction=heldout_fraction,
        rng=np.random.default_rng(seed),
        max_doc_tokens=max_doc_tokens,
    )
