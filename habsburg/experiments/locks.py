"""One habsburg command at a time in a results directory.

Two commands writing into one directory at once (the same ``--out`` given in two terminals, a
``report`` of a run that is still writing) used to end one of them in an internal error: every
write first removes the temporary directories an interrupted write left behind, and those were
the other command's, half-written. Now a command holds a lock on each directory it writes
(:func:`hold_output_lock`, called by :func:`~habsburg.experiments.files.prepare_output_dir`): a
second command is refused before any work, with the first's process id, command line and start
time, and the directory stays as the first command leaves it.

The lock is an advisory ``flock`` on a file in a private directory of this user's under the
temporary directory (``habsburg-locks-UID``), one file per directory written, named by a digest
of its resolved path, so nothing is ever written into the user's directory for it and a
directory not yet made can be locked too. The kernel releases a lock when its process ends, so
a killed command leaves no lock behind (its file, unlocked, is removed by the next command to
lock anything). Seen by every habsburg process of this user on this machine with the same
temporary directory (``TMPDIR``); other users, other machines sharing the file system, and a
different ``TMPDIR`` are not seen. Without ``fcntl`` (Windows) or a usable lock directory,
nothing is locked (a note says so once).

Scope: the ``habsburg`` command and the example scripts run inside :func:`output_locks`, which
holds every lock taken during the command until it ends. Library calls outside such a scope
hold one only while their files move into place (:func:`output_lock`, in
:func:`~habsburg.experiments.files.write_results_dir` and its siblings), waiting for a command
that holds it; ``with output_locks(): ...`` gives a script the command's behaviour. A directory
several processes of one command add files to at once (the example scripts' ``results/examples``,
:data:`~habsburg.experiments.files.SHARED_BY`) is locked only while one of them writes, and the
others wait.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from habsburg.scenarios.errors import OutputPathError

try:
    import fcntl
except ImportError:  # (Windows: no flock; nothing is locked)
    fcntl = None  # type: ignore[assignment]

__all__ = ["hold_output_lock", "lock_file", "output_lock", "output_locks"]


@dataclass
class _Held:
    """A lock this process holds: its open lock file, and how many holders share it."""

    fd: int
    file: Path
    pid: int
    count: int = 1


#: the locks this process holds, by the resolved path of the directory
_held: dict[str, _Held] = {}
_guard = threading.Lock()
#: the active scopes (:func:`output_locks`): their process id and what they release at the end
_scopes: list[tuple[int, contextlib.ExitStack]] = []
_warned: list[str] = []
#: the lock directory once its stale files are removed (:func:`_prune`, once a process)
_pruned: list[Path] = []


def _key(path: str | Path) -> str:
    return str(Path(path).resolve())


def lock_file(path: str | Path) -> Path | None:
    """The lock file of directory ``path`` (``None`` when nothing can be locked here)."""
    base = _lock_directory()
    if base is None:
        return None
    digest = hashlib.sha256(_key(path).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return base / f"{digest}.lock"


def _lock_directory() -> Path | None:
    """This user's private directory of lock files (made if missing), or ``None`` (with a
    one-time note) when it cannot be used."""
    if fcntl is None:
        return None
    base = Path(tempfile.gettempdir()) / f"habsburg-locks-{os.getuid()}"
    try:
        with contextlib.suppress(FileExistsError):  # (a file there is named below)
            base.mkdir(mode=0o700)
        info = os.lstat(base)
        problem = ""
        if not stat.S_ISDIR(info.st_mode):
            problem = "it is not a directory"
        elif info.st_uid != os.getuid():
            problem = "another user owns it"
    except OSError as err:
        problem = err.strerror or str(err)
    if not problem:
        if not _pruned:
            _pruned.append(base)
            _prune(base)
        return base
    _note_unlocked(base, problem)
    return None


def _prune(base: Path) -> None:
    """Remove the lock files no process holds (left by killed commands), once a process: each
    is locked first and removed while held, as a command removes its own at the end, so a
    process that opened it meanwhile sees it gone and takes a new one."""
    for file in base.glob("*.lock"):
        try:
            fd = os.open(file, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino == os.stat(file).st_ino:
                file.unlink()
        except OSError:  # (held: a command is running; or removed meanwhile)
            pass
        finally:
            os.close(fd)


def _note_unlocked(base: Path, problem: str) -> None:
    """Say once a process that nothing is locked, and why."""
    if not _warned:
        _warned.append(problem)
        print(
            f"note: habsburg cannot keep its lock files in {str(base)!r} ({problem}); two "
            "commands writing into one directory at once are not detected",
            file=sys.stderr,
        )


def _holder(file: Path) -> str:
    """Who holds the lock of ``file``, as its holder wrote it."""
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
        since = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(record["since"]))
        return f"process {record['pid']}, `{record['command']}`, since {since}"
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return "a process that has not said what it is yet"


def _command_line() -> str:
    argv = list(sys.argv) or ["python"]
    argv[0] = Path(argv[0]).name or argv[0]
    return " ".join(argv)


def _acquire(path: str | Path, *, wait: bool, flag: str, hint: str) -> str | None:
    """Take the lock of directory ``path`` (or count one more holder of it in this process);
    returns its key, or ``None`` when nothing can be locked. Held by another process: refused
    (:class:`OutputPathError`), or with ``wait`` waited for (a note says whom)."""
    key = _key(path)
    with _guard:
        held = _held.get(key)
        if held is not None and held.pid == os.getpid():
            held.count += 1
            return key
    file = lock_file(path)
    if file is None:
        return None
    while True:
        try:
            fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:  # (a lock directory made read-only, no file descriptor left)
            _note_unlocked(file.parent, err.strerror or str(err))
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                who = _holder(file)
                if not wait:
                    instead = f", or {hint}" if hint else ""
                    raise OutputPathError(
                        f"{flag} is in use by another habsburg command ({who}); wait for it to "
                        f"finish{instead}"
                    ) from None
                print(f"note: {str(path)!r} is in use by {who}; waiting for it", file=sys.stderr)
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:  # its holder may have released it (and removed the file) while we opened it
                current = os.stat(file).st_ino
            except FileNotFoundError:
                current = -1
        except BaseException:
            os.close(fd)
            raise
        if current != os.fstat(fd).st_ino:
            os.close(fd)
            continue
        record = {"pid": os.getpid(), "command": _command_line(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({**record, "directory": key}).encode("utf-8"), 0)
        with _guard:
            _held[key] = _Held(fd, file, os.getpid())
        return key


def _release(key: str | None) -> None:
    """One holder fewer of the lock ``key``; the last one removes the file and lets it go."""
    if key is None:
        return
    with _guard:
        held = _held.get(key)
        if held is None or held.pid != os.getpid():
            return
        held.count -= 1
        if held.count > 0:
            return
        del _held[key]
    with contextlib.suppress(OSError):  # (still held: a waiter on this file opens a new one)
        held.file.unlink()
    os.close(held.fd)


def _scope() -> contextlib.ExitStack | None:
    """The innermost scope of this process (a forked worker has none of its parent's)."""
    pid = os.getpid()
    return next((stack for owner, stack in reversed(_scopes) if owner == pid), None)


@contextlib.contextmanager
def output_locks() -> Iterator[None]:
    """Hold every directory lock taken in the block (:func:`hold_output_lock`) until it ends:
    what a ``habsburg`` command runs in."""
    entry = (os.getpid(), contextlib.ExitStack())
    _scopes.append(entry)
    try:
        yield
    finally:
        _scopes.remove(entry)
        entry[1].close()


def hold_output_lock(path: str | Path, flag: str, hint: str) -> None:
    """Inside :func:`output_locks`: take the lock of directory ``path`` until the scope ends,
    refused (:class:`OutputPathError`: ``flag`` is in use by another command, its holder, then
    ``hint``) while another process holds it. Outside a scope: nothing (library calls lock only
    while they write, :func:`output_lock`)."""
    scope = _scope()
    if scope is None:
        return
    key = _acquire(path, wait=False, flag=flag, hint=hint)  # (held already: one holder more)
    scope.callback(_release, key)


@contextlib.contextmanager
def output_lock(
    path: str | Path, flag: str, hint: str, *, wait: bool | None = None
) -> Iterator[None]:
    """Hold the lock of directory ``path`` for the block. While another process holds it:
    refused inside a command's scope (a command does not wait, so two commands cannot wait for
    each other), waited for outside one; ``wait`` says which instead (waiting is safe for a
    writer that holds no other lock meanwhile)."""
    wait = _scope() is None if wait is None else wait
    key = _acquire(path, wait=wait, flag=flag, hint=hint)
    try:
        yield
    finally:
        _release(key)
