"""One habsburg command at a time in a results directory (habsburg.experiments.locks).

Two commands writing into one directory at once used to end one of them in an internal error
(each write removed the other's half-written temporary directory as an interrupted write's);
now the second is refused before any work, naming the first, and the first's files are left
alone. The lock is held by another process in these tests: a helper that takes it the way a
command does and keeps it until the test lets it go (or kills it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from habsburg.cli import main
from habsburg.experiments import locks
from habsburg.experiments.files import (
    TMP_PREFIX,
    prepare_output_dir,
    save_outputs,
    write_results_dir,
)
from habsburg.experiments.locks import hold_output_lock, lock_file, output_lock, output_locks
from habsburg.scenarios.errors import OutputPathError

#: takes the lock of argv[1] as a command does, says so, keeps it until stdin closes
_HOLDER = """
import sys
from habsburg.experiments.locks import hold_output_lock, output_locks
with output_locks():
    hold_output_lock(sys.argv[1], "holder", "")
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture(autouse=True)
def workdir(cli_dir):
    return cli_dir


class Holder:
    """A process holding the lock of ``directory`` (started by the fixture ``holder``)."""

    def __init__(self, directory: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "held\n"
        self.pid = self.proc.pid

    def release(self) -> None:
        """Let the lock go the way a command ends."""
        self.proc.communicate("\n", timeout=60)
        assert self.proc.returncode == 0

    def kill(self) -> None:
        """Kill the holder outright: the kernel releases its lock."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)


@pytest.fixture
def holder():
    started: list[Holder] = []

    def start(directory: str | Path) -> Holder:
        started.append(Holder(Path(directory)))
        return started[-1]

    yield start
    for h in started:
        if h.proc.poll() is None:
            h.release()  # (as a command ends: its lock file goes with it)


def _fill(tmp: Path) -> None:
    pd.DataFrame({"x": [1, 2]}).to_parquet(tmp / "t.parquet")


def run(*args: str) -> int:
    return main(["run", "mini.toml", "--quiet", "--no-report", *args])


def test_a_run_into_a_directory_another_command_writes_is_refused_before_work(
    holder, capsys, monkeypatch
):
    """What used to fail: the other command's half-written temporary directory is left alone,
    the refusal names that command, nothing is made and no simulation starts."""
    Path("out").mkdir()
    h = holder("out")
    theirs = Path("out") / f"{TMP_PREFIX}theirs"  # a write in progress
    theirs.mkdir()
    (theirs / "t.parquet").write_bytes(b"half")

    def forbidden(*args, **kwargs):
        raise AssertionError("the simulation started before the lock was checked")

    monkeypatch.setattr("habsburg.experiments.run.simulate", forbidden)
    assert run("--out", "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "habsburg run: output 'out' is in use by another habsburg command" in err
    assert f"process {h.pid}" in err and "wait for it to finish, or choose another --out" in err
    assert (theirs / "t.parquet").read_bytes() == b"half"
    assert sorted(p.name for p in Path("out").iterdir()) == [theirs.name]


def test_a_directory_not_made_yet_is_locked_too(holder, capsys):
    holder("new/out")
    assert run("--out", "new/out") == 2
    assert "is in use by another habsburg command" in capsys.readouterr().err
    assert not Path("new").exists()


def test_the_lock_goes_with_its_command_ended_or_killed(holder):
    h = holder("out")
    h.release()
    assert run("--out", "out") == 0
    assert (Path("out") / "manifest.json").is_file()
    h = holder("out")
    h.kill()  # (its lock file stays behind, unlocked)
    assert run("--out", "out") == 0
    file = lock_file("out")
    assert file is not None and not file.exists()  # (removed when the run ended)


def test_report_of_a_run_still_writing_is_refused(holder, capsys):
    assert run("--out", "out") == 0
    before = sorted(p.name for p in Path("out").iterdir())
    holder("out")
    assert main(["report", "out", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "habsburg report: 'out' is in use by another habsburg command" in err
    assert err.rstrip().endswith("wait for it to finish")
    assert sorted(p.name for p in Path("out").iterdir()) == before


def test_the_holder_is_named_by_its_command_line_and_start(holder, capsys):
    h = holder("out")
    with output_locks(), pytest.raises(OutputPathError) as refused:
        hold_output_lock("out", "this", "do that")
    file = lock_file("out")
    assert file is not None
    record = json.loads(file.read_text())
    assert record["pid"] == h.pid and record["directory"] == str(Path("out").resolve())
    assert abs(record["since"] - time.time()) < 600
    assert str(refused.value).startswith(
        f"this is in use by another habsburg command (process {h.pid}, `-c "
    )
    assert str(refused.value).endswith("); wait for it to finish, or do that")


def test_a_command_holds_its_lock_again_and_lets_it_go_once(holder):
    with output_locks():
        prepare_output_dir("out", command="run")
        prepare_output_dir("out", command="run")  # (again, in the same command)
        with output_lock("out", "w", ""):
            write_results_dir("out", _fill, {}, command="run")
        file = lock_file("out")
        assert file is not None and file.exists()
        with pytest.raises(OutputPathError, match="in use"):  # another process: refused
            _refused_in_another_process("out")
    assert not file.exists()
    holder("out").release()  # and another process takes it now


def _refused_in_another_process(directory: str) -> None:
    """Try to take the lock from another process; raise its refusal here."""
    code = (
        "import sys\n"
        "from habsburg.experiments.locks import hold_output_lock, output_locks\n"
        "from habsburg.scenarios.errors import OutputPathError\n"
        "with output_locks():\n"
        "    try:\n"
        "        hold_output_lock(sys.argv[1], 'child', '')\n"
        "    except OutputPathError as e:\n"
        "        print(e); sys.exit(2)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, directory], capture_output=True, text=True, timeout=120
    )
    if done.returncode == 2:
        raise OutputPathError(done.stdout.strip())
    assert done.returncode == 0, done.stderr


def test_a_library_write_waits_for_the_command_that_holds_the_directory(capsys):
    """Outside a command (a script calling write_results_dir), the write waits for the holder,
    with a note naming it, then writes."""
    Path("out").mkdir()
    code = _HOLDER.replace("sys.stdin.readline()", "import time; time.sleep(1.5)")
    proc = subprocess.Popen([sys.executable, "-c", code, "out"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    started = time.monotonic()
    write_results_dir("out", _fill, {}, command="run")
    waited = time.monotonic() - started
    assert proc.wait(timeout=60) == 0
    err = capsys.readouterr().err
    assert f"'out' is in use by process {proc.pid}" in err and "waiting for it" in err
    assert waited > 0.2  # (it did wait: the holder kept the lock 1.5 s)
    assert pd.read_parquet("out/t.parquet")["x"].tolist() == [1, 2]


def test_inside_a_command_a_write_never_waits(holder):
    """Two commands each writing a directory the other holds would wait for each other: inside
    a command, a write into a directory another process holds is refused instead."""
    holder("out")
    with output_locks(), pytest.raises(OutputPathError, match="in use"):
        write_results_dir("out", _fill, {}, command="run")
    assert not Path("out/t.parquet").exists()


def test_outside_a_command_nothing_is_held_after_the_check(holder):
    """A library call's prepare_output_dir takes no lock it could not let go of."""
    prepare_output_dir("out", command="run")
    holder("out").release()


def test_without_a_usable_lock_directory_nothing_is_locked_and_a_note_says_so(
    tmp_path, monkeypatch, capsys
):
    base = tmp_path / "tmp"
    base.mkdir()
    (base / f"habsburg-locks-{os.getuid()}").write_text("not a directory")
    monkeypatch.setattr(locks.tempfile, "gettempdir", lambda: str(base))
    monkeypatch.setattr(locks, "_warned", [])
    with output_locks():
        prepare_output_dir("out", command="run")
        write_results_dir("out", _fill, {}, command="run")
        prepare_output_dir("other", command="run")
    err = capsys.readouterr().err
    assert err.count("habsburg cannot keep its lock files") == 1 and "not a directory" in err
    assert pd.read_parquet("out/t.parquet")["x"].tolist() == [1, 2]


def test_a_lock_file_that_cannot_be_made_leaves_the_directory_unlocked(
    tmp_path, monkeypatch, capsys
):
    base = tmp_path / "tmp"
    (base / f"habsburg-locks-{os.getuid()}").mkdir(parents=True, mode=0o700)
    monkeypatch.setattr(locks.tempfile, "gettempdir", lambda: str(base))
    monkeypatch.setattr(locks, "_warned", [])

    real_open = os.open

    def no_descriptor(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(24, "Too many open files")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(locks.os, "open", no_descriptor)
    with output_locks():
        prepare_output_dir("out", command="run")
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert "cannot keep its lock files" in err and "(Too many open files)" in err


def test_example_scripts_share_their_directory_and_wait_for_each_others_writes(capsys):
    """Several example scripts may run at once into results/examples: checking the directory
    takes no lock, and a script's write waits for another's (here a process holding the lock
    for 1.5 s) instead of being refused, even inside a command."""
    Path("shared").mkdir()
    code = _HOLDER.replace("sys.stdin.readline()", "import time; time.sleep(1.5)")
    with output_locks():
        prepare_output_dir("shared", command="examples")
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "shared"], stdout=subprocess.PIPE, text=True
        )  # (another script, taking the lock after our check)
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        save_outputs("shared", {"mine.txt": lambda p: p.write_text("mine")}, command="examples")
    assert proc.wait(timeout=60) == 0
    assert f"'shared' is in use by process {proc.pid}" in capsys.readouterr().err
    assert Path("shared/mine.txt").read_text() == "mine"


def test_lock_files_a_killed_command_left_are_removed_and_held_ones_kept(holder, monkeypatch):
    """A killed command's lock file (unlocked) is removed by the next process to lock any
    directory; a running command's stays, and so does its lock."""
    running = holder("running")
    holder("gone").kill()  # (after: a new process removes stale files first)
    stale, held = lock_file("gone"), lock_file("running")
    assert stale is not None and stale.exists() and held is not None and held.exists()
    monkeypatch.setattr(locks, "_pruned", [])  # (as in a new process)
    with output_locks():
        prepare_output_dir("other", command="run")
    assert not stale.exists() and held.exists()
    with pytest.raises(OutputPathError, match=f"process {running.pid}"):
        _refused_in_another_process("running")


def test_a_directory_checked_during_a_write_stays_locked_after_it():
    """A lock taken for the command while the same process holds it for a write is one holder
    more, kept when the write lets its hold go."""
    with output_locks():
        with output_lock("deep", "w", ""):
            prepare_output_dir("deep", command="run")
        with pytest.raises(OutputPathError, match="in use"):
            _refused_in_another_process("deep")
    file = lock_file("deep")
    assert file is not None and not file.exists()
