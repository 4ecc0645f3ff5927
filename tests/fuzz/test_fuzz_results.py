"""Property-based test of a results directory's manifest (a file users can open and edit): a
run's ``manifest.json`` mutated as the scenario files are (``fuzzing.mutate``), the whole of it or
the scenario it records, is either read and analysed or refused with a
:class:`~habsburg.scenarios.errors.HabsburgError` naming the manifest -- never another exception
(``"scenario": 5`` and ``"versions": []`` were internal errors of ``habsburg report``)."""

from __future__ import annotations

import json
import shutil

import pytest
from fuzzing import COMMON, EXAMPLES, MUTATION, hang_guard, mutate
from hypothesis import given, settings
from hypothesis import strategies as st
from tinyscenario import tiny_scenario

from habsburg.analysis.results import Run
from habsburg.analysis.run_analysis import analyse
from habsburg.experiments.run import run_scenario
from habsburg.scenarios.errors import HabsburgError


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    run_scenario(tiny_scenario(), out=out)
    return out


@settings(max_examples=max(20, EXAMPLES // 4), **COMMON)  # (an example analyses a run: ~0.4 s)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3), scenario_only=st.booleans())
def test_an_edited_manifest_is_read_or_refused_clearly(
    tiny_run, tmp_path_factory, mutations, scenario_only
):
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    if scenario_only:
        scenario, _ = mutate(manifest["scenario"], mutations)
        data = {**manifest, "scenario": scenario}
    else:
        data, _ = mutate(manifest, mutations)
    try:
        text = json.dumps(data)
    except ValueError:  # (a circular value cannot be a file)
        return
    run = shutil.copytree(tiny_run, tmp_path_factory.mktemp("edited") / "tiny")
    (run / "manifest.json").write_text(text)
    with hang_guard():
        try:
            analyse(Run(run))
        except HabsburgError as err:
            assert str(run / "manifest.json") in str(err) or str(run) in str(err), str(err)
