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

if TYPE_CHECKING:
    import numpy.typing as npt

_PAGE = mmap.PAGESIZE


class FileColumn(Column):
    """A column kept in a memory-mapped file under ``directory`` (a new file when it grows)."""

    #: the previous file, to drop once :meth:`_resize` has copied it (set while it grows)
    _drop_after_copy: Path | None

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

    def _resize(self, dtype: np.dtype, capacity: int) -> None:
        super()._resize(dtype, capacity)
        old = getattr(self, "_drop_after_copy", None)
        if old is not None:
            old.unlink(missing_ok=True)
            self._drop_after_copy = None

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
        path = self.directory / f"{self.name}.{self.generation}.bin"
        return os.stat(path).st_blocks * 512 if path.exists() else 0


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
