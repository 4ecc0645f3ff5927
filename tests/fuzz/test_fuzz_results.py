"""Property-based test of a results directory's manifest (a file users can open and edit): a
run's ``manifest.json`` mutated as the scenario files are (``fuzzing.mutate``), the whole of it or
the scenario it records, is either read and analysed or refused with a
:class:`~habsburg.scenarios.errors.HabsburgError` naming the manifest -- never another exception
(``"scenario": 5`` and ``"versions": []`` were internal errors of ``habsburg report``); a
sweep's ``sweep.json``, which ``habsburg verify`` reads the same way; and a text
run's, whose report is written or refused the same way (a corpus whose ``communities`` was
``true`` or whose ``documents`` was a string were internal errors of its report)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from fuzzing import COMMON, EXAMPLES, MUTATION, VALUES, hang_guard, mutate
from hypothesis import given, settings
from hypothesis import strategies as st
from smallcorpus import make_corpus
from tinyscenario import tiny_scenario

from habsburg.analysis.results import Run
from habsburg.analysis.run_analysis import analyse
from habsburg.cli.verify import summary
from habsburg.experiments.bands import PosteriorError, draw_settings, own_settings, scaled_settings
from habsburg.experiments.run import run_scenario
from habsburg.experiments.text_run import run_text_scenario
from habsburg.experiments.verify import verify_results_dir
from habsburg.reports.text_report import write_text_report
from habsburg.scenarios.errors import HabsburgError
from habsburg.scenarios.text_schema import load_text_scenario


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    run_scenario(tiny_scenario(), out=out)
    return out


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("text") / "run"
    scenario = load_text_scenario("text_closed_loop")
    scenario.generations = 2
    run_text_scenario(scenario, corpus=make_corpus(), out=out)
    return out


def edited_copy(
    run: Path, tmp_path_factory, mutations: list, part: str | None, name: str = "manifest.json"
) -> Path | None:
    """A copy of results directory ``run`` whose manifest (``name``) has ``mutations`` (in its
    ``part`` only, if given); None if the edited manifest cannot be a JSON file."""
    manifest = json.loads((run / name).read_text())
    if part is not None:  # (wrapped: a list such as a sweep's runs has paths only inside a table)
        edited, _ = mutate({part: manifest[part]}, mutations)
        data = {k: v for k, v in manifest.items() if k != part} | edited
    else:
        data, _ = mutate(manifest, mutations)
    try:
        text = json.dumps(data)
    except ValueError:  # (a circular value cannot be a file)
        return None
    copy = shutil.copytree(run, tmp_path_factory.mktemp("edited") / run.name)
    (copy / name).write_text(text)
    return copy


def read_or_refuse_clearly(run: Path, read: Callable[[Path], object]) -> None:
    """``read(run)`` ends or raises a HabsburgError naming the manifest (or the directory)."""
    with hang_guard():
        try:
            read(run)
        except HabsburgError as err:
            assert str(run / "manifest.json") in str(err) or str(run) in str(err), str(err)


@settings(max_examples=max(20, EXAMPLES // 4), **COMMON)  # (an example analyses a run: ~0.4 s)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3), scenario_only=st.booleans())
def test_an_edited_manifest_is_read_or_refused_clearly(
    tiny_run, tmp_path_factory, mutations, scenario_only
):
    run = edited_copy(tiny_run, tmp_path_factory, mutations, "scenario" if scenario_only else None)
    if run is not None:
        read_or_refuse_clearly(run, lambda d: analyse(Run(d)))
        # `habsburg verify` reads what the manifest says of the directory's files and origin
        read_or_refuse_clearly(run, lambda d: summary(verify_results_dir(d)))


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    """A finished sweep of two points of the tiny scenario (its tables and results.csv)."""
    from habsburg.cli import main

    root = tmp_path_factory.mktemp("sweep")
    scenario = Path(__file__).resolve().parents[1] / "experiments" / "data" / "sweep_tiny.toml"
    spec = root / "spec.toml"
    spec.write_text(
        f'name = "tiny"\nscenario = "{scenario.as_posix()}"\nseeds = 1\nsteps = 2\n'
        '[[parameters]]\npath = "watermark.adoption"\nvalues = [0.0, 0.5]\n'
    )
    assert main(["sweep", str(spec), "--serial", "--out", str(root / "sweep"), "--quiet"]) == 0
    return root / "sweep"


@settings(max_examples=max(20, EXAMPLES // 4), **COMMON)  # (an example verifies a sweep: ~30 ms)
@given(
    mutations=st.lists(MUTATION, min_size=1, max_size=3),
    part=st.sampled_from([None, "runs", "digests", "last_session"]),
)
def test_an_edited_sweep_manifest_is_verified_or_refused_clearly(
    tiny_sweep, tmp_path_factory, mutations, part
):
    """`habsburg verify` of a sweep whose sweep.json was edited (the whole of it, or only its
    runs, its digests or its last session): verified, or a HabsburgError naming the directory;
    never another error (a run id edited into a list was an internal error)."""
    sweep = edited_copy(tiny_sweep, tmp_path_factory, mutations, part, "sweep.json")
    if sweep is not None:
        read_or_refuse_clearly(sweep, lambda d: summary(verify_results_dir(d)))


@settings(max_examples=max(10, EXAMPLES // 4), **COMMON)  # (an example draws 3 figures: ~0.6 s)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3), corpus_only=st.booleans())
def test_an_edited_text_manifest_is_reported_or_refused_clearly(
    text_run, tmp_path_factory, mutations, corpus_only
):
    run = edited_copy(text_run, tmp_path_factory, mutations, "corpus" if corpus_only else None)
    if run is not None:
        read_or_refuse_clearly(run, write_text_report)


#: a calibration directory's records ``--posterior`` reads beside its posterior (as
#: `habsburg calibrate` writes them, for the settings of tests/experiments/test_bands.py)
POSTERIOR = pd.DataFrame(
    {
        "demand.adoption.ceiling": [200.0, 600.0, 1200.0],
        "web.attachment": [1.2, 2.0, 2.9],
        "weight": [0.25, 0.5, 0.25],
    }
)
CALIBRATION_MANIFEST = {
    "written_by": "habsburg",
    "command": "calibrate",
    "calibrated_from": {"demand.adoption.ceiling": 600.0, "web.attachment": 2},
}
SUMMARY = {"parameter": list(POSTERIOR.columns[:2]), "mean": [650.0, 2.0], "median": [600.0, 2.0]}


@settings(max_examples=EXAMPLES * 2, **COMMON)  # (an example reads three small files: ~20 ms)
@given(
    mutations=st.lists(MUTATION, min_size=1, max_size=3),
    summary=st.lists(st.tuples(st.sampled_from(list(SUMMARY)), st.integers(0, 2), VALUES)),
)
def test_an_edited_calibration_directory_gives_draws_or_a_clear_error(
    tmp_path_factory, mutations, summary
):
    """``--posterior``'s reading of a calibration directory whose manifest and summary were
    edited: draws for the scenario, or a PosteriorError naming the directory (a median that was
    not a number, a parameter named twice, a string where the fit started were internal
    errors)."""
    directory = tmp_path_factory.mktemp("calibration")
    POSTERIOR.to_parquet(directory / "posterior.parquet", index=False)
    manifest, _ = mutate(CALIBRATION_MANIFEST, mutations)
    try:
        (directory / "manifest.json").write_text(json.dumps(manifest))
    except ValueError:  # (a circular value cannot be a file)
        return
    table = {k: list(v) for k, v in SUMMARY.items()}
    for column, row, value in summary:  # (a row past the end adds one: a parameter twice)
        if row >= len(table[column]):
            for k in table:
                table[k].append(table[k][-1])
        table[column][min(row, len(table[column]) - 1)] = value
    pd.DataFrame(table).to_csv(directory / "posterior_summary.csv", index=False)
    scenario = tiny_scenario()
    with hang_guard():
        try:
            draw_settings(directory, scenario, 3, seed=1)
            own_settings(directory, scenario)
            scaled_settings(directory, scenario)
        except PosteriorError as err:
            assert f"--posterior {directory}" in str(err), str(err)
