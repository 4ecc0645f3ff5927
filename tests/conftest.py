"""Shared fixtures: a tiny scenario that runs in about a second."""

from __future__ import annotations

import os

import pytest
from tinyscenario import TINY, tiny_dict, tiny_scenario  # noqa: F401  (re-exported)

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")


@pytest.fixture
def tiny():
    return tiny_scenario()


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory):
    """Results directory of the tiny scenario as ``habsburg run`` writes it (report included);
    shared by the tests that read a finished run."""
    from habsburg.experiments.run import run_scenario

    out = tmp_path_factory.mktemp("runs") / "tiny"
    run_scenario(tiny_scenario(), out=out)
    return out
