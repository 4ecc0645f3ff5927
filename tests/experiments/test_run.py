import json

import pandas as pd
import pytest
from tinyscenario import tiny_scenario

from habsburg.cli import main
from habsburg.experiments.run import run_scenario

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
