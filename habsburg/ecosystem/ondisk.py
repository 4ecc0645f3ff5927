"""A document store whose columns live in files, for runs larger than memory (``scaled(baseline,
100)``: about 200 M documents).

Documents are appended in month order, so each month is a contiguous run of rows in every
column: a column file is a sequence of month partitions. Each column is a memory-mapped file
(numpy ``memmap``; the reservation is a sparse file, so disk is used only as documents arrive).
At the start of every month the rows of months crawls can no longer reach (older than the
longest ``window_months``, plus a margin) are flushed and dropped from the process's memory
(``madvise(MADV_DONTNEED)``); what training sets or analyses later read of them is paged back in
lazily, a page at a time, and the kernel may drop it again. The in-memory working set is thus the
crawl window, not the whole web. Results are the same as with the in-memory store (same types,
same rows); :func:`habsburg.model.export.write_tables` streams them to Parquet in row groups.

A checkpoint (a pickle of the model) holds each column as a reference to its file, not its rows:
the file is flushed to disk when it is pickled and reopened when the checkpoint is loaded, so a
100× run checkpoints in seconds. Rows are only ever appended, so the file's first ``size`` rows
are the column as it was at the checkpoint; what a run appended after it is written again, with
the same values, when the run resumes. A file a checkpoint refers to is kept when its column
grows into a new one. The files are trusted as the run's own (a checkpoint checks that they are
there and large enough, not their contents: hashing them would cost minutes at 100×).
"""

from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from habsburg.ecosystem.columns import Column, file_column
from habsburg.ecosystem.store import DocumentStore
from habsburg.scenarios.errors import CheckpointError

if TYPE_CHECKING:
    import numpy.typing as npt

_PAGE = mmap.PAGESIZE


def allocated_bytes(path: Path) -> int:
    """Bytes the file at ``path`` takes on disk: its allocated blocks, not its length (a column
    file reserved ahead is sparse until rows are written); 0 when it does not exist."""
    return os.stat(path).st_blocks * 512 if path.exists() else 0


