"""Reading a results directory: tables on demand, a named error for a missing or damaged file."""

from __future__ import annotations

import itertools
import shutil

import pandas as pd
import pytest
from checksums import assert_checksummed, chunk_ends, flip_bit
from tinyscenario import tiny_scenario

from habsburg.analysis.results import COUNTERFACTUAL_TABLE, Run
from habsburg.experiments.files import footer_digest
from habsburg.experiments.results_check import check_results_dir
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


def test_every_table_a_run_writes_carries_page_checksums(run_copy):
    """Each page of every table (the store's two streamed tables, the small ones, the report's)
    has a CRC32 checksum, so damage inside its values is found when it is read."""
    files = sorted(run_copy.glob("*.parquet"))
    assert {"documents.parquet", "error_claims.parquet", "model_metrics.parquet"} <= {
        f.name for f in files
    }
    assert sum(assert_checksummed(f) for f in files) > 100  # column chunks checked


def test_a_bit_flipped_in_a_tables_values_is_a_named_error_not_another_number(run_copy, capsys):
    """One bit flipped inside a page's values was read as another number, without an error,
    when pages had no checksums (23 of 300 random flips of a small table's data, 2026-12-07);
    now every read of a run's tables names the file, and `habsburg report` exits 2."""
    from habsburg.cli import main

    file = Run(run_copy).path("model_metrics")
    expected = Run(run_copy).table("model_metrics")
    offsets = dict(chunk_ends(file))
    before = flip_bit(file, offsets["mean_fact_accuracy"])
    damaged = r"model_metrics\.parquet: damaged table \(.*CRC checksum verification failed"
    with pytest.raises(ResultsDirError, match=damaged):
        Run(run_copy).table("model_metrics")
    with pytest.raises(ResultsDirError, match=damaged):
        Run(run_copy).table("model_metrics", steps=(0, 3))
    assert main(["report", str(run_copy), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "model_metrics.parquet: damaged table" in err and "Traceback" not in err
    file.write_bytes(before)
    # the documents, read a row group at a time for the rows a report samples
    documents = Run(run_copy).path("documents")
    ids = Run(run_copy).table("documents", ["id"])["id"].to_numpy()[:5]
    flip_bit(documents, dict(chunk_ends(documents))["id"])
    with pytest.raises(ResultsDirError, match=r"documents\.parquet: damaged table .*CRC"):
        Run(run_copy).rows("documents", "id", ids, ["model"])
    # a table written without checksums (before 2026-12-07) is read as it was
    expected.to_parquet(file, index=False)
    pd.testing.assert_frame_equal(Run(run_copy).table("model_metrics"), expected)


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
    # recorded like the run's own tables (its columns and footer), as last written
    name = f"{COUNTERFACTUAL_TABLE}.parquet"
    manifest = check_results_dir(run_copy)
    assert manifest["columns"][name] == ["outcome", "effect"]
    assert manifest["footers"][name] == footer_digest(run_copy / name)
    first = run_copy / "first.parquet"
    pd.DataFrame({"outcome": ["x"], "effect": [1.0]}).to_parquet(first, index=False)
    first.replace(run_copy / name)  # (the first one back: its columns, not its footer)
    with pytest.raises(ResultsDirError, match=rf"{name}: not the table that was written there"):
        check_results_dir(run_copy)
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


def test_rows_are_read_by_key_a_row_group_at_a_time(tmp_path, monkeypatch):
    """``Run.rows`` gives the rows a filter on the whole table gives (file order, the columns
    asked for, dtypes kept), reading one row group at a time; bad uses are named errors."""
    import numpy as np
    import pyarrow.parquet as pq

    from habsburg.experiments.run import run_scenario
    from habsburg.model import export

    monkeypatch.setattr(export, "ROW_GROUP", 400)  # many row groups
    run_scenario(tiny_scenario(), out=tmp_path / "run")
    run = Run(tmp_path / "run")
    whole = run.table("documents")
    assert pq.ParquetFile(run.path("documents")).metadata.num_row_groups > 5
    rng = np.random.default_rng(3)
    # repeats, unsorted, ids past the last document: each row at most once, in the file's order
    wanted = np.concatenate([rng.choice(whole["id"], 50), [10**9, 10**9]])
    for columns in (["id", "model"], ["kind", "step"], None):
        got = run.rows("documents", "id", wanted, columns)
        expect = whole.loc[whole["id"].isin(wanted), columns or list(whole.columns)]
        pd.testing.assert_frame_equal(got, expect.reset_index(drop=True))
    none = run.rows("documents", "id", [], ["id", "kind"])
    assert none.empty and list(none.columns) == ["id", "kind"]
    assert [str(t) for t in none.dtypes] == [str(t) for t in whole[["id", "kind"]].dtypes]
    reads: list[int] = []
    read_row_group = pq.ParquetFile.read_row_group

    def counted(self, i, **kwargs):
        reads.append(i)
        return read_row_group(self, i, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counted)
    run.rows("documents", "id", wanted[:5], ["model"])
    assert reads == sorted(set(reads))  # one group at a time, each once
    with pytest.raises(ResultsDirError, match=r"documents\.parquet: the table has no nope column"):
        run.rows("documents", "nope", [1])
    with pytest.raises(ResultsDirError, match=r"documents\.parquet: damaged table"):
        run.rows("documents", "id", [1], ["no_such_column"])
    (tmp_path / "run" / "errors.parquet").write_bytes(b"not parquet")
    with pytest.raises(ResultsDirError, match=r"errors\.parquet: damaged table"):
        run.rows("errors", "error_id", [1])
    with pytest.raises(ResultsDirError, match=r"nothing\.parquet is missing"):
        run.rows("nothing", "id", [1])


def test_z_samples_are_labelled_from_the_sampled_documents_alone(tiny_run_dir):
    import numpy as np

    from habsburg.analysis.run_analysis import labelled_z_samples

    run = Run(tiny_run_dir)
    z = labelled_z_samples(run)
    # the reference: every document's model, looked up in the whole table
    docs = run.table("documents", ["id", "model"])
    model = np.full(int(docs["id"].max()) + 1, -1)
    model[docs["id"]] = docs["model"]
    marked = np.isin(model[z["document"]], run.watermarking_models())
    assert 0 < marked.sum() < len(z)
    assert (z["source"] == "watermarking labs").tolist() == marked.tolist()
