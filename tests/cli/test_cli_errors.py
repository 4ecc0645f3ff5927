"""The CLI catches errors once: one line, no traceback (unless --debug), and an exit status that
says what happened (2 bad input, 1 a failed check, 3 a bug)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tinyscenario import MINI

from habsburg.cli import main
from habsburg.experiments import limits
from habsburg.scenarios.errors import CheckFailed


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)


def run(argv, capsys) -> tuple[int, str]:
    status = main(argv)
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a binary file"),
        ('name = "caf\u00e9"\n'.encode("latin-1"), "is not UTF-8 text (byte 0xe9 on line 1)"),
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (MINI.encode()[:80], "malformed TOML"),  # truncated mid-table
        (b'name = "../../../escaped"\n', "not a valid scenario name"),
    ],
)
def test_unreadable_scenario_files_get_one_clear_line(tmp_path, capsys, content, message):
    path = tmp_path / "scenario.toml"
    path.write_bytes(content)
    status, err = run(["run", str(path), "--out", "out", "--quiet"], capsys)
    assert status == 2
    assert message in err and "scenario.toml" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()


def test_a_directory_or_an_oversized_file_given_as_a_scenario_is_named(tmp_path, capsys):
    """A directory named like a scenario file, and a file too large to be one (a data file given
    by mistake: refused by its size, before a byte is read), get one line naming them."""
    (tmp_path / "folder.toml").mkdir()
    with (tmp_path / "big.toml").open("wb") as f:  # sparse: no 9 MiB written
        f.truncate(9 * 2**20)
    for name, message in [
        ("folder.toml", "scenario file 'folder.toml' is a directory, not a file"),
        ("big.toml", "scenario file 'big.toml' is 9 MiB, too large for a scenario"),
    ]:
        status, err = run(["run", name, "--out", "out", "--quiet"], capsys)
        assert status == 2 and message in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["run", "/dev/zero"], "scenario file"),
        (["compare", "/dev/zero", "baseline"], "scenario file"),
        (["sweep", "/dev/zero"], "sweep spec"),
    ],
)
def test_a_device_given_as_a_file_is_refused_without_reading_it_all(tmp_path, argv, what):
    """A device has no size to check first: ``/dev/zero`` was read (once to see whether it is a
    text-mode scenario, once to load it) until memory ran out. At most one byte past the limit
    is read now. Run with its address space limited to 2 GiB, so a regression is an "out of
    memory" refusal here, not the machine's."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
    code = f"{limit}import sys; from habsburg.cli import main; sys.exit(main({argv!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"habsburg: error: {what} '/dev/zero' holds more than 8 MiB, too much for a {what}; is "
        "it the right file?"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.timeout(60)  # (a hang guard: a pipe read twice waits for a writer that is gone)
def test_a_scenario_read_from_a_pipe_is_read_once(tmp_path, capsys):
    """A pipe (``habsburg run <(...)``) is read by the loader only: the look at whether it is
    a text-mode scenario read it first, and the loader then found it empty."""
    fifo = tmp_path / "scenario.toml"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("w") as f:
            f.write(MINI)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    out = tmp_path / "out"
    status, err = run(["run", str(fifo), "--steps", "2", "--out", str(out), "--quiet"], capsys)
    writer.join(timeout=10)
    assert status == 0, err
    assert (out / "manifest.json").is_file()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.timeout(60)  # (a hang guard: a pipe read twice waits for a writer that is gone)