class FileColumn(Column):
    """A column kept in a memory-mapped file under ``directory`` (a new file when it grows)."""

    #: the previous file, to drop once :meth:`_resize` has copied it (set while it grows)
    _drop_after_copy: Path | None
    #: the generation a checkpoint refers to (its file is kept when the column grows)
    _pinned: int = 0

    def __init__(self, directory: Path, name: str, *args: Any, **kwargs: Any) -> None:
        self.directory = Path(directory)
        self.name = name
        self.generation = 0
        super().__init__(*args, **kwargs)

    def _allocate(self, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        self.generation += 1
        path = self.directory / f"{self.name}.{self.generation}.bin"
        old = self.directory / f"{self.name}.{self.generation - 1}.bin"
        data = np.memmap(path, dtype=dtype, mode="w+", shape=shape)
        if old.exists():  # the previous file is copied by _resize, then dropped
            self._drop_after_copy = old
        return data

    @property
    def path(self) -> Path:
        """The file of the column's current generation."""
        return self.directory / f"{self.name}.{self.generation}.bin"

    def _resize(self, dtype: np.dtype, capacity: int) -> None:
        super()._resize(dtype, capacity)
        old = getattr(self, "_drop_after_copy", None)
        if old is not None:
            if self.generation - 1 != self._pinned:  # (a checkpoint's file stays)
                old.unlink(missing_ok=True)
            self._drop_after_copy = None

    def __getstate__(self) -> dict:
        """A checkpoint holds the file's name, type and shape, not its rows: the file is flushed
        (so the rows are on disk with the checkpoint) and kept while the column lives."""
        if isinstance(self.data, np.memmap):  # (always: _allocate maps a file)
            self.data.flush()
        self._pinned = self.generation
        return {
            "directory": str(self.directory),
            "name": self.name,
            "generation": self.generation,
            "dtype": self.data.dtype.str,
            "shape": self.data.shape,
            "size": self.size,
            "widen": self.widen,
        }

    def __setstate__(self, state: dict) -> None:
        """Reopen the file a checkpoint refers to (refused, naming it, when it is missing or
        shorter than the checkpoint's column)."""
        self.directory, self.name = Path(state["directory"]), state["name"]
        self.generation = self._pinned = state["generation"]
        self.size, self.widen = state["size"], state["widen"]
        dtype, shape = np.dtype(state["dtype"]), tuple(state["shape"])
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        path = self.path
        try:
            have = path.stat().st_size
        except OSError as err:
            have, problem = -1, err.strerror or str(err)
        else:
            problem = f"{have:,} bytes, the checkpoint needs {need:,}"
        if have < need:
            raise CheckpointError(
                f"the document store file {str(path)!r} of this checkpoint cannot be used "
                f"({problem}): the column files of a run with --store-dir must stay where the "
                "run left them until it is resumed"
            )
        self.data = np.memmap(path, dtype=dtype, mode="r+", shape=shape)

    def release(self, rows: int) -> None:
        """Write the first ``rows`` rows to disk and drop them from memory (read back lazily)."""
        row_bytes = self.data.itemsize * int(np.prod(self.data.shape[1:], dtype=np.int64))
        length = (rows * row_bytes) // _PAGE * _PAGE
        mm = getattr(self.data, "_mmap", None)
        if length <= 0 or mm is None:
            return
        mm.flush(0, length)
        mm.madvise(mmap.MADV_DONTNEED, 0, length)

    @property
    def disk_bytes(self) -> int:
        return allocated_bytes(self.path)


class OnDiskStore(DocumentStore):
    """:class:`DocumentStore` with file-backed columns in ``directory`` (a new temporary one when
    None); months older than ``keep_months`` before the current one are kept out of memory.

    ``OnDiskStore.for_scenario(sc, directory=...)`` sizes it like the in-memory store.
    """

    def __init__(
        self,
        *args: Any,
        directory: str | Path | None = None,
        keep_months: int | None = None,
        **kw: Any,
    ) -> None:
        self._tmp = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="habsburg-store-")
            directory = self._tmp.name
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        super().__init__(*args, **kw)
        #: months kept in memory behind the current one (default: the crawl window + 1)
        self.keep_months = keep_months if keep_months is not None else (self.site_window or 24) + 1

    def _column(
        self, name: str, dtype: npt.DTypeLike, width: int | None = None, **kw: Any
    ) -> Column:
        return FileColumn(self.directory, name, dtype, width, **kw)

    def __getstate__(self) -> dict:
        """Checkpoints refer to the column files (see the module's notes); a store in a
        temporary directory of its own (none was given) cannot be checkpointed: the directory
        goes with the store."""
        if self._tmp is not None:
            raise ValueError(
                "an on-disk store in a temporary directory of its own cannot be checkpointed; "
                "give it a directory (EcosystemModel(store_dir=...))"
            )
        return super().__getstate__()

    def begin_step(self, step: int) -> None:
        super().begin_step(step)
        oldest = step - self.keep_months
        if oldest > 0:
            self.release(self.step_slice(oldest).start)

    def release(self, rows: int) -> None:
        """Drop documents ``0 .. rows-1`` (and their ragged values) from memory."""
        for col in self._cols.values():
            file_column(col).release(rows)
        file_column(self._concepts).release(self._concept_offsets[rows])
        n_claims = self._claim_offsets[rows]
        for claims in (self._claims, self._claim_errors):
            if claims is not None:
                file_column(claims).release(n_claims)
        self._concept_offsets.release(rows)
        self._claim_offsets.release(rows)
        n_reposts = self._reposts.count_before(rows)
        for col in self._reposts.columns:
            file_column(col).release(n_reposts)

    @property
    def disk_bytes(self) -> int:
        """Bytes the column files take on disk."""
        return sum(file_column(c).disk_bytes for c in self.all_columns())
