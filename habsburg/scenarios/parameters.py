"""Typed parameters: one object per setting path, built once from the schema's declarations.

The schema (:mod:`habsburg.scenarios.schema`) declares every setting once with :func:`param`
(default, range or choices, help). This module turns each declaration into a :class:`Parameter`
with a ``kind`` (real, integer, categorical, boolean, month), its range or choices, its
description and whether it is fixed when a run starts. Sweeps, the SALib sensitivity problem,
EMA Workbench parameters and the viz sliders are thin adapters over these objects, and
:meth:`Parameter.validate` is the schema's own value check, so a bad value gets the same
message wherever it comes from.

Public API (stable; the viz and the experiment adapters use it)::

    params = parameters(scenario)          # {path: Parameter}, wildcard and per-item paths
    p = params["models.*.temperature"]     # a bad path raises the schema's ScenarioError
    p.path, p.kind, p.low, p.high, p.choices, p.default, p.description, p.fixed_at_start
    p.validate(1.5, where="spec.toml")     # returns the value (ints -> float for reals)
    p.bounds((0.1, 2.0)), p.categories()   # a given or the declared range / choices
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from habsburg.scenarios.declare import is_section
from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.schema import (
    FIXED_AT_START,
    MONTH_FIELDS,
    Scenario,
    _check_value,
    _fixed_at_start,
    check_setting,
    get_setting,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

REAL = "real"
INTEGER = "integer"
CATEGORICAL = "categorical"
BOOLEAN = "boolean"
MONTH = "month"
KINDS = (REAL, INTEGER, CATEGORICAL, BOOLEAN, MONTH)
#: the kind of a setting from its Python type (strings and lists of names are categorical)
KIND_OF_TYPE = {float: REAL, int: INTEGER, bool: BOOLEAN, str: CATEGORICAL}
#: fields of the Scenario that are not settings (bookkeeping, or their own schedule)
NOT_SETTINGS = ("source", "interventions")

__all__ = [
    "BOOLEAN",
    "CATEGORICAL",
    "FIXED_AT_START",
    "INTEGER",
    "KINDS",
    "MONTH",
    "REAL",
    "Parameter",
    "Parameters",
    "declarations",
    "parameter",
    "parameters",
]


@dataclass(frozen=True)
class Parameter:
    """One setting as a typed parameter.

    ``low``/``high`` bound numeric kinds (inclusive; ``None`` where the schema declares no
    bound), ``choices`` lists a categorical's allowed values (``None`` for free text such as a
    lab or model name, whose values must be listed) and is ``(False, True)`` for a boolean.
    ``default`` is the scenario's current value (of the first item, for ``*`` paths).
    """

    path: str
    kind: str
    default: Any
    description: str
    low: float | int | None = None
    high: float | int | None = None
    choices: tuple[Any, ...] | None = None
    fixed_at_start: bool = False
    #: the dataclass and field that declare it (what :meth:`validate` checks against)
    owner: type = dataclasses.field(default=object, repr=False, compare=False)
    field_name: str = dataclasses.field(default="", repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.path

    @property
    def numeric(self) -> bool:
        return self.kind in (REAL, INTEGER)

    def validate(self, value: Any, where: str = "") -> Any:
        """The value if the setting allows it (integers become floats for real settings);
        otherwise the schema's ScenarioError naming ``where``, the path and what is allowed."""
        f, hint = _declaration(self.owner, self.field_name)
        try:
            return _check_value(f, hint, value, self.path)
        except ScenarioError as err:
            raise ScenarioError(f"{where}: {err}" if where else str(err)) from None

    def bounds(self, given: Sequence[Any] | None = None, where: str = "") -> tuple[Any, Any]:
        """``(low, high)`` of a numeric parameter: ``given`` (each end validated) or else the
        declared range; an error for a non-numeric parameter, a missing or an empty range."""
        prefix = f"{where}: " if where else ""
        if not self.numeric:
            raise ScenarioError(
                f"{prefix}{self.path!r} is {self.kind}, not numeric; list its values"
            )
        if given is None:
            if self.low is None or self.high is None:
                raise ScenarioError(
                    f"{prefix}{self.path!r} has no declared range; give [low, high]"
                )
            return self.low, self.high
        if isinstance(given, str | bytes) or not isinstance(given, Sequence) or len(given) != 2:
            raise ScenarioError(f"{prefix}expected [low, high] for {self.path!r}, got {given!r}")
        low, high = (self.validate(v, where) for v in given)
        if low > high:
            raise ScenarioError(
                f"{prefix}range [{low}, {high}] of {self.path!r}: low is above high"
            )
        return low, high

    def categories(self, given: Sequence[Any] | None = None, where: str = "") -> tuple[Any, ...]:
        """The values to choose among: ``given`` (each validated) or else the declared choices
        (``(False, True)`` for a boolean); an error when neither exists."""
        prefix = f"{where}: " if where else ""
        if given is None:
            if self.choices is None:
                raise ScenarioError(
                    f"{prefix}{self.path!r} ({self.kind}) has no declared choices; it needs a "
                    "list of values"
                )
            return self.choices
        if isinstance(given, str | bytes) or not isinstance(given, Sequence) or not given:
            raise ScenarioError(f"{prefix}expected a non-empty list of values, got {given!r}")
        return tuple(self.validate(v, where) for v in given)