def test_a_text_scenario_read_from_a_pipe_is_loaded_as_text(tmp_path, capsys):
    """A text-mode scenario from a pipe (``habsburg run <(...)``) was sent to the abstract
    loader, which refused it as text-mode (the look at its mode read regular files only); the
    pipe is read once and its text kept for the text loader."""
    fifo = tmp_path / "text.toml"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("w") as f:
            f.write('scenario = "text_closed_loop"\nname = "piped"\n\n[set]\ngenerations = 3\n')

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert main(["scenarios", str(fifo)]) == 0  # (prints the text scenario in full)
    writer.join(timeout=10)
    printed = capsys.readouterr().out
    assert 'name = "piped"' in printed and "generations = 3" in printed


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.timeout(60)  # (a hang guard: a pipe read twice waits for a writer that is gone)
def test_a_sweep_spec_read_from_a_pipe_is_read_once(tmp_path, capsys):
    """A sweep spec from a pipe (``habsburg sweep <(...)``) is read three times, by the look
    at its mode, by the check that it is TOML (before the simulator loads) and by the
    loader: once from the pipe, then from what was kept."""
    scenario = Path(__file__).resolve().parents[1] / "experiments" / "data" / "sweep_tiny.toml"
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("w") as f:
            f.write(
                f'name = "piped"\nscenario = "{scenario.as_posix()}"\nseeds = 1\nsteps = 2\n'
                '[[parameters]]\npath = "watermark.adoption"\nvalues = [0.0]\n'
            )

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    out = tmp_path / "sweep"
    status, err = run(["sweep", str(fifo), "--serial", "--out", str(out), "--quiet"], capsys)
    writer.join(timeout=10)
    assert status == 0, err
    assert len(list((out / "runs").glob("*.parquet"))) == 1


def test_a_text_scenario_with_a_byte_order_mark_is_read_as_text(tmp_path, capsys):
    """The look at a file's mode decodes it as the loaders do (a byte-order mark allowed): it
    read the mark as text, failed to parse, and sent a text-mode file to the abstract loader,
    which refused it as "a text-mode scenario"."""
    from habsburg.scenarios.text_schema import is_text_scenario

    path = tmp_path / "bom.toml"
    path.write_bytes('\ufeffscenario = "text_closed_loop"\nname = "bom"\n'.encode())
    assert is_text_scenario(path)
    assert main(["scenarios", str(path)]) == 0  # (the text scenario printed in full)
    printed = capsys.readouterr()
    assert 'name = "bom"' in printed.out and 'mode = "text"' in printed.out, printed.err


def test_running_out_of_memory_is_one_line_with_what_to_lower(capsys, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr("habsburg.experiments.run.run_scenario", exhausted)
    status, err = run(["run", "baseline", "--quiet"], capsys)
    assert status == 2 and "Traceback" not in err
    assert err.strip() == (
        "habsburg: error: out of memory; lower the scenario's sizes (authors, AI demand, facts) "
        "or --steps"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["compare", "text_baseline", "text_reservoir", "--resume"],
            "--resume does not apply to text scenarios (a text comparison keeps no runs",
        ),
        (
            ["compare", "text_baseline", "text_reservoir", "--workers", "2"],
            "--workers does not apply to text scenarios (they run serially)",
        ),
        (
            ["sweep", "tspec.toml", "--resume"],
            "--resume does not apply to a text sweep (it writes one results file)",
        ),
        (
            ["run", "baseline", "--posterior", "nowhere", "--workers", "0"],
            "--workers must be >= 1, got 0",
        ),
    ],
    ids=["compare-text-resume", "compare-text-workers", "sweep-text-resume", "run-workers-0"],
)
def test_a_flag_that_does_not_apply_is_refused_before_any_work(tmp_path, capsys, argv, message):
    (tmp_path / "tspec.toml").write_text(
        'scenario = "text_baseline"\n[[parameters]]\npath = "generations"\nvalues = [2]\n'
    )
    status, err = run(argv, capsys)
    assert status == 2 and err.startswith(f"habsburg: error: {message}")
    assert len(err.strip().splitlines()) == 1
    # no results directory, no checkpoint key (and, refused before the plotting modules are
    # imported, no matplotlib config directory)
    assert [p.name for p in tmp_path.iterdir()] == ["tspec.toml"]


def test_debug_adds_the_traceback(tmp_path, capsys):
    path = tmp_path / "scenario.toml"
    path.write_bytes(b"\xff\xfe")
    status, err = run(["run", str(path), "--debug", "--quiet"], capsys)
    assert status == 2 and "Traceback" in err and "not UTF-8" in err


