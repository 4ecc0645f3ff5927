"""Page checksums in tests (a plain module, imported as ``from checksums import ...``, like
``resultdirs``): flipping one bit inside a Parquet file's pages, and checking that a file
habsburg wrote carries a CRC32 checksum on every page it was given one for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq


def chunk_ends(file: Path) -> Iterator[tuple[str, int]]:
    """``(column, offset)`` of the last byte of every column chunk of the first and the last
    row group of ``file`` (that hold rows): a byte of the chunk's last page's values (its
    header comes first)."""
    metadata = pq.read_metadata(file)
    groups = sorted({0, metadata.num_row_groups - 1}) if metadata.num_row_groups else []
    for group in groups:
        row_group = metadata.row_group(group)
        if row_group.num_rows == 0:  # (its pages hold no values to damage)
            continue
        for i in range(row_group.num_columns):
            chunk = row_group.column(i)
            start = (
                chunk.dictionary_page_offset
                if chunk.has_dictionary_page and chunk.dictionary_page_offset
                else chunk.data_page_offset
            )
            yield chunk.path_in_schema, start + chunk.total_compressed_size - 1


def flip_bit(file: Path, offset: int, bit: int = 4) -> bytes:
    """Flip one bit of ``file`` at ``offset``; returns the bytes it held before."""
    before = file.read_bytes()
    damaged = bytearray(before)
    damaged[offset] ^= 1 << bit
    file.write_bytes(bytes(damaged))
    return before


def assert_checksummed(file: Path) -> int:
    """Every column chunk of ``file`` (first and last row group) has a checksum on its last
    page: one bit flipped in that page's values fails verification with pyarrow's CRC error.
    Without checksums the flip reads as another value or fails to decode, never as a CRC
    mismatch. The file is restored afterwards; returns the number of chunks checked."""
    checked = 0
    for column, offset in chunk_ends(file):
        before = flip_bit(file, offset)
        try:
            pq.ParquetFile(file, page_checksum_verification=True).read()
        except OSError as err:
            assert "CRC checksum verification failed" in str(err), (file.name, column, err)
        else:
            raise AssertionError(f"{file.name}: column {column} read with a bit flipped")
        finally:
            file.write_bytes(before)
        checked += 1
    return checked
