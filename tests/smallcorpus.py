"""A small corpus the text tests build themselves, quick and independent of the installed one
(``test_installed_corpus`` checks that). A plain module, not conftest (as ``tinyscenario``): the
viz tests build one too."""

from __future__ import annotations

import numpy as np

from habsburg.ecosystem.text.corpus import Corpus, build_corpus

SUBJECTS = [
    "the farmer",
    "a child",
    "the old king",
    "my sister",
    "the sailor",
    "a stranger",
    "the priest",
    "the merchant",
    "her brother",
    "the soldier",
    "a widow",
    "the baker",
]
VERBS = [
    "saw",
    "carried",
    "found",
    "lost",
    "sold",
    "gave",
    "praised",
    "feared",
    "built",
    "burned",
    "remembered",
    "followed",
    "hid",
    "washed",
]
OBJECTS = [
    "the river",
    "a lamp",
    "the bread",
    "the gate",
    "an ox",
    "the silver",
    "a song",
    "the field",
    "the city",
    "a letter",
    "the boat",
    "the vineyard",
    "the tower",
    "a coat",
    "the well",
    "a ring",
]
ENDINGS = [
    ".",
    " at dawn.",
    " in the rain.",
    " with great care.",
    ", and wept.",
    " before the feast.",
    " near the hills.",
    " for the last time.",
    ", and laughed.",
]


def synthetic_text(rng: np.random.Generator, community: int, n_sentences: int) -> str:
    """Sentences from a small grammar; each community prefers its own subjects (Zipf tilt)."""

    def pick(items, tilt):
        w = 1.0 / (1.0 + np.arange(len(items))) ** 1.1
        w = np.roll(w, tilt)
        return items[rng.choice(len(items), p=w / w.sum())]

    return " ".join(
        f"{pick(SUBJECTS, 3 * community)} {pick(VERBS, community)} {pick(OBJECTS, 2 * community)}"
        f"{pick(ENDINGS, 0)}"
        for _ in range(n_sentences)
    )


def make_corpus(seed: int = 0, n_docs: int = 120, n_sentences: int = 12) -> Corpus:
    rng = np.random.default_rng(seed)
    comms = [i % 4 for i in range(n_docs)]
    texts = [synthetic_text(rng, c, n_sentences) for c in comms]
    return build_corpus(texts, comms, min_count=2, heldout_fraction=0.15, rng=rng)


#: a small text scenario the text tests run on this corpus (``LOOP.format(name=..., policy=...)``):
#: one model retraining on its own output for four generations, no human writing
LOOP = """
mode = "text"
name = "{name}"
seed = 3
generations = 4
[humans]
documents = 0
[[models]]
name = "m"
policy = "{policy}"
reservoir_fraction = 0.3
documents = 40
document_tokens = 30
[samples]
prompt = "the farmer"
continuations = 1
tokens = 5
"""
