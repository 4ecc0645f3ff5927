"""Verifying a results directory habsburg wrote, whole (``habsburg verify``): before results are
cited, archived or handed on, and after they were copied or downloaded.

Every Parquet file under the directory is read, a row group at a time, with each page checked
against its CRC32 checksum (habsburg writes one on every page since 2026-12-07; an older file's
pages are decoded only), and its footer compared with the digest the manifest recorded
(:func:`~habsburg.experiments.files.footer_digest`; runs written since 2026-12-07). Every other
file the manifest lists must exist, with the bytes whose digest the manifest recorded
(:func:`~habsburg.experiments.files.file_digest`; since 2026-12-07), and a JSON file must parse.
A sweep's ``results.parquet`` and ``series.parquet`` must gather its run files. The manifest's
provenance (the command, the scenario, the seed, and the versions that made the numbers) is
returned with what differs in this environment
(:func:`~habsburg.experiments.versions.version_changes`). Nothing is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habsburg.experiments.files import (
    INTERNAL_PREFIXES,
    MANIFEST_NAMES,
    file_digest,
    footer_digest,
    is_temporary,
)
from habsburg.experiments.results_check import read_manifest_file, read_run_files
from habsburg.experiments.versions import describe, version_changes

if TYPE_CHECKING:
    import pyarrow as pa
    from pyarrow.parquet import FileMetaData

__all__ = ["FileCheck", "Verification", "page_checksums", "verify_results_dir"]

#: Parquet's page header (Thrift compact protocol) begins with its ``type`` (field 1), its
#: uncompressed and compressed sizes (2, 3), each an i32: a field header byte of delta 1, type 5
_I32_NEXT_FIELD = 0x15

#: a sweep's manifest (its directory's, or each of a sensitivity analysis's methods')
SWEEP = "sweep.json"
#: a sweep's run files and the tables that gather them (its own, or a sensitivity method's)
_GATHERED = re.compile(r"^((?:[^/]+/)?)(?:(?:runs|series)/[^/]+|results|series)\.parquet$")


@dataclass(frozen=True)
class FileCheck:
    """What verifying one file found: ``rows`` and ``checksums`` (whether its pages carry them)
    for a Parquet table, ``problem`` (None when it is whole)."""

    name: str
    size: int
    rows: int | None = None
    checksums: bool | None = None
    problem: str | None = None
    #: whether the file's bytes were compared with a digest its manifest recorded (not a table)
    digest: bool = False


@dataclass
class Verification:
    """The result of :func:`verify_results_dir`."""

    directory: Path
    manifest_name: str
    manifest: dict[str, Any]
    files: list[FileCheck] = field(default_factory=list)
    #: files in the directory that no manifest lists (not habsburg's, or left by a write that
    #: was interrupted): named, not verified
    unlisted: list[str] = field(default_factory=list)
    #: a sweep's runs (its manifest's ``runs``): those finished (a ``runs/`` file), those that
    #: failed (an ``errors/`` record) and all; None for other directories
    runs: tuple[int, int, int] | None = None
    #: the planned runs of a sweep without a ``runs/`` file (failed or not run yet), in the
    #: plan's order (a sensitivity analysis's prefixed by their method: ``sobol/p00003-s000``)
    unfinished: list[str] = field(default_factory=list)
    #: a sweep's tables written before its last runs finished: (name, the runs it holds, the
    #: runs finished)
    out_of_date: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def problems(self) -> list[FileCheck]:
        return [f for f in self.files if f.problem]

    @property
    def tables(self) -> list[FileCheck]:
        return [f for f in self.files if f.rows is not None]

    @property
    def versions(self) -> str | None:
        """The versions that made the directory's numbers, in one line."""
        return describe(self.manifest.get("versions"))

    def version_changes(self) -> list[str]:
        """The packages whose versions here differ from the manifest's (a seed gives the same
        numbers only with the same ones)."""
        return version_changes(self.manifest.get("versions"))

    def provenance(self) -> str:
        """What wrote the directory: its command, scenario, seed and when, from the manifest."""
        m = self.manifest
        command = m.get("habsburg_command") or ("sweep" if self.manifest_name == SWEEP else "")
        what = [f"habsburg {command}" if command else "habsburg"]
        name = m.get("scenario_name") or m.get("name")
        scenarios = m.get("scenarios")  # (a comparison's, by name)
        if isinstance(scenarios, list) and scenarios and all(isinstance(s, str) for s in scenarios):
            name = " vs ".join(scenarios)
        if isinstance(name, str) and name:
            what.append(f"of {name}")
        if isinstance(m.get("seed"), int) and not isinstance(m.get("seed"), bool):
            what.append(f"seed {m['seed']}")
        when = m.get("started") or m.get("written")
        if isinstance(when, str) and when:
            what.append(f"started {when}")
        return ", ".join([" ".join(what[:2]), *what[2:]])


