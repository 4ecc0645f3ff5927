"""Checking a results directory before reading it (``habsburg report``, ``compare``): one clear
error for each way it can be unusable, raised before any analysis starts.

* no directory, no manifest, a manifest that is not habsburg's JSON  -> ``ResultsDirError``
* written by an incompatible habsburg (a newer results format, or an older major.minor version
  without a format number)                                            -> ``ResultsVersionError``
* interrupted while its files were moved into place                   -> ``ResultsDirError``
* a table that is missing, or whose Parquet footer or schema cannot be read (truncated, damaged,
  not Parquet)                                                        -> ``ResultsDirError``

Only the Parquet metadata is read (fast even for large runs); a table damaged inside its data
pages is caught when it is read (:func:`read_table` gives the same error).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habsburg.experiments.files import RESULTS_FORMAT, footer_digest, is_habsburg_manifest
from habsburg.experiments.versions import installed_version
from habsburg.scenarios.errors import ResultsDirError, ResultsVersionError

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike

# (numpy, pandas and pyarrow load in the functions that read tables: a directory that is
# missing, or whose manifest is refused, is named before them, ~0.6 s sooner)

#: what a results directory's error tells the user to do
RERUN = "rerun the command that wrote it"


def _installed() -> str:
    return installed_version("habsburg")


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def read_manifest_file(
    path: str | Path, names: tuple[str, ...] = ("manifest.json",)
) -> tuple[str, dict[str, Any]]:
    """``(name, manifest)`` of results directory ``path``: the first of ``names`` there, read
    and habsburg's; a :class:`ResultsDirError` naming the path if the directory or the manifest
    is missing or the manifest damaged or another program's. Its version is not checked
    (:func:`read_manifest_strict` does)."""
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise ResultsDirError(f"{str(directory)!r} is a file, not a results directory")
    if not directory.is_dir():
        raise ResultsDirError(f"results directory {str(directory)!r} does not exist")
    name = next((n for n in names if (directory / n).is_file()), None)
    if name is None:
        has = f"no {names[0]}" if len(names) == 1 else f"none of {', '.join(names)}"
        raise ResultsDirError(
            f"{str(directory)!r} is not a habsburg results directory: it has {has}"
        )
    file = directory / name
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ResultsDirError(f"{file}: cannot read the manifest ({err}); {RERUN}") from None
    if not is_habsburg_manifest(data):
        raise ResultsDirError(f"{file}: cannot read the manifest: not one written by habsburg")
    return name, data


def read_manifest_strict(path: str | Path, manifest_name: str = "manifest.json") -> dict[str, Any]:
    """The manifest of results directory ``path``; a :class:`ResultsDirError` or
    :class:`ResultsVersionError` naming the path if it is missing, damaged or incompatible."""
    directory = Path(path)
    _, data = read_manifest_file(directory, (manifest_name,))
    fmt = data.get("format")
    versions = data.get("versions")  # (not an object: as unknown as a missing one)
    written = str(versions.get("habsburg", "unknown") if isinstance(versions, dict) else "unknown")
    if fmt is not None and fmt != RESULTS_FORMAT:
        raise ResultsVersionError(
            f"{str(directory)!r} was written by habsburg {written} (results format {fmt}); this "
            f"habsburg {_installed()} reads format {RESULTS_FORMAT}: {RERUN} with this version"
        )
    if fmt is None and _major_minor(written) != _major_minor(_installed()):
        raise ResultsVersionError(
            f"{str(directory)!r} was written by habsburg {written}, not this {_installed()}: "
            f"{RERUN} with this version"
        )
    if data.get("complete") is False:
        raise ResultsDirError(
            f"{str(directory)!r} is incomplete: writing it was interrupted; {RERUN}"
        )
    return data


def check_fields(
    data: dict[str, Any], file: Path, fields: Iterable[tuple[str, type, str]], prefix: str = ""
) -> None:
    """Each ``(key, type, what)`` of ``fields`` that manifest ``data`` (read from ``file``) holds
    has that type (a boolean is not an integer), or a :class:`ResultsDirError` naming the file and
    the key (``prefix`` + key): a manifest edited by hand is refused before it is read, not
    an internal error where a field is used."""
    for key, kind, what in fields:
        value = data.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ResultsDirError(
                f"{file}: {prefix}{key}: expected {what}, got {value!r:.60}; {RERUN}"
            )


def check_results_dir(
    path: str | Path,
    *,
    tables: Iterable[str] | None = None,
    manifest_name: str = "manifest.json",
) -> dict[str, Any]:
    """Check results directory ``path`` before reading it and return its manifest.

    ``tables`` names the Parquet tables the reader needs (default: every ``.parquet`` file the
    manifest lists); each must exist with a readable footer and schema, have the columns the
    manifest records for it and, since 2026-12-07, the footer
    (:func:`~habsburg.experiments.files.footer_digest`): the table that was written there.
    """
    directory = Path(path)
    manifest = read_manifest_strict(directory, manifest_name)
    import pyarrow as pa  # (after the manifest: a directory refused by it is named sooner)
    import pyarrow.parquet as pq

    if tables is None:
        listed = manifest.get("files")
        names = (
            [f for f in listed if isinstance(f, str) and f.endswith(".parquet")]
            if isinstance(listed, list)
            else [p.name for p in directory.glob("*.parquet")]
        )
    else:
        names = [t if t.endswith(".parquet") else f"{t}.parquet" for t in tables]
    recorded = manifest.get("columns")
    recorded = recorded if isinstance(recorded, dict) else {}  # (none before 2026-12-05)
    footers = manifest.get("footers")
    footers = footers if isinstance(footers, dict) else {}  # (none before 2026-12-07)
    for name in names:
        file = directory / name
        if not file.is_file():
            raise ResultsDirError(f"{str(directory)!r}: table {name} is missing; {RERUN}")
        try:
            schema = pq.read_schema(file)
            footer = footer_digest(file)
        except (OSError, ValueError, pa.ArrowException) as err:
            raise ResultsDirError(f"{file}: damaged table ({err}); {RERUN}") from None
        expected = recorded.get(name)
        if isinstance(expected, list):
            missing = [c for c in expected if c not in schema.names]
            if missing:
                shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
                raise ResultsDirError(
                    f"{file}: not the table that was written there (it lacks {len(missing)} of "
                    f"its {len(expected)} columns: {shown}); {RERUN}"
                )
        expected = footers.get(name)
        if isinstance(expected, str) and footer != expected:
            raise ResultsDirError(
                f"{file}: not the table that was written there (its footer, which holds its row "
                f"counts and each column's statistics, is not the one {manifest_name} recorded: "
                f"another run's table, or one edited since); {RERUN}"
            )
    return manifest


def read_run_files(
    folder: Path, read: Callable[[Path], pd.DataFrame] | None = None
) -> pd.DataFrame:
    """Every Parquet file in ``folder`` (a sweep's ``runs/`` or ``series/``: one a run), in the
    order of their names, as one table (an empty one without any). Each is read by ``read``;
    by default with its page checksums verified, its errors (an ``OSError`` or a ``ValueError``)
    raised as they are. Imports nothing of the simulator, so ``habsburg verify`` stays quick."""
    import pandas as pd

    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return pd.DataFrame()
    read = read or (lambda file: pd.read_parquet(file, page_checksum_verification=True))
    return pd.concat([read(f) for f in files], ignore_index=True)


def read_table(
    path: str | Path, columns: list[str] | None = None, steps: tuple[int, int] | None = None
) -> pd.DataFrame:
    """A Parquet table of a results directory, or a :class:`ResultsDirError` naming the file.
    ``steps = (first, last)`` keeps the rows of those month indices only (inclusive), reading
    only the row groups that can hold them (the table needs a ``step`` column)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = Path(path)
    if not file.is_file():
        raise ResultsDirError(f"{str(file.parent)!r}: table {file.name} is missing; {RERUN}")
    filters = None
    if steps is not None:
        first, last = (int(s) for s in steps)
        if not 0 <= first <= last:
            raise ResultsDirError(
                f"{file}: steps=({first}, {last}) is not a range of month indices "
                "(0 <= first <= last)"
            )
        filters = [("step", ">=", first), ("step", "<=", last)]
    try:
        if filters and "step" not in pq.read_schema(file).names:
            raise ResultsDirError(f"{file}: the table has no step column to select months by")
        frame = pd.read_parquet(
            file, columns=columns, filters=filters, page_checksum_verification=True
        )
    except (OSError, ValueError, KeyError, pa.ArrowException) as err:
        raise ResultsDirError(f"{file}: damaged table ({err}); {RERUN}") from None
    return _released(frame)


def _released(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``, once Arrow's allocator has returned the memory reading it freed: mimalloc keeps
    it otherwise (0.5 GB after reading a 100× run's error claims, a 0.3 GB frame)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    return frame


def read_rows(
    path: str | Path, key: str, values: ArrayLike, columns: list[str] | None = None
) -> pd.DataFrame:
    """The rows of a Parquet table of a results directory whose ``key`` column holds one of
    ``values`` (in the file's order), or a :class:`ResultsDirError` naming the file. The file is
    read a row group at a time, so memory follows the rows kept, not the table: looking up the
    documents a report samples in a 100× run's 200 M (pyarrow's pre-buffering, off here, keeps
    every row group read: 0.8 GB for two columns of that table)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from habsburg.ecosystem.sampling import sorted_unique

    file = Path(path)
    if not file.is_file():
        raise ResultsDirError(f"{str(file.parent)!r}: table {file.name} is missing; {RERUN}")
    wanted = sorted_unique(np.asarray(values).ravel())
    try:
        parquet = pq.ParquetFile(file, pre_buffer=False, page_checksum_verification=True)
        if key not in parquet.schema_arrow.names:
            raise ResultsDirError(f"{file}: the table has no {key} column to select rows by")
        read = None if columns is None else list(dict.fromkeys([key, *columns]))
        parts = [parquet.schema_arrow.empty_table().select(read or parquet.schema_arrow.names)]
        for group in range(parquet.metadata.num_row_groups if wanted.size else 0):
            rows = parquet.read_row_group(group, columns=read)
            keys = rows.column(key).to_numpy()
            found = wanted[np.minimum(np.searchsorted(wanted, keys), wanted.size - 1)] == keys
            if found.any():
                parts.append(rows.filter(pa.array(found)))
        frame = pa.concat_tables(parts).to_pandas()
    except (OSError, ValueError, KeyError, pa.ArrowException) as err:
        raise ResultsDirError(f"{file}: damaged table ({err}); {RERUN}") from None
    return _released(frame if columns is None else frame[columns])
