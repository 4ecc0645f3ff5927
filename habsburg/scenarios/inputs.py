"""Reading the text files users give habsburg (scenario files, sweep/sensitivity/calibration
specs), with one clear :class:`~habsburg.scenarios.errors.InputFileError` for each way a file can
be unreadable: missing, a directory, too large, binary, not UTF-8, empty. What the text says is
the parser's business (a truncated TOML file is a TOML error naming the line)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habsburg.scenarios.errors import InputFileError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: larger than any scenario or spec a person writes; refuses e.g. a data file given by mistake
MAX_BYTES = 8 * 2**20


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
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
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


def sniff_toml(path: str | Path) -> dict[str, Any] | None:
    """The TOML mapping of regular file ``path``, read as :func:`read_text_file` reads it, for a
    look before it is loaded (which loader reads it); None when it is not a regular file or is
    refused there or by the parser: the loader then names the problem. A device or a pipe is
    never read here (`/dev/zero` was read until memory ran out, and a pipe read here was empty
    for the loader)."""
    if not is_file(path):
        return None
    try:
        return tomllib.loads(read_text_file(path))
    except (InputFileError, tomllib.TOMLDecodeError):
        return None
