"""argparse ``type=`` callables for numeric flags that have a range.

A value out of range is refused by the parser itself, before any work, naming the flag and
the allowed values (``argument --repeat: must be an integer >= 1, got '0'``, exit 2), where a
plain ``type=int`` let ``--repeat 0`` or ``--workers 0`` through to a traceback minutes later.
The benchmark and example scripts use them; ``habsburg``'s own commands check their values
where the scenario is known (:mod:`habsburg.cli.run`). :func:`typed_command` gives the command
line as typed, and :func:`again_with_resume` the one that finishes an interrupted sweep,
sensitivity analysis or comparison."""

from __future__ import annotations

import argparse
import math
import shlex
from collections.abc import Callable


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer in ``[low, high]`` (no upper bound when ``high`` is None)."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def number(
    low: float = -math.inf,
    high: float = math.inf,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> Callable[[str], float]:
    """A finite number between ``low`` and ``high`` (each end closed unless ``open_...``)."""
    if math.isinf(low) and math.isinf(high):
        allowed = "a finite number"
    elif math.isinf(high):
        allowed = f"a finite number {'>' if open_low else '>='} {low:g}"
    else:
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        allowed = f"a number in {left}{low:g}, {high:g}{right}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        inside = (
            math.isfinite(value)
            and (value > low if open_low else value >= low)
            and (value < high if open_high else value <= high)
        )
        if not inside:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


#: a count of at least one (runs, seeds, workers, repetitions, months)
COUNT = integer(1)
#: a random seed (numpy's generators take integers >= 0)
SEED = integer(0)
#: a scale factor: finite and > 0
FACTOR = number(0.0, open_low=True)


def typed_command(args: argparse.Namespace, *, drop: str = "", add: str = "") -> str | None:
    """The command line as typed (``habsburg`` and the arguments the CLI parsed), without the
    flag ``drop`` and with the flag ``add`` once; None for a command function called from
    Python, without a command line."""
    argv = getattr(args, "argv", None)
    if argv is None:
        return None
    argv = [a for a in argv if a != drop]
    return shlex.join(["habsburg", *argv, *([add] if add and add not in argv else [])])


def again_with_resume(args: argparse.Namespace) -> str:
    """The command line that finishes an interrupted command: the one given, with ``--resume``
    (as typed: the default output directory of a sweep, sensitivity analysis or comparison is
    the same each time). Without the command line, says so in words."""
    return typed_command(args, add="--resume") or "the same command with --resume"
