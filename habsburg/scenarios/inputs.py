"""Reading the text files users give habsburg (scenario files, sweep/sensitivity/calibration
specs), with one clear :class:`~habsburg.scenarios.errors.InputFileError` for each way a file can
be unreadable: missing, a directory, too large, binary, not UTF-8, empty. What the text says is
the parser's business (a truncated TOML file is a TOML error naming the line)."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habsburg.scenarios.errors import InputFileError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: larger than any scenario or spec a person writes; refuses e.g. a data file given by mistake
MAX_BYTES = 8 * 2**20

#: what was read of each pipe given as an input (``habsburg run <(...)``), by its path and
#: identity: a pipe can be read once, and both the look at a scenario's mode and its loader
#: read it (at most ``MAX_BYTES + 1`` bytes each)
_PIPES: dict[tuple[str, int, int], bytes] = {}


def is_file(path: str | Path | Traversable) -> bool:
    """Whether ``path`` names a regular file; False, not an error, for a name the system cannot
    look up (longer than a file name may be, or holding a NUL byte), so that such a name is
    refused as the library name or the file it was meant as, naming where it came from."""
    try:
        return (Path(path) if isinstance(path, str) else path).is_file()
    except (OSError, ValueError):
        return False


def read_text_file(path: str | Path, what: str = "scenario file") -> str:
    """The UTF-8 text of ``path`` (a ``what``), or an :class:`InputFileError` naming the file."""
    path = Path(path)
    label = f"{what} {str(path)!r}"
    try:
        if path.is_dir():
            raise InputFileError(f"{label} is a directory, not a file")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputFileError(
                f"{label} is {size / 2**20:.0f} MiB, too large for a {what} "
                f"(at most {MAX_BYTES // 2**20} MiB); is it the right file?"
            )
        # at most one byte past the limit: a device or a pipe has no size to check first
        # (`/dev/zero` was read until memory ran out); `<(...)` still reads as a file
        data = _read_bytes(path)
        if len(data) > MAX_BYTES:
            raise InputFileError(
                f"{label} holds more than {MAX_BYTES // 2**20} MiB, too much for a {what}; is "
                "it the right file?"
            )
    except FileNotFoundError:
        raise InputFileError(f"{label} does not exist") from None
    except OSError as err:
        raise InputFileError(f"cannot read {label}: {err.strerror or err}") from None
    if b"\x00" in data:
        raise InputFileError(f"{label} is a binary file, not TOML text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputFileError(
            f"{label} is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line}); save it "
            "as UTF-8"
        ) from None
    if not text.strip():
        raise InputFileError(f"{label} is empty")
    return text


def _read_bytes(path: Path) -> bytes:
    """At most ``MAX_BYTES + 1`` bytes of ``path``; a pipe's are kept (:data:`_PIPES`) and
    given again to the next read of it."""
    key = _pipe(path)
    if key is not None and key in _PIPES:
        return _PIPES[key]
    with path.open("rb") as stream:
        data = stream.read(MAX_BYTES + 1)
    if key is not None:
        _PIPES[key] = data
    return data


def _pipe(path: str | Path) -> tuple[str, int, int] | None:
    """``path``'s key in :data:`_PIPES` when it is a pipe (None otherwise)."""
    try:
        status = Path(path).stat()
    except (OSError, ValueError):
        return None
    return (str(path), status.st_dev, status.st_ino) if stat.S_ISFIFO(status.st_mode) else None


def sniff_toml(path: str | Path) -> dict[str, Any] | None:
    """The TOML mapping of regular file or pipe ``path``, read as :func:`read_text_file` reads
    it, for a look before it is loaded (which loader reads it); None when it is neither or is
    refused there or by the parser: the loader then names the problem. A device is never read
    here (`/dev/zero` was read until memory ran out); a pipe's text is kept for its loader (a
    text-mode scenario from ``<(...)`` was sent to the abstract loader, which refused it)."""
    if not is_file(path) and _pipe(path) is None:
        return None
    try:
        return tomllib.loads(read_text_file(path))
    except (InputFileError, tomllib.TOMLDecodeError):
        return None