def verify_results_dir(
    path: str | Path, progress: Callable[[int, int], None] | None = None
) -> Verification:
    """Verify results directory ``path`` (a run, a text run, a sweep, a sensitivity analysis, a
    comparison, a calibration: any directory with a habsburg manifest) and return what was
    found; a :class:`~habsburg.scenarios.errors.ResultsDirError` naming it when it is not one
    (:func:`~habsburg.experiments.results_check.read_manifest_file`). ``progress(done,
    total)`` is called with the bytes verified so far and in all, first with none done, then as
    each file is done."""
    directory = Path(path)
    manifest_name, manifest = read_manifest_file(directory, MANIFEST_NAMES)
    listed = manifest.get("files")
    listed = sorted({f for f in listed if isinstance(f, str)}) if isinstance(listed, list) else []
    found = sorted(_files(directory))
    footers = manifest.get("footers")
    footers = footers if isinstance(footers, dict) else {}
    digests = manifest.get("digests")
    digests = digests if isinstance(digests, dict) else {}
    result = Verification(directory, manifest_name, manifest)
    if manifest.get("complete") is False:
        result.files.append(
            FileCheck(manifest_name, 0, problem="its writing was interrupted (it says so)")
        )
    names = sorted(set(listed) | {f for f in found if f.endswith(".parquet")})
    inside = [n for n in names if not Path(n).is_absolute() and ".." not in Path(n).parts]
    total = sum((directory / n).stat().st_size for n in inside if (directory / n).is_file())
    done = 0
    if progress is not None:
        progress(done, total)
    read: dict[str, pa.Table] = {}  # a sweep's run files and tables, as read whole
    sweeps = _sweep_manifests(found)
    for name in names:
        file = directory / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            result.files.append(FileCheck(name, 0, problem="listed, but not inside the directory"))
            continue
        if not file.is_file():
            result.files.append(FileCheck(name, 0, problem="listed in the manifest, missing"))
            continue
        size = file.stat().st_size
        if name.endswith(".parquet"):
            gathered = _GATHERED.match(name)  # a sweep's (for the comparison with its runs)
            keep = read if gathered and gathered.group(1) in sweeps else None
            result.files.append(_check_table(file, name, size, footers.get(name), keep))
        else:
            result.files.append(_check_file(file, name, size, digests.get(name)))
        done += size
        if progress is not None:
            progress(done, total)
    records = _sweep_records(directory, manifest_name, manifest, sweeps, result)
    result.runs, result.unfinished = _sweep_runs(records, found)
    for prefix, record in records.items():
        _check_summaries(directory, prefix, record, result, read)
    if isinstance(manifest.get("files"), list):  # (a sweep's manifest lists none)
        mine = set(listed) | set(MANIFEST_NAMES) | {f.name for f in result.files}
        # (habsburg's own files no manifest lists, a checkpoint or a lock, are not named)
        result.unlisted = [
            f for f in found if f not in mine and not f.startswith(INTERNAL_PREFIXES)
        ]
    return result


def _sweep_manifests(found: list[str]) -> dict[str, str]:
    """The sweep manifests among the directory's files ``found``, by the prefix of their
    sweep's files' names (``""`` when the directory is one, ``"<method>/"`` for each of a
    sensitivity analysis's)."""
    return {n[: -len(SWEEP)]: n for n in found if n.split("/")[-1] == SWEEP and n.count("/") < 2}