def test_a_bug_is_reported_as_one_without_a_traceback(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("habsburg.experiments.run.run_scenario", broken)
    status, err = run(["run", "baseline", "--quiet"], capsys)
    assert status == 3 and "internal error (RuntimeError: boom)" in err and "--debug" in err
    assert "Traceback" not in err
    status, err = run(["--debug", "run", "baseline", "--quiet"], capsys)
    assert status == 3 and "Traceback" in err


@pytest.mark.parametrize(
    "error", [TimeoutError(), ConnectionResetError()], ids=["TimeoutError", "ConnectionReset"]
)
def test_an_os_error_that_is_not_the_systems_is_a_bug_named_by_its_type(capsys, monkeypatch, error):
    """A library's ``TimeoutError()`` (an OSError with no errno, no message, no file) printed
    "habsburg: error: " and exit 2, "bad input", as Dask's local-cluster shutdown once did."""

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr("habsburg.experiments.run.run_scenario", broken)
    status, err = run(["run", "baseline", "--quiet"], capsys)
    name = type(error).__name__
    assert status == 3 and f"internal error ({name})" in err and "Traceback" not in err


def test_the_systems_refusal_stays_bad_input_naming_the_file(capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", "out/documents.parquet")

    monkeypatch.setattr("habsburg.experiments.run.run_scenario", full)
    status, err = run(["run", "baseline", "--quiet"], capsys)
    assert status == 2
    assert err.strip() == "habsburg: error: No space left on device: out/documents.parquet"


def test_a_failed_check_exits_1(capsys, monkeypatch):
    def failing(*args, **kwargs):
        raise CheckFailed("3 of 12 checks failed")

    monkeypatch.setattr("habsburg.experiments.run.run_scenario", failing)
    status, err = run(["run", "baseline", "--quiet"], capsys)
    assert status == 1 and err.strip() == "habsburg: error: 3 of 12 checks failed"


def test_a_run_too_big_for_the_machine_is_refused_before_work(tmp_path, capsys, monkeypatch):
    (tmp_path / "mini.toml").write_text(MINI)
    monkeypatch.setattr(limits, "available_memory", lambda: 2**20)  # a 1 MiB machine
    status, err = run(["run", "mini.toml", "--out", "out", "--quiet", "--no-report"], capsys)
    assert status == 2
    assert "projected to publish" in err and "humans.authors" in err and "--force" in err
    assert not (tmp_path / "out" / "manifest.json").exists()
    status, err = run(
        ["run", "mini.toml", "--out", "out", "--quiet", "--no-report", "--force"], capsys
    )
    assert status == 0 and (tmp_path / "out" / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02", "is a binary file"),
        (b"\xff\xfe\x00a", "is a binary file"),
        (b"", "is empty"),
    ],
)
def test_unreadable_sweep_specs_get_one_clear_line(tmp_path, capsys, content, message):
    path = tmp_path / "spec.toml"
    path.write_bytes(content)
    status, err = run(["sweep", str(path), "--serial", "--quiet"], capsys)
    assert status == 2 and f"sweep spec '{path}' {message}" in err and "Traceback" not in err


def test_report_on_a_table_replaced_by_another_names_it(tmp_path, capsys):
    """Another valid table under a table's name (here the sites table as ``model_metrics``)
    failed inside the report with a KeyError (exit 3); the manifest records each table's
    columns, and the report refuses the table by name before reading it."""
    import json

    (tmp_path / "mini.toml").write_text(MINI)
    assert main(["run", "mini.toml", "--out", "out", "--quiet", "--no-report"]) == 0
    columns = json.loads((tmp_path / "out" / "manifest.json").read_text())["columns"]
    assert "step" in columns["model_metrics.parquet"]  # recorded from the files written
    (tmp_path / "out" / "model_metrics.parquet").write_bytes(
        (tmp_path / "out" / "sites.parquet").read_bytes()
    )
    status, err = run(["report", "out", "--quiet"], capsys)
    assert status == 2 and "Traceback" not in err
    assert "model_metrics.parquet: not the table that was written there (it lacks" in err
    assert "step" in err


def test_report_on_another_runs_table_with_the_same_columns_names_it(tmp_path, capsys):
    """Another run's table under a table's name (the same scenario's, another seed: the same
    columns) was read as this run's, and the report described a mixture of two runs; the
    manifest records each table's footer (its row counts and column statistics) and the report
    refuses the table by name."""
    import json

    from habsburg.experiments.files import footer_digest

    (tmp_path / "mini.toml").write_text(MINI)
    for seed, out in (("1", "out"), ("2", "other")):
        argv = ["run", "mini.toml", "--seed", seed, "--out", out, "--quiet", "--no-report"]
        assert main(argv) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    tables = sorted(p.name for p in (tmp_path / "out").glob("*.parquet"))
    assert sorted(manifest["footers"]) == tables
    assert all(manifest["footers"][t] == footer_digest(tmp_path / "out" / t) for t in tables)
    assert main(["report", "out", "--quiet"]) == 0  # (its own files recorded beside them)
    assert main(["report", "out", "--quiet"]) == 0
    capsys.readouterr()
    mine, theirs = (tmp_path / d / "model_metrics.parquet" for d in ("out", "other"))
    kept = mine.read_bytes()
    mine.write_bytes(theirs.read_bytes())
    status, err = run(["report", "out", "--quiet"], capsys)
    assert status == 2 and "Traceback" not in err
    assert "model_metrics.parquet: not the table that was written there (its footer" in err
    mine.write_bytes(kept)
    assert main(["report", "out", "--quiet"]) == 0


def test_report_on_a_damaged_or_foreign_results_directory(tmp_path, capsys):
    (tmp_path / "mini.toml").write_text(MINI)
    assert main(["run", "mini.toml", "--out", "out", "--quiet", "--no-report"]) == 0
    table = tmp_path / "out" / "models.parquet"
    table.write_bytes(table.read_bytes()[:100])  # truncated
    status, err = run(["report", "out", "--quiet"], capsys)
    assert status == 2 and "models.parquet: damaged table" in err and "Traceback" not in err
    table.unlink()
    status, err = run(["report", "out", "--quiet"], capsys)
    assert status == 2 and "table models.parquet is missing" in err
    manifest = tmp_path / "out" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"format": 2', '"format": 7'))
    status, err = run(["report", "out", "--quiet"], capsys)
    assert status == 2 and "results format 7" in err


LONG = "a" * 300  # longer than a file name may be (255 bytes on Linux)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", LONG], f"unknown scenario '{LONG}'"),
        (["run", f"{LONG}.toml"], f"cannot read scenario file '{LONG}.toml': File name too long"),
        (["compare", "baseline", LONG], f"unknown scenario '{LONG}'"),
        (["scenarios", LONG], f"unknown scenario '{LONG}'"),
        (["run", "me.toml"], f"me.toml: scenario: cannot read scenario file '{LONG}.toml'"),
        (["sweep", "spec.toml"], f"spec.toml: scenario: unknown scenario '{LONG}'"),
    ],
)
def test_a_name_longer_than_a_file_name_is_refused_for_what_it_was_meant_as(
    tmp_path, capsys, argv, message
):
    """Such a name was looked up as a file first, and the system's error came out alone:
    "File name too long: .../library/aaa....toml", naming neither the argument nor the key."""
    (tmp_path / "me.toml").write_text(f'scenario = "{LONG}.toml"\nname = "me"\n')
    (tmp_path / "spec.toml").write_text(
        f'name = "s"\nscenario = "{LONG}"\n[[parameters]]\npath = "seed"\nvalues = [1, 2]\n'
    )
    status, err = run([*argv, "--quiet"] if argv[0] != "scenarios" else argv, capsys)
    assert status == 2
    assert message in err, err
    assert "too long: /" not in err
