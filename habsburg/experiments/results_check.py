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
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from habsburg.experiments.files import RESULTS_FORMAT, is_habsburg_manifest
from habsburg.scenarios.errors import ResultsDirError, ResultsVersionError

_RERUN = "rerun the command that wrote it"


def _installed() -> str:
    try:
        return metadata.version("habsburg")
    except metadata.PackageNotFoundError:
        return "unknown"


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def read_manifest_strict(path: str | Path, manifest_name: str = "manifest.json") -> dict[str, Any]:
    """The manifest of results directory ``path``; a :class:`ResultsDirError` or
    :class:`ResultsVersionError` naming the path if it is missing, damaged or incompatible."""
    directory = Path(path)
    if not directory.is_dir():
        raise ResultsDirError(f"results directory {str(directory)!r} does not exist")
    file = directory / manifest_name
    if not file.is_file():
        raise ResultsDirError(
            f"{str(directory)!r} is not a habsburg results directory: it has no {manifest_name}"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ResultsDirError(f"{file}: cannot read the manifest ({err}); {_RERUN}") from None
    if not is_habsburg_manifest(data):
        raise ResultsDirError(f"{file}: cannot read the manifest: not one written by habsburg")
    fmt = data.get("format")
    written = str((data.get("versions") or {}).get("habsburg", "unknown"))
    if fmt is not None and fmt != RESULTS_FORMAT:
        raise ResultsVersionError(
            f"{str(directory)!r} was written by habsburg {written} (results format {fmt}); this "
            f"habsburg {_installed()} reads format {RESULTS_FORMAT}: {_RERUN} with this version"
        )
    if fmt is None and _major_minor(written) != _major_minor(_installed()):
        raise ResultsVersionError(
            f"{str(directory)!r} was written by habsburg {written}, not this {_installed()}: "
            f"{_RERUN} with this version"
        )
    if data.get("complete") is False:
        raise ResultsDirError(
            f"{str(directory)!r} is incomplete: writing it was interrupted; {_RERUN}"
        )
    return data


def check_results_dir(
    path: str | Path,
    *,
    tables: Iterable[str] | None = None,
    manifest_name: str = "manifest.json",
) -> dict[str, Any]:
    """Check results directory ``path`` before reading it and return its manifest.

    ``tables`` names the Parquet tables the reader needs (default: every ``.parquet`` file the
    manifest lists); each must exist with a readable footer and schema.
    """
    directory = Path(path)
    manifest = read_manifest_strict(directory, manifest_name)
    if tables is None:
        listed = manifest.get("files")
        names = (
            [f for f in listed if isinstance(f, str) and f.endswith(".parquet")]
            if isinstance(listed, list)
            else [p.name for p in directory.glob("*.parquet")]
        )
    else:
        names = [t if t.endswith(".parquet") else f"{t}.parquet" for t in tables]
    for name in names:
        file = directory / name
        if not file.is_file():
            raise ResultsDirError(f"{str(directory)!r}: table {name} is missing; {_RERUN}")
        try:
            pq.read_schema(file)
        except (OSError, pa.ArrowException) as err:
            raise ResultsDirError(f"{file}: damaged table ({err}); {_RERUN}") from None
    return manifest


def read_table(
    path: str | Path, columns: list[str] | None = None, steps: tuple[int, int] | None = None
) -> pd.DataFrame:
    """A Parquet table of a results directory, or a :class:`ResultsDirError` naming the file.
    ``steps = (first, last)`` keeps the rows of those month indices only (inclusive), reading
    only the row groups that can hold them (the table needs a ``step`` column)."""
    file = Path(path)
    if not file.is_file():
        raise ResultsDirError(f"{str(file.parent)!r}: table {file.name} is missing; {_RERUN}")
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
        return pd.read_parquet(file, columns=columns, filters=filters)
    except (OSError, ValueError, KeyError, pa.ArrowException) as err:
        raise ResultsDirError(f"{file}: damaged table ({err}); {_RERUN}") from None