def _sweep_records(
    directory: Path,
    manifest_name: str,
    manifest: dict[str, Any],
    sweeps: dict[str, str],
    result: Verification,
) -> dict[str, dict[str, Any]]:
    """The directory's sweeps (``sweeps``: :func:`_sweep_manifests`), each with its manifest,
    by prefix. A subdirectory's ``sweep.json`` that cannot be read is one of ``result``'s
    problems."""
    records = {}
    for prefix, name in sweeps.items():
        if name == manifest_name:
            record: Any = manifest
        else:
            try:
                record = json.loads((directory / name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as err:
                result.files.append(FileCheck(name, 0, problem=f"not readable JSON ({err!s:.120})"))
                continue
        if isinstance(record, dict):
            records[prefix] = record
    return records


def _sweep_runs(
    sweeps: dict[str, dict[str, Any]], found: list[str]
) -> tuple[tuple[int, int, int] | None, list[str]]:
    """The runs finished, failed and planned of the directory's ``sweeps``
    (:func:`_sweep_records`; None without any), and the planned runs not finished, in the
    plan's order (named by their method's prefix and id)."""
    if not sweeps:
        return None, []
    present = set(found)
    counts = [0, 0, 0]
    unfinished: list[str] = []
    for prefix, record in sweeps.items():
        planned = record.get("runs")
        if not isinstance(planned, list):
            continue
        # (only names: an id edited into a list or a mapping cannot be a file's name)
        ids = [
            r["run_id"] for r in planned if isinstance(r, dict) and isinstance(r.get("run_id"), str)
        ]
        unique = dict.fromkeys(ids)  # (once each, in the plan's order)
        missing = [i for i in unique if f"{prefix}runs/{i}.parquet" not in present]
        counts[0] += len(unique) - len(missing)
        counts[1] += sum(f"{prefix}errors/{i}.json" in present for i in unique)
        counts[2] += len(planned)
        unfinished += [prefix + i for i in missing]
    return (counts[0], counts[1], counts[2]), unfinished


def _check_summaries(
    directory: Path,
    prefix: str,
    record: dict[str, Any],
    result: Verification,
    read: dict[str, pa.Table] | None = None,
) -> None:
    """A sweep's ``results.csv`` against the digest its manifest (``record``) took of it when
    it was written (since 2026-12-07), and its ``results.parquet`` and ``series.parquet``
    against its run files: each is the table of every finished run (``runs/``, ``series/``),
    as the end of the sweep's last session wrote it
    (:func:`~habsburg.experiments.sweep.storage.write_summary`). A table of only some of them,
    each row as its run file has it, is out of date (the sweep was stopped in a later session
    after more runs finished): noted in ``result.out_of_date``. Any other difference (a run
    file deleted or changed, the table replaced) is a problem: the table would be read, and
    cited, as the sweep's results. Not compared when a side is damaged (named already).

    ``read``: the tables :func:`_check_table` read (by name): when the table equals its run
    files concatenated as read there, nothing more is read (0.7 s of a 200-run sweep's 0.9 s
    went to reading every run file again through pandas); otherwise the run files are read as
    the sweep's ``load_results`` reads them and compared row for row."""
    import pandas as pd

    csv = f"{prefix}results.csv"
    if (directory / csv).is_file() and csv not in {f.name for f in result.files}:
        digests = record.get("digests")
        digest = digests.get("results.csv") if isinstance(digests, dict) else None
        result.files.append(
            _check_file(directory / csv, csv, (directory / csv).stat().st_size, digest)
        )
    checked = {f.name: i for i, f in enumerate(result.files)}
    for table, kind in (("results.parquet", "runs"), ("series.parquet", "series")):
        at = checked.get(prefix + table)
        if at is None or result.files[at].problem:
            continue
        files = [i for n, i in checked.items() if n.startswith(f"{prefix}{kind}/")]
        if any(result.files[i].problem for i in files):
            continue
        if _gathers(prefix + table, sorted(result.files[i].name for i in files), read or {}):
            continue
        try:
            written = pd.read_parquet(directory / prefix / table)
            expected = read_run_files(directory / prefix / kind)
        except (OSError, ValueError) as err:  # (a run file that is no file)
            result.files[at] = replace(
                result.files[at], problem=f"cannot be compared with its run files ({err!s:.160})"
            )
            continue
        if written.equals(expected):
            continue
        if "run_id" in written and "run_id" in expected:
            runs = pd.unique(written["run_id"])
            some = expected[expected["run_id"].isin(runs)].reset_index(drop=True)
            if some.equals(written):
                result.out_of_date.append((prefix + table, len(runs), len(files)))
                continue
        result.files[at] = replace(
            result.files[at],
            problem=f"not the table of the sweep's finished runs ({len(written):,} rows, where "
            f"the {len(files):,} files in {kind}/ hold {len(expected):,}"
            f"{' with other values' if len(written) == len(expected) else ''}): changed since "
            "the sweep wrote it, or a run file was; if the run files are the sweep's, the "
            "sweep's command with --resume writes it again from them",
        )


def _gathers(table: str, parts: list[str], read: dict[str, pa.Table]) -> bool:
    """Whether table ``table`` holds the rows of ``parts`` (its run files, in the order of
    their names), values and types alike, from the tables already read (``read``, by name);
    False when it does not or cannot be told from them (then the caller compares the frames the
    sweep itself reads). The pandas metadata is left out on both sides (the table's index runs
    over every row, each run file's over its own)."""
    import pyarrow as pa

    if table not in read or not parts or any(p not in read for p in parts):
        return False
    try:
        gathered = pa.concat_tables([read[p] for p in parts])
    except (pa.ArrowException, ValueError):  # (other columns or types: the slow comparison)
        return False
    plain = read[table].replace_schema_metadata(None)
    gathered = gathered.replace_schema_metadata(None)
    if plain.schema != gathered.schema or plain.num_rows != gathered.num_rows:
        return False
    return bool(plain.to_pandas().equals(gathered.to_pandas()))  # (NaN equal to NaN)


def _files(directory: Path) -> Iterator[str]:
    """Relative paths of the files under ``directory``, but the temporary ones of a write."""
    for file in directory.rglob("*"):
        parts = file.relative_to(directory).parts
        if any(is_temporary(p) for p in parts):
            continue
        if file.is_file():
            yield "/".join(parts)


def _check_table(
    file: Path, name: str, size: int, footer: object, keep: dict[str, pa.Table] | None = None
) -> FileCheck:
    """A Parquet table read whole, a row group at a time, each page against its checksum, and
    its footer against the manifest's digest. ``keep``: where to keep the table read (by
    ``name``) when it is whole (a sweep's run files and tables, small, for
    :func:`_check_summaries`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(file, page_checksum_verification=True, pre_buffer=False) as table:
            rows = 0
            groups = []
            for group in range(table.metadata.num_row_groups):
                groups.append(table.read_row_group(group, use_threads=False))
                rows += groups[-1].num_rows
                if keep is None:
                    groups.clear()  # (a run's tables may be GBs: one row group at a time)
            if rows != table.metadata.num_rows:
                raise ValueError(f"{rows} rows read of the {table.metadata.num_rows} it holds")
            checksums = page_checksums(file, table.metadata)
            schema = table.schema_arrow
        digest = footer_digest(file)
    except (OSError, ValueError, pa.ArrowException) as err:
        return FileCheck(name, size, problem=f"damaged ({str(err).strip():.160})")
    if isinstance(footer, str) and digest != footer:
        return FileCheck(
            name,
            size,
            rows,
            checksums,
            problem="not the table that was written there (its footer is not the one the "
            "manifest recorded: another run's table, or one edited since)",
        )
    if keep is not None:
        keep[name] = pa.Table.from_batches([], schema) if not groups else pa.concat_tables(groups)
    return FileCheck(name, size, rows, checksums)


def _check_file(file: Path, name: str, size: int, digest: object) -> FileCheck:
    """A file other than a table: its bytes against the digest the manifest recorded (written
    since 2026-12-07), and a JSON file parsed."""
    try:
        if isinstance(digest, str) and file_digest(file) != digest:
            return FileCheck(
                name,
                size,
                problem="changed since habsburg wrote it (its SHA-256 is not the one the "
                "manifest recorded)",
                digest=True,
            )
        if name.endswith(".json"):
            json.loads(file.read_text(encoding="utf-8"))
    except OSError as err:
        return FileCheck(name, size, problem=f"cannot be read ({err.strerror or err})")
    except (UnicodeDecodeError, ValueError) as err:
        return FileCheck(name, size, problem=f"not readable JSON ({err!s:.120})")
    return FileCheck(name, size, digest=isinstance(digest, str))


def page_checksums(file: str | Path, metadata: FileMetaData | None = None) -> bool | None:
    """Whether the pages of Parquet file ``file`` carry CRC32 checksums: read from the header of
    the first page of each column of its first row group (Parquet's ``PageHeader``: ``type``,
    the two sizes, then the optional ``crc`` as field 4). None for a table of no rows (no page
    to tell by); False when any column's first page has none. ``metadata``: the file's, if
    already read."""
    import pyarrow.parquet as pq

    if metadata is None:
        metadata = pq.read_metadata(file)
    if not metadata.num_row_groups or not metadata.row_group(0).num_rows:
        return None
    group = metadata.row_group(0)
    with Path(file).open("rb") as stream:
        for i in range(group.num_columns):
            chunk = group.column(i)
            dictionary = chunk.has_dictionary_page and chunk.dictionary_page_offset
            stream.seek(chunk.dictionary_page_offset if dictionary else chunk.data_page_offset)
            if not _has_crc(stream.read(32)):
                return False
    return True


def _has_crc(header: bytes) -> bool:
    """Whether the compact-Thrift ``PageHeader`` starting ``header`` has its field 4 (``crc``):
    fields 1-3 are i32 (a byte ``0x15``, then a varint), and the crc, when present, follows as
    one more."""
    at = 0
    for _ in range(3):
        if at >= len(header) or header[at] != _I32_NEXT_FIELD:
            raise ValueError("not a Parquet page header")
        at += 1
        while at < len(header) and header[at] & 0x80:  # the varint's continuation bytes
            at += 1
        at += 1
    return at < len(header) and header[at] == _I32_NEXT_FIELD
