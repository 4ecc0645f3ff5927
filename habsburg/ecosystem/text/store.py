"""The text-mode document store: token ids in one flat array with offsets, provenance per token.

Columns per document: generation, producer kind (human / model), producer id (community or model
index), watermarked flag, and the derived ``synthetic_fraction`` (share of tokens a model wrote).
Each token carries its author: ``HUMAN`` (-1) or the index of the model that wrote it, so a
document a human edited after a model (or a model paraphrased) keeps exact provenance.
Concepts are derived from the text where analyses need them: the content-word types of a
document (every word but the most frequent function words), as a sparse document × word matrix.
Arrays grow by doubling; there are no per-document Python objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    import numpy.typing as npt

HUMAN = -1
KIND_HUMAN, KIND_MODEL = 0, 1


class _Grow:
    def __init__(self, dtype: npt.DTypeLike, width: int | None = None) -> None:
        shape = (64,) if width is None else (64, width)
        self.data = np.zeros(shape, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        k = len(values)
        while self.n + k > self.data.shape[0]:
            self.data = np.concatenate([self.data, np.zeros_like(self.data)])
        self.data[self.n : self.n + k] = values
        self.n += k

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.n]


class TokenStore:
    """All published documents of a text-mode run."""

    def __init__(self) -> None:
        self._tokens = _Grow(np.int32)
        self._author = _Grow(np.int16)
        self._ends = _Grow(np.int64)
        self._generation = _Grow(np.int32)
        self._kind = _Grow(np.int8)
        self._producer = _Grow(np.int32)
        self._watermarked = _Grow(bool)

    def __len__(self) -> int:
        return self._ends.n

    def publish(
        self,
        docs: np.ndarray | list[np.ndarray],
        *,
        generation: int,
        kind: int,
        producer: int,
        author: np.ndarray | int,
        watermarked: bool = False,
    ) -> np.ndarray:
        """Append documents (a 2-D array or a list of token arrays); returns their ids.

        ``author`` is per token (same shape as the flattened documents) or one value."""
        if isinstance(docs, np.ndarray) and docs.ndim == 2:
            lengths = np.full(docs.shape[0], docs.shape[1], dtype=np.int64)
            flat = docs.ravel()
        else:
            lengths = np.array([len(d) for d in docs], dtype=np.int64)
            flat = np.concatenate(docs) if len(docs) else np.zeros(0, np.int32)
        first = len(self)
        start = self._tokens.n
        self._tokens.extend(flat.astype(np.int32))
        authors = np.asarray(author, dtype=np.int16)
        self._author.extend(
            np.broadcast_to(authors.ravel() if authors.ndim else authors, flat.shape)
        )
        self._ends.extend(start + np.cumsum(lengths))
        n = lengths.size
        self._generation.extend(np.full(n, generation, np.int32))
        self._kind.extend(np.full(n, kind, np.int8))
        self._producer.extend(np.full(n, producer, np.int32))
        self._watermarked.extend(np.full(n, watermarked, bool))
        return np.arange(first, first + n)

    # ------------------------------------------------------------------ columns
    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], self._ends.view])

    @property
    def tokens(self) -> np.ndarray:
        return self._tokens.view

    @property
    def author(self) -> np.ndarray:
        return self._author.view

    @property
    def generation(self) -> np.ndarray:
        return self._generation.view

    @property
    def kind(self) -> np.ndarray:
        return self._kind.view

    @property
    def producer(self) -> np.ndarray:
        return self._producer.view

    @property
    def watermarked(self) -> np.ndarray:
        return self._watermarked.view

    def synthetic_fraction(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Share of each document's tokens written by a model (ground-truth provenance)."""
        off = self.offsets
        doc = np.repeat(np.arange(len(self)), np.diff(off))
        synth = np.bincount(doc, weights=self.author != HUMAN, minlength=len(self))
        frac = synth / np.maximum(np.diff(off), 1)
        return frac if ids is None else frac[ids]

    def select(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flat tokens, offsets) of the documents ``ids`` in that order."""
        off = self.offsets
        ids = np.asarray(ids, dtype=np.int64)
        lengths = off[ids + 1] - off[ids]
        starts = np.repeat(off[ids], lengths)
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return self.tokens[starts + within].astype(np.int64), np.concatenate(
            [[0], np.cumsum(lengths)]
        )

    def documents(self, ids: np.ndarray) -> list[np.ndarray]:
        tokens, off = self.select(ids)
        return [tokens[off[i] : off[i + 1]] for i in range(off.size - 1)]

    def concept_matrix(self, vocab_size: int, n_function_words: int = 60) -> sp.csr_matrix:
        """Documents × content-word types (counts): the concept view of the text. Ids below
        ``3 + n_function_words`` (specials and the most frequent words, which are function words
        and punctuation in any English corpus) are left out."""
        off = self.offsets
        doc = np.repeat(np.arange(len(self)), np.diff(off))
        keep = self.tokens >= 3 + n_function_words
        m = sp.csr_matrix(
            (np.ones(int(keep.sum())), (doc[keep], self.tokens[keep])),
            shape=(len(self), vocab_size),
        )
        m.sum_duplicates()
        return m
