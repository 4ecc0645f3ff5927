"""``habsburg verify``: every table of a results directory read whole against its page checksums
and its recorded footer, every listed file present with its recorded digest, what made the
directory printed; damage is a failed check (exit 1) naming each file, bad input a refusal
(exit 2), and nothing is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from checksums import chunk_ends, flip_bit

from habsburg.cli import main
from habsburg.experiments.files import footer_digest
from habsburg.experiments.verify import page_checksums, verify_results_dir
from habsburg.experiments.versions import MODEL_CODE


@pytest.fixture
def run_copy(tiny_run_dir, tmp_path):
    shutil.copytree(tiny_run_dir, tmp_path / "run")
    return tmp_path / "run"


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
    }


def test_a_whole_run_is_verified_and_what_made_it_printed(run_copy, capsys):
    assert main(["report", str(run_copy), "--quiet"]) == 0  # (its files listed beside the tables)
    listed = json.loads((run_copy / "manifest.json").read_text())["files"]
    others = [f for f in listed if not f.endswith(".parquet")]
    assert "report.md" in others
    before = snapshot(run_copy)
    assert main(["verify", str(run_copy)]) == 0
    out = capsys.readouterr().out
    tables = sorted(run_copy.glob("*.parquet"))
    rows = sum(len(pd.read_parquet(t)) for t in tables)
    assert out.startswith(f"{run_copy}: habsburg run of tiny, seed 7\n")
    assert "  made by habsburg " in out and "(model code " in out
    assert f"  {len(tables)} tables, {rows:,} rows, " in out
    assert "read whole: every page checked against its checksum" in out
    assert f"  {len(tables)} footers as the manifest recorded them" in out
    assert f"  {len(others)} other files: present, each as written (its digest as recorded)" in out
    assert "this environment: the same versions" in out
    assert out.rstrip().endswith("damaged or missing: none")
    assert snapshot(run_copy) == before  # nothing written, nothing touched

    # a report edited and a figure replaced since the report wrote them: each named (exit 1)
    with (run_copy / "report.md").open("a") as report:
        report.write("\nA line of mine.\n")
    figures = sorted((run_copy / "figures").glob("*.png"))
    figures[0].write_bytes(figures[1].read_bytes())
    assert main(["verify", str(run_copy), "--quiet"]) == 1
    err = capsys.readouterr().err
    changed = "changed since habsburg wrote it (its SHA-256 is not the one the manifest recorded)"
    assert f"{run_copy / 'report.md'}: {changed}" in err
    assert f"{figures[0]}: {changed}" in err and str(figures[1]) not in err
    # the report written again: recorded as written again
    assert main(["report", str(run_copy), "--quiet"]) == 0
    assert main(["verify", str(run_copy), "--quiet"]) == 0
    # a manifest from before digests were recorded: the files present, said so
    manifest = json.loads((run_copy / "manifest.json").read_text())
    del manifest["digests"]
    (run_copy / "manifest.json").write_text(json.dumps(manifest))
    figures[0].write_bytes(b"not a figure")
    assert main(["verify", str(run_copy)]) == 0
    out = capsys.readouterr().out
    assert "other files: present (no digests recorded: written before" in out
    # a report written into it now records the digests of its own files
    assert main(["report", str(run_copy), "--quiet"]) == 0
    assert main(["verify", str(run_copy)]) == 0
    assert "other files: present, each as written (its digest" in capsys.readouterr().out


def test_damage_is_a_failed_check_naming_each_file(run_copy, capsys):
    """A bit flipped in a table's values, a listed file missing, another run's table under a
    table's name, a manifest that says its writing was interrupted: each named (exit 1); a file
    no manifest lists is named but is not damage."""
    models = run_copy / "models.parquet"
    flip_bit(models, dict(chunk_ends(models))["step"])
    (run_copy / "crawls.parquet").unlink()
    other = pd.read_parquet(run_copy / "sites.parquet").iloc[:-1]  # the same columns
    other.to_parquet(run_copy / "sites.parquet", index=False, write_page_checksum=True)
    (run_copy / "notes.txt").write_text("mine")
    (run_copy / ".checkpoint-0001").write_text("habsburg's own, listed nowhere")
    assert main(["verify", str(run_copy), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # --quiet: the problems only
    err = captured.err
    assert f"{run_copy / 'models.parquet'}: damaged (" in err and "CRC checksum" in err
    assert f"{run_copy / 'crawls.parquet'}: listed in the manifest, missing" in err
    assert f"{run_copy / 'sites.parquet'}: not the table that was written there" in err
    assert "notes.txt" not in err
    assert "3 of its" in err and "are damaged or missing" in err and "Traceback" not in err
    found = verify_results_dir(run_copy)
    assert found.unlisted == ["notes.txt"]
    assert {f.name for f in found.problems} == {"models.parquet", "crawls.parquet", "sites.parquet"}

    manifest = json.loads((run_copy / "manifest.json").read_text())
    (run_copy / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    assert "manifest.json" in {f.name for f in verify_results_dir(run_copy).problems}
    # a listed name outside the directory is not read there
    outside = ["/etc/hostname", "../run/models.parquet"]
    edited = {**manifest, "files": manifest["files"] + outside}
    (run_copy / "manifest.json").write_text(json.dumps(edited))
    problems = {f.name: f.problem for f in verify_results_dir(run_copy).problems}
    assert all(problems[n] == "listed, but not inside the directory" for n in outside)


def test_tables_from_before_page_checksums_are_read_and_said_so(run_copy, capsys):
    """A table written without page checksums (before 2026-12-07) and a manifest without
    footers (the same) are verified as far as they can be: decoded whole, and said so."""
    table = run_copy / "model_metrics.parquet"
    pd.read_parquet(table).to_parquet(table, index=False)  # (pandas' default: no checksums)
    manifest = json.loads((run_copy / "manifest.json").read_text())
    del manifest["footers"]
    (run_copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", str(run_copy)]) == 0
    out = capsys.readouterr().out
    assert "1 of them written without page checksums (before 2026-12-07" in out
    assert "footers as the manifest recorded them" not in out
    # versions: another model code, or none recorded
    versions = manifest["versions"]
    for recorded, said in (
        ({**versions, MODEL_CODE: "0" * 16}, f"differs (habsburg model code {'0' * 16} ("),
        (None, "not comparable (the manifest records no versions)"),
    ):
        (run_copy / "manifest.json").write_text(json.dumps({**manifest, "versions": recorded}))
        assert main(["verify", str(run_copy)]) == 0
        assert f"  this environment: {said}" in capsys.readouterr().out


def test_page_checksums_are_read_from_the_page_headers(tmp_path):
    frame = pd.DataFrame({"a": range(100), "b": ["x", "y"] * 50})
    frame.to_parquet(tmp_path / "with.parquet", index=False, write_page_checksum=True)
    frame.to_parquet(tmp_path / "without.parquet", index=False)
    frame.iloc[:0].to_parquet(tmp_path / "empty.parquet", index=False, write_page_checksum=True)
    assert page_checksums(tmp_path / "with.parquet") is True
    assert page_checksums(tmp_path / "without.parquet") is False
    assert page_checksums(tmp_path / "empty.parquet") is None
    assert footer_digest(tmp_path / "with.parquet") != footer_digest(tmp_path / "without.parquet")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nowhere", "results directory '{d}/nowhere' does not exist"),
        (lambda d: _file(d / "f.txt"), "'{d}/f.txt' is a file, not a results directory"),
        (lambda d: _dir(d / "e"), "'{d}/e' is not a habsburg results directory: it has none of"),
        (lambda d: _manifest(d / "m", "{"), "manifest.json: cannot read the manifest"),
        (
            lambda d: _manifest(d / "o", '{"a": 1}'),
            "manifest.json: cannot read the manifest: not one written by habsburg",
        ),
    ],
)
def test_bad_input_is_refused_naming_it(tmp_path, capsys, make, message):
    path = make(tmp_path)
    assert main(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert message.format(d=tmp_path) in err and "Traceback" not in err
    assert "verifying" not in err  # refused before any progress


def _file(path: Path) -> Path:
    path.write_text("x")
    return path


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def _manifest(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "manifest.json").write_text(text)
    return path
