"""``habsburg run --out``: never deletes or replaces a user's files, refuses before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tinyscenario import MINI

from habsburg.cli import main


@pytest.fixture(autouse=True)
def workdir(cli_dir):
    return cli_dir


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a simulation starts (the refusal must come first)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the simulation started before the output was checked")

    monkeypatch.setattr("habsburg.experiments.run.simulate", forbidden)


def run(*args: str, report: bool = False) -> int:
    return main(["run", "mini.toml", "--quiet", *([] if report else ["--no-report"]), *args])


def test_a_directory_of_user_files_is_refused_before_work(capsys, no_simulation):
    Path("mydir").mkdir()
    Path("mydir/thesis.tex").write_text("years of work")
    assert run("--out", "mydir") == 2
    err = capsys.readouterr().err
    assert "'mydir'" in err and "--force" in err and "did not write" in err
    assert sorted(p.name for p in Path("mydir").iterdir()) == ["thesis.tex"]


def test_force_writes_beside_user_files_and_never_touches_them():
    Path("mydir").mkdir()
    Path("mydir/thesis.tex").write_text("years of work")
    assert run("--out", "mydir", "--force") == 0
    assert Path("mydir/thesis.tex").read_text() == "years of work"
    manifest = json.loads(Path("mydir/manifest.json").read_text())
    assert "models.parquet" in manifest["files"] and "thesis.tex" not in manifest["files"]
    assert manifest["written_by"] == "habsburg" and manifest["complete"] is True
    # the directory is now habsburg's too: a rerun needs no --force, keeps the user's file
    assert run("--out", "mydir", "--seed", "5") == 0
    assert Path("mydir/thesis.tex").read_text() == "years of work"
    assert json.loads(Path("mydir/manifest.json").read_text())["seed"] == 5


def test_a_user_file_named_like_a_table_is_never_replaced(capsys):
    Path("mydir").mkdir()
    Path("mydir/models.parquet").write_text("my own table")
    assert run("--out", "mydir", "--force") == 2
    assert "models.parquet" in capsys.readouterr().err
    assert Path("mydir/models.parquet").read_text() == "my own table"
    assert sorted(p.name for p in Path("mydir").iterdir()) == ["models.parquet"]


def test_an_existing_file_is_refused_even_with_force(capsys, no_simulation):
    Path("afile").write_text("keep me")
    for extra in ([], ["--force"]):
        assert run("--out", "afile", *extra) == 2
        assert "is an existing file" in capsys.readouterr().err
    assert Path("afile").read_text() == "keep me"
    assert run("--out", "afile/sub") == 2  # a path that cannot be created
    assert "cannot be created" in capsys.readouterr().err


def test_a_name_cannot_steer_the_default_path(workdir, capsys, no_simulation):
    Path("evil.toml").write_text(MINI.replace('name = "mini"', 'name = "../../escaped"'))
    assert main(["run", "evil.toml", "--quiet"]) == 2
    assert "not a valid scenario name" in capsys.readouterr().err
    assert not (workdir.parent / "escaped").exists() and not Path("results").exists()


def test_rerun_into_its_own_directory_replaces_its_files_and_lists_the_report():
    assert run("--out", "out", report=True) == 0
    manifest = json.loads(Path("out/manifest.json").read_text())
    assert {"report.md", "report.html", "model_metrics.parquet"} <= set(manifest["files"])
    assert any(f.startswith("figures/") for f in manifest["files"])
    before = Path("out/model_metrics.parquet").stat().st_mtime_ns
    assert run("--out", "out") == 0  # no report this time: the old report files were habsburg's
    assert Path("out/model_metrics.parquet").stat().st_mtime_ns != before
    assert not Path("out/report.md").exists()
    left = {p.relative_to("out").as_posix() for p in Path("out").rglob("*") if p.is_file()}
    assert left == set(json.loads(Path("out/manifest.json").read_text())["files"]) | {
        "manifest.json"
    }


def test_validate_refuses_a_directory_of_user_files_before_work(capsys, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("validation started before the output was checked")

    monkeypatch.setattr("habsburg.experiments.validation.runner.run_validation", forbidden)
    Path("mine").mkdir()
    Path("mine/validation.md").write_text("my notes")
    assert main(["validate", "--quick", "--out", "mine"]) == 2
    assert "'mine'" in capsys.readouterr().err
    assert Path("mine/validation.md").read_text() == "my notes"


def test_validate_force_writes_beside_user_files_but_never_over_them(capsys):
    Path("mine").mkdir()
    Path("mine/notes.txt").write_text("my notes")
    assert main(["validate", "--quick", "--only", "V3", "--out", "mine", "--force"]) == 0
    assert Path("mine/notes.txt").read_text() == "my notes"
    assert Path("mine/validation.md").is_file()
    Path("other").mkdir()
    Path("other/validation.md").write_text("my own validation notes")
    assert main(["validate", "--quick", "--only", "V3", "--out", "other", "--force"]) == 2
    assert Path("other/validation.md").read_text() == "my own validation notes"


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_users_manifest_is_never_replaced_even_with_force(command, capsys, monkeypatch):
    """With --force habsburg writes beside a user's files, and wrote its manifest.json over a
    user's file of that name (run), or refused it only after all the work (validate)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr("habsburg.experiments.run.simulate", forbidden)
    monkeypatch.setattr("habsburg.experiments.validation.runner.run_validation", forbidden)
    Path("mine").mkdir()
    Path("mine/manifest.json").write_text('{"my": "experiment log"}')
    argv = ["run", "mini.toml", "--quiet"] if command == "run" else ["validate", "--quick"]
    assert main([*argv, "--out", "mine", "--force"]) == 2
    err = capsys.readouterr().err
    assert "holds manifest.json, which habsburg did not write" in err and "Traceback" not in err
    assert sorted(p.name for p in Path("mine").iterdir()) == ["manifest.json"]
    assert Path("mine/manifest.json").read_text() == '{"my": "experiment log"}'