@functools.cache
def _hints(owner: type) -> dict[str, Any]:
    return typing.get_type_hints(owner)


@functools.cache
def _declaration(owner: type, name: str) -> tuple[dataclasses.Field, Any]:
    fields = {f.name: f for f in dataclasses.fields(owner)}
    return fields[name], _hints(owner)[name]


def _kind(f: dataclasses.Field, hint: Any) -> str:
    if f.metadata.get("choices") is not None:
        return CATEGORICAL
    if hint is str and f.name in MONTH_FIELDS:
        return MONTH
    return KIND_OF_TYPE.get(hint, CATEGORICAL)


def _section(hint: Any) -> tuple[type | None, bool]:
    """``(dataclass, is a list of items)`` of a section field, ``(None, False)`` for a value."""
    if is_section(hint):
        return hint, False
    args = typing.get_args(hint)
    if typing.get_origin(hint) is list and args and is_section(args[0]):
        return args[0], True
    return None, False


def _declare(owner: type, name: str, pattern: str) -> Parameter:
    f, hint = _declaration(owner, name)
    meta = f.metadata
    kind = _kind(f, hint)
    low, high = meta.get("low"), meta.get("high")
    if kind == REAL:
        low, high = (None if v is None else float(v) for v in (low, high))
    choices = meta.get("choices")
    if kind == BOOLEAN:
        choices = (False, True)
    if f.default is dataclasses.MISSING:
        assert f.default_factory is not dataclasses.MISSING  # every setting declares a default
        default = f.default_factory()
    else:
        default = f.default
    return Parameter(
        path=pattern,
        kind=kind,
        default=default,
        description=meta.get("help", ""),
        low=low if kind in (REAL, INTEGER) else None,
        high=high if kind in (REAL, INTEGER) else None,
        choices=None if choices is None else tuple(choices),
        fixed_at_start=_fixed_at_start(pattern),
        owner=owner,
        field_name=name,
    )


def _walk(owner: type, prefix: str) -> Iterator[tuple[str, Parameter]]:
    hints = _hints(owner)
    for f in dataclasses.fields(owner):
        if f.name == "name" or (owner is Scenario and f.name in NOT_SETTINGS):
            continue  # names identify items: they cannot be set
        path = f"{prefix}{f.name}"
        section, is_list = _section(hints[f.name])
        if section is None:
            yield path, _declare(owner, f.name, path)
        else:
            yield from _walk(section, f"{path}.*." if is_list else f"{path}.")


@functools.cache
def declarations() -> dict[str, Parameter]:
    """Every declared setting by its pattern path (``models.*.temperature``), with the schema's
    defaults: built once from the schema."""
    return dict(_walk(Scenario, ""))


class Parameters(dict[str, Parameter]):
    """The parameters of one scenario by path. Looking up a path it does not hold raises the
    schema's ScenarioError for that path (unknown key with a close match, unknown item, a name)."""

    def __init__(self, scenario: Scenario, items: dict[str, Parameter]) -> None:
        super().__init__(items)
        self.scenario = scenario

    def __missing__(self, path: str) -> Parameter:
        if not isinstance(path, str) or not path:
            raise ScenarioError(
                f"expected a setting path such as 'watermark.adoption', got {path!r}"
            )
        check_setting(self.scenario, path, get_setting(self.scenario, path))
        raise ScenarioError(f"{path!r} is not a setting a run can be given")


def _instances(obj: DataclassInstance, prefix: str, pattern: str) -> Iterator[tuple[str, str, Any]]:
    """``(path, pattern, value)`` of every setting of a scenario object, items by name."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        if f.name == "name" or (isinstance(obj, Scenario) and f.name in NOT_SETTINGS):
            continue
        path, pat = f"{prefix}{f.name}", f"{pattern}{f.name}"
        value = getattr(obj, f.name)
        section, is_list = _section(hints[f.name])
        if section is None:
            yield path, pat, value
        elif not is_list:
            yield from _instances(value, f"{path}.", f"{pat}.")
        elif value:
            yield from _instances(value[0], f"{path}.*.", f"{pat}.*.")
            for item in value:
                yield from _instances(item, f"{path}.{item.name}.", f"{pat}.*.")


def parameters(scenario: Scenario) -> Parameters:
    """Every setting of ``scenario`` as a typed parameter, by path: ``*`` paths for each list
    section (``models.*.temperature``, default: the first item's value) and one path per named
    item (``models.gpt-a.temperature``). A section with no items has no paths."""
    table = declarations()
    return Parameters(
        scenario,
        {
            path: dataclasses.replace(
                table[pattern],
                path=path,
                default=list(value)
                if isinstance(value, list)
                else value,  # not the scenario's list
                fixed_at_start=_fixed_at_start(path),
            )
            for path, pattern, value in _instances(scenario, "", "")
        },
    )


def parameter(scenario: Scenario, path: str, where: str = "") -> Parameter:
    """The typed parameter at ``path`` of ``scenario``; a bad path raises the schema's error
    (prefixed with ``where``)."""
    try:
        return parameters(scenario)[path]
    except ScenarioError as err:
        raise ScenarioError(f"{where}: {err}" if where else str(err)) from None
