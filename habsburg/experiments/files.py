"""Safe output directories and atomic writers: habsburg never loses or overwrites a user's files.

Every command that writes results goes through this module:

* :func:`prepare_output_dir` before any work: accepts a new path, an empty directory, or a
  directory whose manifest says habsburg wrote it; refuses an existing file, a directory of
  someone else's files (unless ``force``) and any path that cannot be created or written to.
* :func:`atomic_write_bytes` / :func:`atomic_write_text` / :func:`atomic_write_json` /
  :func:`atomic_write_parquet`: a temporary file in the same directory, ``fsync``, ``os.replace``,
  so a reader sees the old file or the new one, never half of one.
* :func:`write_results_dir`: the files of a results directory are written into a temporary
  directory inside ``out`` and moved into place one by one (replacing only files of the same name
  that habsburg wrote, as listed by the manifest), the manifest last. Files the user keeps beside
  the results are never touched, with or without ``force``.
* :mod:`habsburg.experiments.locks`: :func:`prepare_output_dir` locks the directory until the
  command ends (inside :func:`~habsburg.experiments.locks.output_locks`, as the CLI runs every
  command), and the writers below while they write, so two commands never write into one
  directory at once.
* :func:`deferred_signals` holds SIGINT/SIGTERM while files move into place, and
  :func:`sigterm_as_interrupt` turns SIGTERM into ``KeyboardInterrupt`` so both end a command the
  same clean way.

A manifest (``manifest.json``, or ``sweep.json`` for a sweep) is habsburg's when it is a JSON object
with ``"written_by": "habsburg"`` or (older results) a ``versions`` entry for habsburg.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from habsburg.experiments.locks import hold_output_lock, output_lock
from habsburg.experiments.versions import package_versions
from habsburg.scenarios.errors import OutputPathError

#: manifest files that mark a directory as habsburg's own output (run/report/compare; sweep)
MANIFEST_NAMES = ("manifest.json", "sweep.json")
#: format of results directories written through :func:`write_results_dir`
RESULTS_FORMAT = 2
#: files habsburg keeps in a results directory that no manifest lists
INTERNAL_PREFIXES = (".checkpoint", ".habsburg-")
#: report files written into run directories before manifests listed every file (format 1)
LEGACY_OWNED = ("report.md", "report.html", "filter_counterfactual.parquet", "figures/")
TMP_PREFIX = ".habsburg-tmp-"
#: the directory a command keeps its finished runs in until its results are written, by
#: command (:data:`habsburg.experiments.compare.KEPT_RUNS`): it makes the directory that
#: command's, so no other command writes its results beside runs that are to be resumed
KEPT_RUNS = {"compare": ".habsburg-compare-runs"}


# --------------------------------------------------------------------------- manifests


def _manifests(directory: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The habsburg manifests in ``directory`` as ``(file name, data)``, in
    :data:`MANIFEST_NAMES` order (unreadable files and other people's JSON skipped)."""
    for name in MANIFEST_NAMES:
        try:
            data = json.loads((Path(directory) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if is_habsburg_manifest(data):
            yield name, data


def read_manifest(directory: str | Path) -> dict[str, Any] | None:
    """The habsburg manifest in ``directory`` (``None`` if there is none or it is not ours)."""
    return next((data for _, data in _manifests(directory)), None)


def is_habsburg_manifest(data: Any) -> bool:
    """Whether parsed JSON ``data`` is a manifest habsburg wrote."""
    if not isinstance(data, dict):
        return False
    versions = data.get("versions")
    return data.get("written_by") == "habsburg" or (
        isinstance(versions, dict) and "habsburg" in versions
    )


#: commands whose directory several of their processes write into at once, each adding its own
#: files (the example scripts' ``results/examples``): it is locked only while one of them moves
#: files into it, and the others wait for that (:func:`_locked`)
SHARED_BY = frozenset({"examples"})

#: commands that write into a directory another command owns: a sensitivity analysis runs its
#: sweep in its own directory
_WRITES_INTO = {"sweep": {"sensitivity"}}


def output_owners(directory: str | Path) -> set[str]:
    """The habsburg commands whose results ``directory`` holds, by its manifests: the
    ``habsburg_command`` of its ``manifest.json`` (``calibrate`` records it as ``command``), and
    ``sweep`` for a ``sweep.json``, and the command whose kept runs it holds (an interrupted
    comparison: :data:`KEPT_RUNS`). Empty for a new, empty or foreign directory, and for results
    written before manifests named their command."""
    owners = {c for c, name in KEPT_RUNS.items() if read_manifest(Path(directory) / name)}
    for name, data in _manifests(directory):
        if name == "sweep.json":
            owners.add("sweep")
            continue
        command = data.get("habsburg_command")
        if not command and data.get("command") == "calibrate":
            command = "calibrate"
        if isinstance(command, str) and command:
            owners.add(command)
    return owners


def _internal(name: str) -> bool:
    return name.startswith(INTERNAL_PREFIXES) or is_temporary(name)


def is_temporary(name: str) -> bool:
    """Whether file or directory ``name`` is a temporary one of a write that was never moved
    into place (:data:`TMP_PREFIX`, or an :func:`atomic_write`'s ``.NAME.tmp-*``)."""
    return name.startswith(TMP_PREFIX) or (name.startswith(".") and ".tmp-" in name)


def owned_files(directory: str | Path) -> set[str]:
    """Relative paths (``/``-separated) of files in ``directory`` that habsburg wrote: those
    its manifest lists, the manifest itself and habsburg's internal files (checkpoints)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest is None:
        return set()
    owned = {n for n in MANIFEST_NAMES if (directory / n).is_file()}
    listed = manifest.get("files", [])
    if isinstance(listed, list):
        owned |= {str(f) for f in listed if isinstance(f, str)}
    if "format" not in manifest:  # format 1: the report files were not listed
        for entry in LEGACY_OWNED:
            if entry.endswith("/"):
                sub = directory / entry
                if sub.is_dir():
                    owned |= {f"{entry}{p.name}" for p in sub.iterdir() if p.is_file()}
            else:
                owned.add(entry)
    owned |= {p.name for p in directory.iterdir() if _internal(p.name)}
    return owned


def _is_habsburg_dir(directory: Path) -> bool:
    entries = [p.name for p in directory.iterdir()]
    return read_manifest(directory) is not None or all(_internal(n) for n in entries)


# --------------------------------------------------------------------------- output directories


def prepare_output_dir(
    path: str | Path,
    *,
    command: str,
    force: bool = False,
    expect: Iterable[str] = (),
    can_force: bool = True,
    create: bool = True,
) -> Path:
    """Check (and create) the output directory of ``command`` before any work starts.

    Accepted: a new path (created with its parents), an empty directory, or a directory holding
    habsburg's own earlier output (a habsburg manifest) of the same command. Refused with
    :class:`OutputPathError` naming the path: an existing file (even with ``force``), the results
    of another command (``run`` results given to ``compare``, a sweep given to ``run``: even
    with ``force``, since writing would remove or mix them), a directory holding other files
    (unless ``force``: habsburg then writes beside them, never deleting or replacing them), a
    path that cannot be created or written to. ``expect`` names files the command will write
    (relative paths): a file of that name that habsburg did not write is refused even with
    ``force``, and so is a ``manifest.json`` or ``sweep.json`` habsburg did not write (where it
    keeps its record of the directory). ``can_force=False``: the command has no ``--force`` that
    writes beside other files (a sweep, a sensitivity analysis, the examples), so the refusal
    does not suggest one. ``create=False`` checks a new path without making it (its nearest
    existing parent must be a writable directory), for a command that writes its first file
    only once its work has started, so that a failure before then leaves nothing behind.
    """
    out = Path(path)
    flag = f"habsburg {command}: output {str(out)!r}"
    if command not in SHARED_BY:  # (a shared directory is locked only while files move in)
        hold_output_lock(out, flag, "choose another --out")  # (until the command ends)
    if out.exists() and not out.is_dir():
        raise OutputPathError(
            f"{flag} is an existing file; habsburg never replaces a file with a results "
            "directory: choose another --out"
        )
    if out.is_dir():
        try:
            foreign = not _is_habsburg_dir(out)
        except OSError as err:
            raise OutputPathError(f"{flag} cannot be read: {err.strerror or err}") from None
        owners = output_owners(out)
        others = owners - {command} - _WRITES_INTO.get(command, set())
        if others and command not in owners:
            owner = sorted(others)[0]
            raise OutputPathError(
                f"{flag} holds the results of `habsburg {owner}`; `habsburg {command}` writes "
                "only into a new or empty directory or one of its own (habsburg never removes "
                "or mixes another command's results, not even with --force): choose another "
                "--out, or delete that directory first"
            )
        if foreign and not force:
            beside = ", or pass --force to write beside them" if can_force else ""
            raise OutputPathError(
                f"{flag} already holds files habsburg did not write (it has no habsburg "
                f"manifest); choose a new or empty directory{beside} (habsburg never deletes or "
                "replaces files it did not write)"
            )
        ours = {name for name, _ in _manifests(out)}
        for name in MANIFEST_NAMES:  # where habsburg keeps its record of the directory
            if (out / name).exists() and name not in ours:
                raise OutputPathError(
                    f"{flag} holds {name}, which habsburg did not write; habsburg keeps its "
                    "record of a results directory in that file and never replaces a user's "
                    "(not even with --force): move it or choose another --out"
                )
    writable_directory(out, flag, "choose another --out", create=create)
    refuse_clashes(out, expect, command)
    return out


def existing_ancestor(path: str | Path) -> Path:
    """``path`` itself if it exists, else the nearest of its parents that does."""
    path = Path(path)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def writable_directory(path: Path, flag: str, hint: str, *, create: bool = True) -> Path:
    """``path`` as a directory this process can write to: created with its parents when missing,
    then probed with a temporary file (created and removed). Otherwise :class:`OutputPathError`:
    ``flag`` (what names the path) cannot be created / is not writable, then ``hint``.

    ``create=False`` checks without making anything, for a check that later refusals may
    follow: a missing ``path`` is accepted when its nearest existing parent is a directory this
    process can write to (probed the same way), and is made when first used."""
    if not create and not path.is_dir():
        if path.exists():
            raise OutputPathError(f"{flag} is not a directory; {hint}")
        parent = existing_ancestor(path)
        if not parent.is_dir():
            raise OutputPathError(
                f"{flag} cannot be created: {str(parent)!r} is not a directory; {hint}"
            )
        _probe(parent, f"{flag} (to be made in {str(parent)!r})", hint)
        return path
    if not path.is_dir():
        make_directory(path, flag, hint)
    _probe(path, flag, hint)
    return path


def _probe(path: Path, flag: str, hint: str) -> None:
    """Refuse (:class:`OutputPathError`) unless a file can be made in directory ``path`` (one is
    made and removed)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".habsburg-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputPathError(f"{flag} is not writable: {err.strerror or err}; {hint}") from None


def make_directory(path: str | Path, flag: str, hint: str) -> Path:
    """Make directory ``path`` with its parents (checked beforehand by
    :func:`writable_directory` with ``create=False``); :class:`OutputPathError` if that fails."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputPathError(f"{flag} cannot be created: {err.strerror or err}; {hint}") from None
    return path


def refuse_clashes(out: str | Path, names: Iterable[str], command: str) -> None:
    """Refuse (:class:`OutputPathError`, naming them) to write files ``names`` (relative paths)
    into ``out`` if any exists there and habsburg did not write it, or a file stands where one
    of their directories goes: habsburg never replaces a user's files, not even with
    ``--force``."""
    clashes = _clashes(Path(out), names)
    if clashes:
        raise OutputPathError(_clash_message(Path(out), command, clashes))


def _clashes(out: Path, names: Iterable[str]) -> list[str]:
    """Of ``names`` (relative paths), those that exist in ``out`` but habsburg did not write
    (or that a directory or file blocks)."""
    owned = owned_files(out) if out.is_dir() else set()
    clashes = []
    for name in names:
        target = out / name
        parent = target.parent
        while parent != out and not parent.exists():
            parent = parent.parent
        if parent != out and not parent.is_dir():
            clashes.append(str(parent.relative_to(out)))
        elif target.is_dir() or (target.exists() and name not in owned):
            clashes.append(name)
    return sorted(set(clashes))


def _clash_message(out: Path, command: str, clashes: list[str]) -> str:
    shown = ", ".join(clashes[:5]) + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
    return (
        f"habsburg {command}: output {str(out)!r} already holds {shown}, which habsburg did not "
        "write; habsburg never replaces a user's files (not even with --force): move them or "
        "choose another --out"
    )


# --------------------------------------------------------------------------- atomic writers


def json_output_problem(path: str | Path, ours: Callable[[Any], bool]) -> str:
    """Why a JSON file named on a command line (a benchmark's ``--json FILE``) cannot be written,
    or ``""`` if it can: it names a directory, its directory is missing or not writable, or it
    exists and is not JSON that ``ours`` accepts as this command's own output (such a file is
    left alone). Checked before any work, so a mistyped name costs nothing."""
    path = Path(path)
    if path.is_dir():
        return "is a directory; name a file"
    if path.exists():
        try:
            mine = ours(json.loads(path.read_text()))
        except (OSError, UnicodeDecodeError, ValueError):
            mine = False
        if not mine:
            return (
                "exists and is not a file this command wrote; it is left alone: choose another name"
            )
    if not path.parent.is_dir():
        return f"its directory {path.parent} does not exist"
    if not os.access(path.parent, os.W_OK):
        return f"its directory {path.parent} is not writable"
    return ""


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then move it into place with
    ``os.replace`` (a reader sees the old file or the new one, never half of one)."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, default=str))


def write_parquet(df: Any, path: str | Path) -> None:
    """Write the DataFrame ``df`` as Parquet to ``path`` as habsburg writes its tables: no index,
    a CRC32 checksum on every page (which habsburg's readers verify). Not atomic: for a file in
    a directory that is moved into place whole, or a writer :func:`save_outputs` calls."""
    df.to_parquet(path, index=False, write_page_checksum=True)


def atomic_write_parquet(df: Any, path: str | Path) -> Path:
    """:func:`write_parquet` ``df`` to ``path`` atomically."""
    return atomic_write(path, lambda p: write_parquet(df, p))


# --------------------------------------------------------------------------- results directories

_Write = TypeVar("_Write", bound=Callable[..., Any])


def _locked(write: _Write) -> _Write:
    """``write(out, ..., command=...)`` holding ``out``'s lock (:mod:`habsburg.experiments.locks`)
    while it moves files into ``out``: a command holds it already; another process's write is
    refused (inside a command) or waited for (a library call, or a directory :data:`SHARED_BY`
    the command, whose writers hold nothing else while they wait)."""

    @functools.wraps(write)
    def locked(out: str | Path, *args: Any, command: str, **kwargs: Any) -> Any:
        flag = f"habsburg {command}: output {str(out)!r}"
        wait = True if command in SHARED_BY else None
        with output_lock(out, flag, "choose another --out", wait=wait):
            return write(out, *args, command=command, **kwargs)

    return cast("_Write", locked)


def _relative_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@_locked
def write_results_dir(
    out: str | Path,
    fill: Callable[[Path], object],
    manifest: dict[str, Any],
    *,
    command: str,
    manifest_name: str = "manifest.json",
) -> list[str]:
    """Write a results directory into ``out`` (prepared by :func:`prepare_output_dir`).

    ``fill(tmp)`` writes the files into a temporary directory inside ``out``; they are then moved
    into place one by one, replacing only files of the same names that habsburg wrote, and the
    manifest (``manifest`` plus ``written_by``, ``format``, ``files``, and ``versions`` --
    :func:`~habsburg.experiments.versions.package_versions` -- unless it has them) is written
    last. Files listed by the previous manifest that this write does not produce are removed
    (they were habsburg's and would no longer describe the results); nothing else is touched.
    Returns the files written (relative paths).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f"{TMP_PREFIX}*"):  # left by an interrupted write (ours: locked)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=out))
    try:
        fill(tmp)
        files = [f for f in _relative_files(tmp) if f != manifest_name]
        refuse_clashes(out, files, command)
        previous = read_manifest(out)
        old = owned_files(out) - set(MANIFEST_NAMES) if previous is not None else set()
        old = {f for f in old if not _internal(f.split("/")[0])}
        record = {**manifest, "written_by": "habsburg", "format": RESULTS_FORMAT}
        record.setdefault("versions", package_versions())  # what made the numbers
        record["columns"] = table_columns(tmp, files)  # what a reader can check a table by
        record["footers"] = table_footers(tmp, files)
        record["digests"] = file_digests(tmp, files)  # (the other files' contents)
        with deferred_signals():
            # a manifest listing old and new files while they move: an interruption here leaves a
            # directory habsburg still recognises (marked incomplete), never an orphaned one
            atomic_write_json(
                out / manifest_name,
                {**record, "complete": False, "files": sorted(old | set(files))},
            )
            for name in files:
                target = out / name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / name, target)
            for name in sorted(old - set(files)):
                (out / name).unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # an emptied habsburg subdirectory
                    if "/" in name:
                        (out / name).parent.rmdir()
            atomic_write_json(out / manifest_name, {**record, "complete": True, "files": files})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return files


def footer_digest(file: str | Path) -> str:
    """The first 16 hex digits of the SHA-256 of Parquet file ``file``'s footer (its schema,
    row counts, byte offsets and each column's statistics in each row group): two tables with
    one footer have the same layout and statistics, so another run's table, or one edited,
    has another (the values inside the pages are the page checksums' to vouch for). A
    ``ValueError`` when ``file`` does not end like a Parquet file; an ``OSError`` when it
    cannot be read."""
    with Path(file).open("rb") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size < 12:
            raise ValueError(f"{file}: too short for a Parquet file")
        stream.seek(size - 8)
        tail = stream.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or length > size - 12:
            raise ValueError(f"{file}: not a Parquet file's end")
        stream.seek(size - 8 - length)
        return hashlib.sha256(stream.read(length)).hexdigest()[:16]


def table_footers(directory: Path, files: Iterable[str]) -> dict[str, str]:
    """:func:`footer_digest` of each Parquet table among ``files``: the manifest records them, so
    a table replaced after it was written, even by one with the same columns (another run's),
    is refused by name before a report reads it (``results_check``)."""
    footers = {}
    for name in sorted(files):
        if name.endswith(".parquet") and (directory / name).is_file():
            try:
                footers[name] = footer_digest(directory / name)
            except (OSError, ValueError):  # not a table (a caller's own file): no record
                continue
    return footers


def file_digest(file: str | Path) -> str:
    """The first 16 hex digits of the SHA-256 of file ``file``'s bytes."""
    with Path(file).open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()[:16]


def file_digests(directory: Path, files: Iterable[str]) -> dict[str, str]:
    """:func:`file_digest` of each file among ``files`` that is not a Parquet table (a table's
    pages carry their own checksums and its footer is recorded, :func:`table_footers`): the
    manifest records them, so ``habsburg verify`` can tell a report, a figure or a CSV changed
    since habsburg wrote it."""
    digests = {}
    for name in sorted(files):
        if not name.endswith(".parquet") and (directory / name).is_file():
            try:
                digests[name] = file_digest(directory / name)
            except OSError:  # (unreadable: no record, and verify will say it cannot read it)
                continue
    return digests


def table_columns(directory: Path, files: Iterable[str]) -> dict[str, list[str]]:
    """The column names of each Parquet table among ``files`` (read from their footers): the
    manifest records them, so a table replaced after it was written (another table under its
    name) is refused by name before a report reads it (``results_check``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {}
    for name in sorted(files):
        if name.endswith(".parquet") and (directory / name).is_file():
            try:
                columns[name] = list(pq.read_schema(directory / name).names)
            except (OSError, pa.ArrowException):  # not a table (a caller's own file): no record
                continue
    return columns


def _record_tables(
    directory: Path, manifest: dict[str, Any], files: Iterable[str], dropped: Iterable[str]
) -> None:
    """Bring the manifest's records of its tables' columns and footers (:func:`table_columns`,
    :func:`table_footers`; written since 2026-12-05 and 2026-12-07) and of its other files'
    digests (:func:`file_digests`, since 2026-12-07) up to date for ``files``, just written into
    ``directory``, and ``dropped``, just removed: a table or figure a report adds (or writes
    again) is checked like the run's own. A manifest from before digests were recorded gets
    those of the files written now; one from before columns or footers were, none of them."""
    records = (
        ("columns", table_columns),
        ("footers", table_footers),
        ("digests", file_digests),
    )
    for key, read in records:
        kept = manifest.get(key)
        if key == "digests" and key not in manifest:  # (the files written now, at least)
            kept = {}
        if not isinstance(kept, dict):  # (a manifest from before it was recorded: none)
            continue
        gone = set(dropped) | set(files)
        manifest[key] = {k: v for k, v in kept.items() if k not in gone} | read(directory, files)


def add_to_manifest(
    directory: str | Path,
    files: Iterable[str],
    *,
    command: str = "",
    dropped: Iterable[str] = (),
    record: dict[str, Any] | None = None,
) -> None:
    """Record ``files`` (relative paths habsburg wrote into ``directory`` outside
    :func:`write_results_dir`: a report added to a run, the examples' figures) in the directory's
    manifest, so later writes may replace them, and forget ``dropped`` (files of its that it
    removed); ``record``: fields to set in the manifest besides. The manifest's ``writers``
    says what last wrote each of these files (:func:`credit_writer`), so a directory several
    commands or versions wrote into keeps each one's record. Without a habsburg manifest,
    ``manifest.json`` is created (naming ``command``) -- check the directory first with
    :func:`prepare_output_dir`."""
    directory = Path(directory)
    for name in MANIFEST_NAMES:
        path = directory / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if is_habsburg_manifest(data):
                listed = data.get("files") if isinstance(data.get("files"), list) else []
                data["files"] = sorted((set(listed) - set(dropped)) | set(files))
                data.update(record or {})
                _record_tables(directory, data, files, dropped)
                data["writers"] = credit_writer(data.get("writers"), data["files"], files)
                atomic_write_json(path, data)
                return
    if (directory / "manifest.json").exists():
        raise OutputPathError(
            f"{str(directory / 'manifest.json')!r} was not written by habsburg; habsburg will not "
            "replace it: choose another --out"
        )
    data = {
        "written_by": "habsburg",
        "format": RESULTS_FORMAT,
        "habsburg_command": command,
        "complete": True,
        "files": sorted(set(files)),
        **(record or {}),
        "writers": credit_writer(None, sorted(set(files)), files),
        "columns": {},
        "footers": {},
        "digests": {},
    }
    _record_tables(directory, data, files, ())
    atomic_write_json(directory / "manifest.json", data)


def credit_writer(
    writers: object, listed: Iterable[str], files: Iterable[str]
) -> list[dict[str, Any]]:
    """The manifest's ``writers`` after this process (:func:`writer_record`: its command line
    and versions) wrote ``files``: each entry names the files it wrote last, among ``listed``
    (the manifest's files); an entry left with none goes, and this process's files join an
    entry of the same command and versions. Entries that are not such records (a manifest
    edited by hand) are dropped rather than trusted."""
    listed, files = set(listed), set(files)
    me = writer_record()
    kept: list[dict[str, Any]] = []
    for entry in writers if isinstance(writers, list) else []:
        if not (isinstance(entry, dict) and isinstance(entry.get("files"), list)):
            continue
        own = {f for f in entry["files"] if isinstance(f, str)} & listed - files
        if {k: entry.get(k) for k in me} == me:
            files |= own  # the same writer again: one entry
        elif own:
            kept.append({**entry, "files": sorted(own)})
    if files:
        kept.append({**me, "files": sorted(files)})
    return kept


@_locked
def add_results(
    out: str | Path,
    fill: Callable[[Path], object],
    *,
    command: str,
    supersedes: Iterable[str] = (),
) -> list[str]:
    """Add files to habsburg's results directory ``out`` (a report to a run): ``fill(tmp)``
    writes them into a temporary directory inside ``out``; a file of the same name in ``out``
    that habsburg did not write (or a file where a directory goes) refuses the whole write
    (:class:`~habsburg.scenarios.errors.OutputPathError`, naming them) before anything is
    moved; then they are moved into place and recorded in the manifest. Of ``supersedes``
    (files this write replaces: a report's earlier figures), those habsburg wrote and this write
    does not write again are removed. Returns the files written (relative paths)."""
    out = Path(out)
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=out))
    try:
        fill(tmp)
        files = [f for f in _relative_files(tmp) if f not in MANIFEST_NAMES]
        refuse_clashes(out, files, command)
        owned = owned_files(out)
        stale = sorted(n for n in set(supersedes) - set(files) if n in owned)
        with deferred_signals():
            for name in files:
                target = out / name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / name, target)
            for name in stale:
                (out / name).unlink(missing_ok=True)
            add_to_manifest(out, files, command=command, dropped=stale)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return files


@_locked
def save_outputs(
    out: str | Path,
    writers: dict[str, Callable[[Path], object]],
    *,
    command: str,
    record: dict[str, Any] | None = None,
) -> list[Path]:
    """Write a few files into ``out`` (checked beforehand by :func:`prepare_output_dir`), each
    atomically through ``writers[name](tmp_path)``, and record them in the manifest; a file of
    the same name is replaced only if habsburg wrote it. For commands that add files to a
    shared directory (the example scripts, ``validate``) rather than own a results directory.
    The manifest records what wrote the files last (:func:`writer_record`) and ``record`` (what
    they were made from)."""
    out = Path(out)
    refuse_clashes(out, writers, command)
    record = {**(record or {}), **writer_record()}
    paths = []
    with deferred_signals():
        for name, write in writers.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            paths.append(atomic_write(out / name, write))
        add_to_manifest(out, list(writers), command=command, record=record)
    return paths


def save_figure(out: str | Path, name: str, figure: Any, *, command: str, dpi: int = 120) -> Path:
    """Save the matplotlib ``figure`` as the PNG file ``name`` in ``out`` with
    :func:`save_outputs` (atomically, recorded in the manifest); returns its path."""
    write = {name: lambda path: figure.savefig(path, dpi=dpi, format="png")}
    return save_outputs(out, write, command=command)[0]


def writer_record() -> dict[str, Any]:
    """What wrote files into a shared directory, for its manifest (:func:`add_to_manifest`'s
    ``record``): the package versions with the model code
    (:func:`~habsburg.experiments.versions.package_versions`) and the command line."""
    return {"versions": package_versions(), "command": " ".join(sys.argv)}


# --------------------------------------------------------------------------- signals


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the duration of the block (files moving into place) and
    raise ``KeyboardInterrupt`` after it if one arrived. Outside the main thread, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    saved = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        saved[sig] = signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt


#: the signals (SIGINT, SIGTERM) that asked the running command to stop (:func:`stop_if_interrupted`)
_interrupts: list[int] = []


def _raise_interrupt(signum: int, frame: object) -> None:
    _interrupts.append(signum)
    raise KeyboardInterrupt


def stop_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C or SIGTERM arrived during the command
    (:func:`sigterm_as_interrupt`). The one the signal raised is lost when it lands in a
    finalizer (a weak reference's callback, a ``__del__``, which the garbage collector runs
    anywhere): Python notes it as "Exception ignored" and goes on, and the command ran to its
    end (a sensitivity analysis given SIGTERM 8 s in ran all its 572 runs). Called between the
    months of a run, the runs of a sweep and the particles of a calibration, it ends the
    command there instead."""
    if _interrupts:
        raise KeyboardInterrupt


def _lost_interrupt_hook(previous: Callable[[Any], object]) -> Callable[[Any], object]:
    """``sys.unraisablehook`` that keeps quiet about a ``KeyboardInterrupt`` lost in a finalizer
    (:func:`stop_if_interrupted` raises it again) and passes everything else to ``previous``."""

    def hook(unraisable: Any) -> None:
        if not (isinstance(unraisable.exc_value, KeyboardInterrupt) and _interrupts):
            previous(unraisable)

    return hook


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises ``KeyboardInterrupt`` in the block, so ``kill`` ends a command as cleanly as
    Ctrl-C does (temporary files removed, checkpoint kept); both are remembered until the block
    ends, for :func:`stop_if_interrupted`. Outside the main thread, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # (Python's own: not
        signals.append(signal.SIGINT)  # where it is ignored, as in a script's background job)
    saved = {sig: signal.signal(sig, _raise_interrupt) for sig in signals}
    hook, sys.unraisablehook = sys.unraisablehook, _lost_interrupt_hook(sys.unraisablehook)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        sys.unraisablehook = hook
        _interrupts.clear()
