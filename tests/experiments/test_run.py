import gc
import json
import weakref

import pandas as pd
import pytest
from resultdirs import assert_same_tables
from tinyscenario import tiny_scenario

from habsburg.cli import main
from habsburg.experiments import run as run_module
from habsburg.experiments.run import run_scenario, summary_table
from habsburg.experiments.versions import COMMIT, MODEL_CODE, model_code, source_commit

EXPECTED = {
    "model_metrics",
    "models",
    "scrapers",
    "lineage",
    "training_sources",
    "errors",
    "adoptions",
    "error_claims",
    "crawls",
    "z_samples",
    "documents",
    "sites",
}


def test_run_writes_parquet_tables_and_a_manifest(tmp_path):
    out = tmp_path / "run"
    result = run_scenario(tiny_scenario(), out=out, seed=3)
    files = {p.stem for p in out.glob("*.parquet")}
    assert EXPECTED <= files
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["scenario"]["name"] == "tiny"
    assert manifest["versions"]["mesa"] and manifest["steps"] == 48
    # the code of the model that made it (a checkout's commits share one version string)
    assert manifest["versions"][MODEL_CODE] == model_code()
    assert manifest["versions"].get(COMMIT) == source_commit()
    metrics = pd.read_parquet(out / "model_metrics.parquet")
    assert len(metrics) == 48 and metrics["month"].iloc[-1] == "2023-12"
    pd.testing.assert_frame_equal(metrics, result.tables["model_metrics"])


def test_a_failing_run_leaves_earlier_results_untouched(tmp_path, monkeypatch):
    out = tmp_path / "run"
    run_scenario(tiny_scenario(), out=out, steps=5)
    before = (out / "manifest.json").read_text()

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("habsburg.experiments.run.write_tables", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        run_scenario(tiny_scenario(), out=out, steps=6)
    assert (out / "manifest.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary leftovers


@pytest.mark.parametrize("checkpoint_every", [None, 2])
def test_a_run_that_fails_before_writing_leaves_no_output_directory(
    tmp_path, monkeypatch, checkpoint_every
):
    """``--out`` is checked before the run but made only when the first checkpoint or the
    results are written: a model that fails to build (or a run stopped before its first
    checkpoint) left an empty directory behind."""

    def fail_to_build(*args, **kwargs):
        raise RuntimeError("cannot build")

    monkeypatch.setattr(run_module, "simulate", fail_to_build)
    out = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError, match="cannot build"):
        run_scenario(tiny_scenario(), out=out, steps=3, checkpoint_every=checkpoint_every)
    assert list(tmp_path.iterdir()) == []


def test_a_checkpointed_run_into_a_new_path_makes_it_to_checkpoint(tmp_path):
    """The first checkpoint (month 1) is written into the ``--out`` nobody made yet: its writer
    makes it, so the run goes on to write its results there."""
    out = tmp_path / "new" / "run"
    run_scenario(tiny_scenario(), out=out, steps=3, checkpoint_every=1)
    assert (out / "manifest.json").is_file()


def test_cli_run_prints_a_summary(tmp_path, capsys):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(
        'name = "mini"\nstart = "2020-01"\nend = "2020-06"\nchatbot_launch = "2020-03"\n'
        "[world]\nconcepts = 100\nfacts = 20\n[humans]\nauthors = 30\n[web]\nsites = 20\n"
        '[[labs]]\nname = "l"\n[[models]]\nname = "m"\nlab = "l"\nlaunch = "2020-03"\n'
        '[[scrapers]]\nname = "s"\n'
    )
    assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "mini: 6 months" in out and "capability" in out
    assert (tmp_path / "out" / "models.parquet").exists()


def test_keep_model_false_lets_the_model_go_before_the_report(tmp_path, monkeypatch):
    """``habsburg run`` (``keep_model=False``): the report (``finish``) runs with the run's
    model gone, and the run's tables and summary are those of a run that keeps its model."""
    kept = run_scenario(tiny_scenario(), out=tmp_path / "kept", seed=3, steps=20)
    assert kept.model is not None
    assert kept.summary == summary_table(kept.model)

    simulated, original = [], run_module.simulate

    def simulate(*args, **kwargs):
        model = original(*args, **kwargs)
        simulated.append(weakref.ref(model))
        return model

    monkeypatch.setattr(run_module, "simulate", simulate)
    seen = []

    def finish(tmp):
        gc.collect()
        seen.append(([ref() is None for ref in simulated], tmp.joinpath("models.parquet").exists()))

    let_go = run_scenario(
        tiny_scenario(), out=tmp_path / "let_go", seed=3, steps=20, finish=finish, keep_model=False
    )
    # the report had the results to read, and this run's model was gone
    assert seen == [([True], True)]
    assert let_go.model is None
    assert let_go.summary == kept.summary and "tiny: 20 months" in let_go.summary
    assert_same_tables(tmp_path / "kept", tmp_path / "let_go")
    for name, table in kept.tables.items():
        pd.testing.assert_frame_equal(let_go.tables[name], table)


def test_keep_model_false_without_an_output_directory(tmp_path):
    result = run_scenario(tiny_scenario(), seed=3, steps=6, keep_model=False)
    assert result.model is None and "model_metrics" in result.tables and result.summary


def test_the_summary_shows_how_much_of_its_budget_each_latest_set_filled(tmp_path):
    result = run_scenario(tiny_scenario(), out=tmp_path / "run", seed=3)
    lineage = pd.read_parquet(tmp_path / "run" / "lineage.parquet")
    latest = lineage.sort_values("step").groupby("model").last()
    lines = result.summary.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["model", "gen"])
    assert lines[header].split()[-1] == "data"
    rows = {line.split()[0]: line.split() for line in lines[header + 1 : -1]}
    assert sorted(rows) == sorted(latest.index)
    for model, row in latest.iterrows():
        assert row["budget"] > 0
        assert rows[model][-1] == f"{row['documents'] / row['budget']:.0%}"
    assert rows["c"][-1] != "100%"  # (its crawls since the last retrain hold too little)
