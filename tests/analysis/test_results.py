"""Reading a results directory: tables on demand, a named error for a missing or damaged file."""

from __future__ import annotations

import itertools
import shutil

import pandas as pd
import pytest
from tinyscenario import tiny_scenario

from habsburg.analysis.results import COUNTERFACTUAL_TABLE, Run
from habsburg.scenarios.errors import ResultsDirError, UserError


@pytest.fixture
def run_copy(tiny_run_dir, tmp_path):
    shutil.copytree(tiny_run_dir, tmp_path / "run")
    return tmp_path / "run"


def test_run_reads_the_manifest_and_tables(tiny_run_dir):
    run = Run(tiny_run_dir)
    assert run.name == "tiny" and run.seed == 7
    assert run.scenario_config().name == "tiny"
    mm = run.table("model_metrics")
    assert len(mm) == run.steps
    assert run.table("model_metrics") is mm  # read once
    assert list(run.table("documents", ["id", "model"]).columns) == ["id", "model"]
    assert run.watermarking_models() == [0]  # model a's lab "north" watermarks
    assert run.z_threshold == 4.0 and run.ai_threshold == 0.5


def test_a_missing_or_damaged_table_is_a_named_error(run_copy):
    run = Run(run_copy)
    (run_copy / "crawls.parquet").unlink()
    with pytest.raises(UserError, match=r"crawls\.parquet is missing"):
        run.table("crawls")
    (run_copy / "errors.parquet").write_bytes(b"not parquet")
    with pytest.raises(ResultsDirError, match=r"errors\.parquet: damaged table"):
        run.table("errors")
    with pytest.raises(ResultsDirError, match=r"documents\.parquet: damaged table"):
        run.table("documents", ["no_such_column"])


def test_a_manifest_that_is_not_an_object_is_a_named_error(run_copy):
    (run_copy / "manifest.json").write_text("[1, 2]")
    with pytest.raises(UserError, match=r"manifest\.json: cannot read the manifest"):
        Run(run_copy)


def test_written_tables_replace_what_was_read(run_copy):
    run = Run(run_copy)
    assert not run.has(COUNTERFACTUAL_TABLE)
    run.write_table(COUNTERFACTUAL_TABLE, pd.DataFrame({"outcome": ["x"], "effect": [1.0]}))
    assert run.table(COUNTERFACTUAL_TABLE)["effect"].tolist() == [1.0]
    run.write_table(COUNTERFACTUAL_TABLE, pd.DataFrame({"outcome": ["x"], "effect": [2.0]}))
    assert run.table(COUNTERFACTUAL_TABLE)["effect"].tolist() == [2.0]
    assert not list(run_copy.glob(".*tmp*"))  # the atomic writer leaves no temporary file


def test_documents_row_groups_follow_months_and_are_read_by_month(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from habsburg.experiments.run import run_scenario
    from habsburg.model import export

    monkeypatch.setattr(export, "ROW_GROUP", 400)  # small groups: the tiny run's months are small
    run_scenario(tiny_scenario(), out=tmp_path / "run")
    run = Run(tmp_path / "run")
    whole = run.table("documents")
    meta = pq.ParquetFile(run.path("documents")).metadata
    step = meta.schema.to_arrow_schema().get_field_index("step")
    stats = [meta.row_group(i).column(step).statistics for i in range(meta.num_row_groups)]
    assert meta.num_row_groups > 5
    sizes = whole.groupby("step").size()
    for a, b in itertools.pairwise(stats):
        assert a.max <= b.min  # in month order
        if a.max == b.min:  # a month in two groups only when it is bigger than a group
            assert sizes[a.max] > 400

    months = run.steps
    assert months is not None
    for first, last in [(0, 0), (3, 9), (months - 1, months + 5)]:
        part = run.table("documents", ["id", "step", "kind"], steps=(first, last))
        expect = whole.loc[whole["step"].between(first, last), ["id", "step", "kind"]]
        pd.testing.assert_frame_equal(part, expect.reset_index(drop=True))
        touched = [s for s in stats if s.max >= first and s.min <= last]
        assert len(touched) < len(stats)  # the other groups are skipped
    with pytest.raises(ResultsDirError, match=r"documents\.parquet: steps=\(5, 2\)"):
        run.table("documents", steps=(5, 2))
    with pytest.raises(ResultsDirError, match=r"sites\.parquet: the table has no step column"):
        run.table("sites", steps=(0, 3))
