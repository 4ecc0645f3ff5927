"""Fixtures of the ecosystem tests."""

from __future__ import annotations

import pytest
from tinyscenario import tiny_scenario

from habsburg.model.model import EcosystemModel


@pytest.fixture(scope="module")
def run():
    """The tiny scenario run to its end (one per test module: the tests read its store)."""
    model = EcosystemModel(tiny_scenario())
    for _ in range(model.config.steps):
        model.step()
    return model
