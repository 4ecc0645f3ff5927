"""The text tests' shared corpus (built by :mod:`smallcorpus`)."""

from __future__ import annotations

import pytest
from smallcorpus import make_corpus

from habsburg.ecosystem.text.corpus import Corpus


@pytest.fixture(scope="session")
def small_corpus() -> Corpus:
    return make_corpus()
