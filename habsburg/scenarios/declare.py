"""How a scenario setting is declared: :func:`param` (default, range or choices, help text) and
the month format every date setting uses. The bottom of the declarations layer."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import field
from typing import TYPE_CHECKING, Any, TypeGuard

from habsburg.scenarios.errors import ScenarioError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

#: the largest seed a scenario, a sweep or ``--seed`` takes (numpy seeds any non-negative
#: integer; a run's tables keep the seed as an int64)
MAX_SEED = 2**63 - 1


def is_section(hint: object) -> TypeGuard[type[DataclassInstance]]:
    """Whether a field's type hint names a section or item (a dataclass; a hint is a class,
    never an instance)."""
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def param(
    default: Any,
    low: float | None = None,
    high: float | None = None,
    help: str = "",
    *,
    choices: tuple | None = None,
    factory: Any = None,
) -> Any:
    """A scenario parameter: default, allowed range (inclusive) or choices, and help text."""
    meta = {"low": low, "high": high, "help": help, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


DATE_RE = re.compile(r"^(\d{4})-(\d{2})$")
#: string settings that hold a month (``YYYY-MM``)
MONTH_FIELDS = ("start", "end", "chatbot_launch", "launch")


def parse_month(text: str, where: str) -> tuple[int, int]:
    m = DATE_RE.match(str(text))
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ScenarioError(f"{where}: expected a month as 'YYYY-MM', got {text!r}")
    return int(m.group(1)), int(m.group(2))
