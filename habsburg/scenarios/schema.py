"""Scenario schema: TOML validated into typed dataclasses.

Every parameter is declared once, as a dataclass field with its range and a one-line help
(``field(metadata=...)`` through :func:`~habsburg.scenarios.declare.param`), in
:mod:`habsburg.scenarios.sections`; this module builds, validates, loads and edits scenarios
(re-exporting the sections). The TOML loader, the interventions, the sweep
specs and the viz sliders all read these declarations, so a bad value gets the same error wherever
it comes from: the file, the key, the allowed values.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import difflib
import math
import re
import tomllib
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habsburg.scenarios.declare import (  # noqa: F401
    DATE_RE,
    MONTH_FIELDS,
    is_section,
    param,
    parse_month,
)
from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.inputs import read_text_file
from habsburg.scenarios.sections import (  # noqa: F401  (the sections, re-exported)
    WORKFLOWS,
    AdoptionCurve,
    ClassifierScoreConfig,
    DataPolicy,
    DemandConfig,
    DetectorConfig,
    EditConfig,
    FarmConfig,
    FilterConfig,
    HumanConfig,
    InstrumentsConfig,
    Intervention,
    LabConfig,
    MeasurementConfig,
    ModelConfig,
    Scenario,
    ScraperConfig,
    WatermarkConfig,
    WebConfig,
    Workflow,
    WorldConfig,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from _typeshed import DataclassInstance

    _T = typing.TypeVar("_T", bound=DataclassInstance)


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _close(key: str, options: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _check_value(f: dataclasses.Field, hint: Any, value: Any, where: str) -> Any:
    """Type- and range-check one scalar value; returns it coerced (int -> float)."""
    meta = f.metadata
    origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{where}: expected true or false, got {value!r}")
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{where}: expected an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(f"{where}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ScenarioError(f"{where}: expected a finite number, got {value!r}")
    elif hint is str:
        if not isinstance(value, str):
            raise ScenarioError(f"{where}: expected a string, got {value!r}")
    elif origin is list and typing.get_args(hint)[0] is str:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ScenarioError(f"{where}: expected a list of strings, got {value!r}")
    elif origin is dict:
        if not isinstance(value, dict):
            raise ScenarioError(f"{where}: expected a table, got {value!r}")
    low, high, choices = meta.get("low"), meta.get("high"), meta.get("choices")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (low is not None and value < low) or (high is not None and value > high):
            raise ScenarioError(f"{where}: {value!r} is out of range; allowed [{low}, {high}]")
    if choices is not None and value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ScenarioError(f"{where}: {value!r} is not allowed; choose one of {allowed}")
    if f.name in MONTH_FIELDS and hint is str:
        parse_month(value, where)
    if f.name == "at" and value:
        parse_month(value, where)
    return value


def build(cls: type[_T], data: dict[str, Any], where: str) -> _T:
    """Build dataclass ``cls`` from a mapping, checking keys, types and ranges."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            raise ScenarioError(
                f"unknown key {path!r}{_close(key, fields)}; allowed: {', '.join(fields)}"
            )
        hint = hints[key]
        if is_section(hint):
            kwargs[key] = build(hint, value, path)
        elif typing.get_origin(hint) is list and is_section(typing.get_args(hint)[0]):
            item_cls = typing.get_args(hint)[0]
            if not isinstance(value, list):
                raise ScenarioError(
                    f"{path}: expected an array of tables ([[{key}]]), got {value!r}"
                )
            kwargs[key] = [build(item_cls, v, f"{path}[{i}]") for i, v in enumerate(value)]
        else:
            kwargs[key] = _check_value(fields[key], hint, value, path)
    return cls(**kwargs)


#: the most months a run can span and the most [[models]] it can have: the document store keeps
#: a document's month in 16 bits and its model in 8 (``habsburg.ecosystem.columns``), and refused
#: more only when the run was built, after its results directory was made (the scenarios layer
#: cannot import the store: tests/ecosystem/test_store.py checks that the two agree)
MAX_MONTHS = 2**15 - 1
MAX_MODELS = 2**7 - 1


def _validate_references(sc: Scenario, where: str) -> None:
    def names(
        items: Sequence[LabConfig | ModelConfig | ScraperConfig | FarmConfig], kind: str
    ) -> set[str]:
        seen = set()
        for item in items:
            if item.name in seen:
                raise ScenarioError(f"{where}: duplicate {kind} name {item.name!r}")
            seen.add(item.name)
        return seen

    labs = names(sc.labs, "lab")
    models = names(sc.models, "model")
    scrapers = names(sc.scrapers, "scraper")
    names(sc.farms, "farm")
    if sc.steps < 1:
        raise ScenarioError(
            f"{where}: end ({sc.end}) must not be before start ({sc.start}); zero steps"
        )
    if sc.steps > MAX_MONTHS:
        raise ScenarioError(
            f"{where}: start ({sc.start}) .. end ({sc.end}) is {sc.steps:,} months; the document "
            f"store holds at most {MAX_MONTHS:,}: move end closer to start"
        )
    if len(sc.models) > MAX_MODELS:
        raise ScenarioError(
            f"{where}: {len(sc.models)} [[models]]; the document store holds at most {MAX_MODELS}"
        )
    for i, m in enumerate(sc.models):
        key = f"models[{i}]"
        if sc.month_to_step(m.launch, f"{key}.launch") >= sc.steps:
            raise ScenarioError(
                f"{where}: {key}.launch ({m.launch}) is after the run's last month (end = "
                f"{sc.end}): model {m.name!r} would never be deployed; launch it by {sc.end} "
                "or leave it out"
            )
        if m.lab not in labs:
            raise ScenarioError(f"{where}: {key}.lab {m.lab!r} is not a lab; labs: {sorted(labs)}")
    _validate_data_policies(sc, where, models, scrapers)
    _validate_mixes(sc, where)
    _validate_shares(sc, where)
    _validate_interventions(sc, where)
    _validate_after_interventions(sc, where)


#: a data policy's shares of its training budget (at most 1 together)
BUDGET_SHARES = ("human_reservoir", "sensor_fraction", "distill_fraction")


def _validate_data_policies(sc: Scenario, where: str, models: set[str], scrapers: set[str]) -> None:
    """Each model's data policy names existing scrapers and models and asks for at most its
    whole budget."""
    for i, m in enumerate(sc.models):
        key = f"models[{i}]"
        for s in m.data.scrapers:
            if s not in scrapers:
                raise ScenarioError(
                    f"{where}: {key}.data.scrapers names {s!r}{_close(s, scrapers)}; scrapers: {sorted(scrapers)}"
                )
        if m.data.distill_from and m.data.distill_from not in models:
            raise ScenarioError(
                f"{where}: {key}.data.distill_from {m.data.distill_from!r} is not a model; models: {sorted(models)}"
            )
        shares = {f: getattr(m.data, f) for f in BUDGET_SHARES}
        total = sum(shares.values())
        if total > 1.0 + 1e-9:  # (each share named by its path, so a [set] note can find it)
            raise ScenarioError(
                f"{where}: {' + '.join(f'{key}.data.{f}' for f in shares)} = "
                f"{' + '.join(f'{v:g}' for v in shares.values())} = {total:g} > 1 "
                f"(model {m.name!r}: shares of its training budget)"
            )


def _intervention_step(sc: Scenario, i: int) -> int:
    """The month index intervention ``i`` applies at (its ``at_step``, or its ``at`` month)."""
    iv = sc.interventions[i]
    return iv.at_step if iv.at_step >= 0 else sc.month_to_step(iv.at, f"interventions[{i}].at")


def _validate_interventions(sc: Scenario, where: str) -> None:
    # (step, path) -> the intervention changing it, and how (set, times)
    first_set: dict[tuple[int, str], tuple[int, str]] = {}
    for i, iv in enumerate(sc.interventions):
        key = f"interventions[{i}]"
        if (iv.at == "") == (iv.at_step < 0):
            raise ScenarioError(f"{where}: {key} needs exactly one of 'at' (YYYY-MM) or 'at_step'")
        step = _intervention_step(sc, i)
        if not 0 <= step < sc.steps:
            raise ScenarioError(
                f"{where}: {key} applies at step {step}, outside the run (0..{sc.steps - 1})"
            )
        if not iv.set and not iv.times:
            raise ScenarioError(
                f"{where}: {key} changes nothing; name at least one setting in its set (a new "
                "value) or times (a factor)"
            )
        changes = [("set", path, value) for path, value in iv.set.items()]
        changes += [("times", path, factor) for path, factor in iv.times.items()]
        for table, path, value in changes:
            if table == "set":
                check_setting(sc, path, value, f"{where}: {key}.set")
            else:
                check_factor(sc, path, value, f"{where}: {key}.times")
            earlier, how = first_set.setdefault((step, path), (i, table))
            if (earlier, how) != (i, table):  # two changes of one setting in one month
                verb = "set" if how == "set" else "multiplied"
                other = "its set" if earlier == i else f"interventions[{earlier}]"
                raise ScenarioError(
                    f"{where}: {key}.{table}: {path!r} is also {verb} by {other} at the same "
                    f"month ({sc.step_to_month(step)}); give each setting one change a month"
                )
            if _fixed_at_start(path):
                raise ScenarioError(
                    f"{where}: {key}.{table}: {path!r} is fixed when the run starts and cannot "
                    f"be changed by an intervention (fixed: {', '.join(FIXED_AT_START)})"
                )


def _validate_after_interventions(sc: Scenario, where: str) -> None:
    """The scenario as each month's interventions leave it (applied as the model applies them:
    by month, then as listed) passes the checks its file passed. Each value of an intervention
    is checked alone, so a data policy buying from a scraper that does not exist (or distilling
    from no model, or more than its whole budget) ran without a word from that month on."""
    if not sc.interventions:
        return
    state = copy.deepcopy(sc)
    models = {m.name for m in sc.models}
    scrapers = {s.name for s in sc.scrapers}
    months: dict[int, list[int]] = {}
    for i in range(len(sc.interventions)):
        months.setdefault(_intervention_step(sc, i), []).append(i)
    for step in sorted(months):
        for i in months[step]:
            iv = sc.interventions[i]
            for path, value in iv.set.items():
                set_setting(state, path, value)
            for path, factor in iv.times.items():
                try:  # (the value it multiplies is that month's: after earlier interventions)
                    multiply_setting(state, path, factor)
                except ScenarioError as err:
                    raise ScenarioError(
                        f"{where}: interventions[{i}].times ({sc.step_to_month(step)}): {err}"
                    ) from None
        which = ", ".join(str(i) for i in months[step])
        after = f"{where}: after interventions[{which}] ({sc.step_to_month(step)})"
        _validate_data_policies(state, after, models, scrapers)
        _validate_mixes(state, after)
        _validate_shares(state, after)


def _validate_shares(sc: Scenario, where: str) -> None:
    """An adoption curve whose level is a share (of authors) saturates at most at 1: the range
    of a curve's ceiling is a count's (documents a month), so it is checked here."""
    ceiling = sc.humans.assistant.ceiling
    if ceiling > 1:
        raise ScenarioError(
            f"{where}: humans.assistant.ceiling: {ceiling!r} is more than 1; the curve's level "
            "is the share of authors using an assistant, so its ceiling is at most 1 (1: all "
            "of them, in time)"
        )


def _validate_mixes(sc: Scenario, where: str) -> None:
    """Workflow mixes name each workflow once with some weight; detectors read humans below
    machines."""
    for key, mix in (
        ("humans.workflows", sc.humans.workflows),
        ("demand.workflows", sc.demand.workflows),
    ):
        names = [w.name for w in mix]
        if len(set(names)) != len(names):
            raise ScenarioError(f"{where}: {key} names a workflow twice: {names}")
        if mix and sum(w.weight for w in mix) <= 0:  # (each weight by its path: a [set] note)
            weights = ", ".join(f"{key}[{i}].weight" for i in range(len(mix)))
            raise ScenarioError(
                f"{where}: {key}: the weights sum to 0 ({weights}); give one a weight > 0"
            )
    for name in ("graphite", "ahrefs", "liang"):
        d, at = getattr(sc.instruments, name), f"instruments.{name}"
        if d.floor >= d.ceiling:  # (both named by their paths, so a [set] note can find them)
            raise ScenarioError(
                f"{where}: {at}.floor ({d.floor:g}) must be below {at}.ceiling ({d.ceiling:g})"
            )


#: settings read only when a run is built (an intervention cannot change them)
FIXED_AT_START = (
    "name",
    "seed",
    "start",
    "end",
    "chatbot_launch",
    "world.*",
    "web.*",
    "humans.authors",
    "farms.*.sites",
    "farms.*.link_spam",
    "farms.*.link_farm_size",
    "scrapers.*.aggregator_sites",
    "models.*.launch",
    "models.*.lab",
)


def _fixed_at_start(path: str) -> bool:
    parts = path.split(".")
    for pattern in FIXED_AT_START:
        pat = pattern.split(".")
        if pat[-1] == "*" and len(parts) >= len(pat) - 1 and pat[:-1] == parts[: len(pat) - 1]:
            return True
        if len(pat) == len(parts) and all(p in ("*", q) for p, q in zip(pat, parts, strict=True)):
            return True
    return False


def load_text(text: str, source: str = "<string>", base_dir: Path | None = None) -> Scenario:
    """Parse and validate TOML text (``base_dir``: where a file it starts from is looked for
    first, as in :func:`from_dict`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{source}: malformed TOML: {err}") from None
    return from_dict(data, source, base_dir)


def from_dict(
    data: dict[str, Any], source: str = "<dict>", base_dir: Path | None = None
) -> Scenario:
    """Build and validate a scenario from a mapping (a TOML file's tables); every error names
    ``source`` and the key.

    A mapping with a ``scenario`` key starts from that scenario (:data:`DERIVED_KEYS`): a
    library name, or a file looked for in ``base_dir`` first (a file's own directory), then as
    given. Its ``[remove]``, ``[times]``, ``[add]`` and ``[set]`` change the base from the
    start, in that order, its ``[[interventions]]`` come after the base's
    (``keep_interventions = false`` drops those), and the result is validated as a whole, as if
    every setting were written out.
    """
    if isinstance(data, dict) and data.get("mode") == "text":  # (was "unknown key 'mode'")
        raise text_mode_refusal(source)
    inherited, base = 0, None  # the scenario this one starts from, its interventions (first)
    changes: dict[str, dict[str, Any]] = {}  # its [remove], [times], [add] and [set], parsed
    if isinstance(data, dict) and "scenario" in data:
        base = data["scenario"]
        data, inherited, changes, chain = _derived(data, source, base_dir)
    elif isinstance(data, dict):
        for key in ("set", "keep_interventions"):
            if key in data:  # (keys of a file that starts from another, without its scenario)
                raise ScenarioError(
                    f"{source}: key {key!r} is for a scenario that starts from another: add "
                    "scenario = NAME|FILE (the one it starts from), or write the settings in "
                    "their sections"
                )
    try:
        try:
            sc = build(Scenario, data, "")
            for i, iv in enumerate(sc.interventions):  # nested tables read as dotted paths
                iv.set = setting_table(iv.set, f"interventions[{i}].set")
                iv.times = setting_table(iv.times, f"interventions[{i}].times")
        except ScenarioError as err:
            raise ScenarioError(f"{source}: {err}") from None
        sc.source = source
        if base is not None:  # (outside the settings: not in to_dict, fingerprints or listings)
            vars(sc)[_CHAIN] = chain
        check_name(sc.name, f"{source}: name")
        _validate_references(sc, source)
    except ScenarioError as err:
        if inherited and "interventions[" in str(err):
            raise ScenarioError(
                f"{err} (interventions[0..{inherited - 1}] are those of the scenario it starts "
                f"from, {base!r}; the file's own are numbered from {inherited})"
            ) from None
        gone = [  # (the items its [remove] takes out, by list)
            f"{path} {n}"
            for path, names in changes.get("remove", {}).items()
            for n in names
            if f"'{n}'" in str(err)
        ]
        if gone:  # (a setting of the base still names an item the file takes out)
            raise ScenarioError(
                f"{err} ([remove] takes out {', '.join(gone)}: change what names it in [set])"
            ) from None
        # (the settings its [times] and [set] change)
        notes = setting_notes(str(err), {k: changes.get(k, {}) for k in ("times", "set")}, data)
        unknown = re.search(r"; (labs|models|scrapers): \[", str(err))
        if base is not None and unknown:  # (an item named that neither the base nor the file has)
            notes.append(f"[[add.{unknown[1]}]] adds one the base lacks")
        if notes:  # (the whole scenario's check names items by index: which line of the file)
            raise ScenarioError(f"{err} ({'; '.join(notes)})") from None
        raise
    return sc


def setting_notes(
    message: str,
    tables: dict[str, Iterable[str]],
    data: dict[str, Any],
    whose: str = "the file's",
    cls: type | None = None,
    by_index: bool = False,
) -> list[str]:
    """The notes that name which keys of a file's tables (``{"set": paths, ...}``) a whole
    scenario's refusal ``message`` is about (``from the file's [set] 'models.*.top_p'``), for
    the scenario ``data`` the tables changed (:func:`_names_setting` for ``cls`` and
    ``by_index``); ``whose``: the file's or the spec's."""
    return [
        f"from {whose} [{table}] {path!r}"
        for table, paths in tables.items()
        for path in paths
        if _names_setting(message, path, data, cls, by_index)
    ]


def _names_setting(
    message: str, path: str, data: dict[str, Any], cls: type | None = None, by_index: bool = False
) -> bool:
    """Whether ``message`` (a whole scenario's refusal, which names items by their index:
    ``models[0].data.scrapers``) is about setting ``path`` (``models.nw-chat.data.scrapers``,
    or ``models.*.data.scrapers``) of the scenario ``data``, whose sections are ``cls``'s
    (default: an abstract :class:`Scenario`'s); ``by_index``: a path may pick an item by its
    index, as a text scenario's does (``models.0.top_p``, before a model named ``0``)."""
    for lists in item_lists(cls):
        if path.startswith(f"{lists}."):
            name, _, rest = path[len(lists) + 1 :].partition(".")
            items: Any = data
            for key in lists.split("."):
                items = items.get(key, []) if isinstance(items, dict) else []
            names = [x.get("name") for x in items if isinstance(x, dict)]
            index = None
            if name == "*":
                index = r"\d+"
            elif by_index and name.isascii() and name.isdigit() and int(name) < len(items):
                index = name
            elif name in names:
                index = str(names.index(name))
            return index is not None and bool(
                re.search(rf"{re.escape(lists)}\[{index}\]\.{re.escape(rest)}\b", message)
            )
    return bool(re.search(rf"(?<![\w.\[]){re.escape(path)}\b", message))


def text_mode_refusal(scenario: str) -> ScenarioError:
    """The refusal of a text-mode ``scenario`` (a library name or a file) where an abstract one
    is read."""
    return ScenarioError(
        f"{scenario!r} is a text-mode scenario, and this takes an abstract one: text-mode "
        "scenarios load with habsburg.scenarios.text_schema.load_text_scenario (`habsburg "
        "run`, `compare` and `viz` take both kinds)"
    )


def setting_table(table: Any, where: str) -> dict[str, Any]:
    """A ``set`` table's values by setting path. Nested tables are read as dotted paths, so
    ``set = { watermark.adoption = 0.6 }`` (TOML's dotted keys make a nested table) and
    ``[set.watermark] adoption = 0.6`` both mean ``"watermark.adoption" = 0.6``; no setting
    takes a table, so a table is never a value."""
    if not isinstance(table, dict):
        raise ScenarioError(f"{where}: expected a table of setting paths, got {table!r}")
    out: dict[str, Any] = {}

    def walk(items: dict[str, Any], prefix: str) -> None:
        for key, value in items.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                if not value:
                    raise ScenarioError(
                        f"{where}: {path!r} is an empty table; name a setting inside it"
                    )
                walk(value, f"{path}.")
            elif path in out:
                raise ScenarioError(f"{where}: {path!r} is given twice; give it one value")
            else:
                out[path] = value

    walk(table, "")
    return out


#: the keys of a scenario file that starts from another: ``scenario`` (the one it starts from),
#: its own ``name`` (required: it names the results directory) and ``description``; what it
#: changes from the first month, applied in this order: ``[remove]`` (list path = item names),
#: ``[times]`` (setting path = factor: the base's value multiplied, so a ``*`` in it matches the
#: base's items only), ``[add]`` (``[[add.scrapers]]``: whole items) and ``[set]`` (setting path =
#: value, added items included); ``[[interventions]]`` (after the base's) and
#: ``keep_interventions`` (false: the base's interventions are dropped)
DERIVED_KEYS = (
    "scenario",
    "name",
    "description",
    "remove",
    "times",
    "add",
    "set",
    "keep_interventions",
    "interventions",
)

#: the scenario files (resolved paths) and library scenarios (``library/NAME.toml``) being read,
#: innermost last: one that starts from itself, directly or through others, is refused
_READING: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "habsburg_scenario_files", default=()
)


@contextlib.contextmanager
def reading(key: str) -> Iterator[None]:
    """Mark scenario ``key`` (a resolved path, or ``library/NAME.toml``) as being read while the
    block runs; a ``key`` already being read (a file that starts from itself) is refused with
    the chain of files."""
    chain = _READING.get()
    if key in chain:
        loop = " -> ".join((*chain[chain.index(key) :], key))
        raise ScenarioError(f"a scenario file cannot start from itself: {loop}")
    token = _READING.set((*chain, key))
    try:
        yield
    finally:
        _READING.reset(token)


#: where a scenario read from a file that starts from another keeps its :func:`changes`
_CHAIN = "_habsburg_changes"


def changes(sc: Scenario) -> tuple[tuple[str, dict[str, dict[str, Any]]], ...]:
    """The change tables of the files ``sc`` was read through, the first file's first: per file
    its source and its ``remove``, ``times``, ``add`` and ``set`` (path -> value); ``()`` for a
    scenario written whole or built in code. Kept outside the settings (not in
    :meth:`Scenario.to_dict`, so not in fingerprints, writers or listings; a copy keeps them):
    a posterior draw reads from them which fitted settings a what-if scales or sets
    (:mod:`habsburg.experiments.bands`)."""
    chain: tuple[tuple[str, dict[str, dict[str, Any]]], ...] = vars(sc).get(_CHAIN, ())
    return chain


def _derived(
    data: dict[str, Any], source: str, base_dir: Path | None
) -> tuple[
    dict[str, Any],
    int,
    dict[str, dict[str, Any]],
    tuple[tuple[str, dict[str, dict[str, Any]]], ...],
]:
    """The whole scenario (as :meth:`Scenario.to_dict` gives it) a file that starts from
    another describes: the base with the file's settings, name, description and interventions;
    how many of its interventions are the base's (listed first); the file's change tables by
    key (``remove``, ``add``, ``times``, ``set``: path -> value), for the refusals that point
    back at its lines; and the :func:`changes` of the scenario it describes (the base's, then
    this file's)."""
    unknown = [k for k in data if k not in DERIVED_KEYS]
    if unknown:
        key = unknown[0]
        raise ScenarioError(
            f"{source}: key {key!r}{_close(key, DERIVED_KEYS)} is not allowed in a scenario that "
            f"starts from another (scenario = {data['scenario']!r}); allowed: "
            f'{", ".join(DERIVED_KEYS)}. Change a setting in [set] (e.g. "watermark.adoption" '
            f"= 0.6), or write the whole scenario without 'scenario' (`habsburg scenarios "
            f"{data['scenario']}` prints it in full)"
        )
    ref = data["scenario"]
    if not isinstance(ref, str) or not ref.strip():
        raise ScenarioError(
            f"{source}: scenario: expected a library scenario name or a scenario file, got {ref!r}"
        )
    name = data.get("name")
    if name is None:
        raise ScenarioError(
            f"{source}: name: a scenario that starts from another needs a name of its own: "
            f"the name picks its results directory, and the base's ({ref!r}) would put its "
            "runs with the base's"
        )
    # (the name's and description's types are the whole scenario's checks, in from_dict)
    keep = data.get("keep_interventions", True)
    if not isinstance(keep, bool):
        raise ScenarioError(f"{source}: keep_interventions: expected true or false, got {keep!r}")
    ivs = data.get("interventions", [])
    if not isinstance(ivs, list):
        raise ScenarioError(
            f"{source}: interventions: expected an array of tables ([[interventions]]), got {ivs!r}"
        )
    tables = {
        key: setting_table(data.get(key, {}), f"{source}: {key}")
        for key in ("remove", "add", "times", "set")
    }
    both = [path for path in tables["times"] if path in tables["set"]]
    if both:
        raise ScenarioError(
            f"{source}: {both[0]!r} is in both [times] and [set]; give it in one of them"
        )
    base = _base(ref, source, base_dir)
    sc = copy.deepcopy(base)
    changed = []
    for key, change in (("remove", _remove_items), ("times", _multiply), ("add", _add_items)):
        for path, value in tables[key].items():
            try:
                changed.append(change(sc, path, value))
            except ScenarioError as err:
                raise ScenarioError(f"{source}: {key}: {err}") from None
    for path, value in tables["set"].items():
        try:
            _not_a_setting(path)
            set_setting(sc, path, value)
        except ScenarioError as err:
            raise ScenarioError(f"{source}: set: {err}") from None
        changed.append(f"{path} = {value!r}")
    out = sc.to_dict()
    out.pop("source", None)
    out["name"] = name
    out["description"] = data.get(
        "description",
        f"{base.name}, changed: {'; '.join(changed)}." if changed else f"{base.name}.",
    )
    kept = out["interventions"] if keep else []
    out["interventions"] = kept + ivs
    return out, len(kept), tables, (*changes(base), (source, tables))


def _not_a_setting(path: str) -> None:
    if path in ("source", "interventions") or path.startswith("interventions."):
        raise ScenarioError(
            f"setting path {path!r}: not a setting ([[interventions]] adds interventions)"
        )


def item_lists(cls: type | None = None, prefix: str = "") -> dict[str, type]:
    """The lists of named items a scenario holds, by path (``models``, ``humans.workflows``),
    and the section each item is; interventions (which have no names) left out."""
    out: dict[str, type] = {}
    for key, hint in _hints(cls or Scenario).items():
        if typing.get_origin(hint) is list and is_section(typing.get_args(hint)[0]):
            if key != "interventions":
                out[f"{prefix}{key}"] = typing.get_args(hint)[0]
        elif is_section(hint):
            out.update(item_lists(hint, f"{prefix}{key}."))
    return out


def _items(sc: Scenario, path: str) -> tuple[list[Any], type]:
    """The list of named items at ``path`` (one of :func:`item_lists`) and its item section."""
    lists = item_lists()
    if path not in lists:
        raise ScenarioError(
            f"{path!r}{_close(path, lists)} is not a list of items; lists: {', '.join(lists)}"
        )
    obj: Any = sc
    for key in path.split("."):
        obj = getattr(obj, key)
    return obj, lists[path]


def _remove_items(sc: Scenario, path: str, names: Any) -> str:
    """Remove the items ``names`` (or every item: ``["*"]``) from the list at ``path``."""
    items, _ = _items(sc, path)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ScenarioError(f'{path}: expected a list of item names (or ["*"]), got {names!r}')
    have = [x.name for x in items]
    for name in names:
        if name != "*" and name not in have:
            raise ScenarioError(
                f"{path}: no item {name!r}{_close(name, have)} to remove; items: {have}"
            )
    gone = have if "*" in names else names
    items[:] = [x for x in items if x.name not in gone]
    return f"without {path} {', '.join(gone)}"


def _add_items(sc: Scenario, path: str, tables: Any) -> str:
    """Append the items ``tables`` (whole items, as in a whole file) to the list at ``path``."""
    items, cls = _items(sc, path)
    if not isinstance(tables, list) or not tables:
        raise ScenarioError(f"{path}: expected an array of tables ([[add.{path}]]), got {tables!r}")
    added = []
    for i, table in enumerate(tables):
        item: Any = build(cls, table, f"{path}[{i}]")  # (a table: build refuses anything else)
        if "name" not in table:
            raise ScenarioError(f"{path}[{i}]: an added item needs a name")
        if item.name in [x.name for x in items]:
            raise ScenarioError(
                f"{path}[{i}]: the base already has a {path} item {item.name!r}; change its "
                "settings in [set], or remove it in [remove] first"
            )
        items.append(item)
        added.append(item.name)
    return f"adding {path} {', '.join(added)}"


def check_factor(sc: Scenario, path: str, factor: Any, where: str = "") -> None:
    """Validate that ``path`` names numeric settings of ``sc`` and ``factor`` is a factor (a
    finite number, not negative) they can be multiplied by."""
    try:
        _factor_targets(sc, path, factor)
    except ScenarioError as err:
        raise ScenarioError(f"{where}: {err}" if where else str(err)) from None


def _factor_targets(
    sc: Scenario, path: str, factor: Any
) -> list[tuple[Any, dataclasses.Field, Any]]:
    _not_a_setting(path)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        raise ScenarioError(f"{path}: expected a factor (a number), got {factor!r}")
    if not math.isfinite(factor) or factor < 0:
        raise ScenarioError(f"{path}: the factor must be finite and not negative, got {factor!r}")
    targets = _resolve(sc, path)
    for obj, f, hint in targets:
        value = getattr(obj, f.name)
        if hint not in (int, float) or isinstance(value, bool):
            raise ScenarioError(f"{path}: times multiplies numbers; this setting is {value!r}")
    return targets


def multiply_setting(sc: Scenario, path: str, factor: Any) -> None:
    """Multiply the number at ``path`` (each match of a ``*`` its own) by ``factor``, as an
    intervention's ``times`` does: an integer setting is rounded to the nearest whole number
    (the value it multiplies may be a scaled or posterior-drawn one), and a product out of the
    setting's range is a :class:`ScenarioError`."""
    _multiply(sc, path, factor, whole=round)


def _multiply(
    sc: Scenario, path: str, factor: Any, whole: Callable[[float], int] | None = None
) -> str:
    """Multiply the number at ``path`` (every match of a ``*``) by ``factor``; an integer
    setting's product must be whole, or is made so by ``whole``."""
    targets = _factor_targets(sc, path, factor)
    new = []
    for obj, f, hint in targets:
        value = getattr(obj, f.name)
        product = value * factor
        if hint is int:
            if whole is not None:
                product = whole(product)
            elif not float(product).is_integer():
                raise ScenarioError(
                    f"{path}: {value!r} times {factor!r} is {product!r}; this setting takes a "
                    "whole number, so give it in [set] instead"
                )
            product = int(product)
        try:
            new.append(_check_value(f, hint, product, path))
        except ScenarioError as err:
            raise ScenarioError(f"{err} (the base's {value!r} times {factor!r})") from None
    for (obj, f, _), value in zip(targets, new, strict=True):
        setattr(obj, f.name, value)
    return f"{path} times {factor!r}"


def _base(ref: str, source: str, base_dir: Path | None) -> Scenario:
    """The scenario a file starts from: a file beside it when one exists, else ``ref`` as
    :func:`~habsburg.scenarios.library.load_scenario` reads it (a library name or a path)."""
    # (the library reads files through this module: imported when a file names a base)
    from habsburg.scenarios.library import load_scenario
    from habsburg.scenarios.text_schema import base_file

    try:  # (a text-mode base is refused there, as wherever an abstract scenario is read)
        return load_scenario(base_file(ref, base_dir))
    except ScenarioError as err:
        raise ScenarioError(f"{source}: scenario: {err}") from None


#: a scenario name is a safe slug: it names the default results directory, so it can never steer
#: a path (no separators, no leading dot, no "..")
NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


def check_name(name: str, where: str = "name", kind: str = "scenario") -> str:
    """``name`` if it is a safe slug (letters, digits, ``-``, ``_``, ``.``; no leading dot) for a
    ``kind`` (a scenario, a sweep, a calibration) whose default results directory it names."""
    if not NAME_RE.match(name):
        raise ScenarioError(
            f"{where}: {name!r} is not a valid {kind} name; use 1-128 letters, digits, '-', '_' "
            "or '.', not starting with '.' (it names the results directory)"
        )
    return name


def load_file(path: str | Path) -> Scenario:
    """A scenario file (one that starts from another included: :func:`from_dict`)."""
    path = Path(path)
    with reading(str(path.resolve())):
        return load_text(read_text_file(path, "scenario file"), str(path), path.parent)


# --------------------------------------------------------------------------------------------
# Setting paths: "watermark.adoption", "models.gpt-a.temperature", "models.*.data.mode"
# --------------------------------------------------------------------------------------------
def _resolve(sc: Scenario, path: str) -> list[tuple[Any, dataclasses.Field, Any]]:
    """Targets ``(object, field, type hint)`` a setting path names (``*`` matches every item)."""
    parts = path.split(".")
    objs: list[Any] = [sc]
    i = 0
    while True:
        if i >= len(parts):
            raise ScenarioError(f"setting path {path!r} names a section, not a value")
        key = parts[i]
        cls = type(objs[0])
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if key not in fields:
            raise ScenarioError(
                f"unknown setting path {path!r}: no key {key!r}{_close(key, fields)} in {cls.__name__}; keys: {', '.join(fields)}"
            )
        hint = _hints(cls)[key]
        if typing.get_origin(hint) is list and is_section(typing.get_args(hint)[0]):
            if i + 1 >= len(parts):
                raise ScenarioError(
                    f"setting path {path!r} must name an item: {key}.<name>.<setting>"
                )
            item = parts[i + 1]
            new: list[Any] = []
            for o in objs:
                items = getattr(o, key)
                chosen = items if item == "*" else [x for x in items if x.name == item]
                if not chosen:
                    avail = [x.name for x in items]
                    raise ScenarioError(
                        f"unknown setting path {path!r}: no {key} item {item!r}{_close(item, avail)}; items: {avail}"
                    )
                new.extend(chosen)
            objs, i = new, i + 2
        elif is_section(hint):
            objs, i = [getattr(o, key) for o in objs], i + 1
        else:
            if i != len(parts) - 1:
                raise ScenarioError(f"setting path {path!r}: {key!r} is a value, not a section")
            return [(o, fields[key], hint) for o in objs]


def check_setting(sc: Scenario, path: str, value: Any, where: str = "") -> Any:
    """Validate that ``path`` names a setting and ``value`` is allowed there; returns the value."""
    try:
        targets = _resolve(sc, path)
        f, hint = targets[0][1], targets[0][2]
        if f.name == "name":
            raise ScenarioError(f"setting path {path!r}: names cannot be changed")
        return _check_value(f, hint, value, path)
    except ScenarioError as err:
        raise ScenarioError(f"{where}: {err}" if where else str(err)) from None


def set_setting(sc: Scenario, path: str, value: Any) -> None:
    """Set a validated value at ``path`` (used by interventions, sweeps and the viz)."""
    value = check_setting(sc, path, value)
    for obj, f, _ in _resolve(sc, path):
        setattr(obj, f.name, value)


def get_setting(sc: Scenario, path: str) -> Any:
    """The value ``path`` names (the first item's where it has a ``*``)."""
    return get_settings(sc, path)[0]


def get_settings(sc: Scenario, path: str) -> list[Any]:
    """Every value ``path`` names (one per item where it has a ``*``)."""
    return [getattr(obj, f.name) for obj, f, _ in _resolve(sc, path)]


def setting_spec(sc: Scenario, path: str) -> dict[str, Any]:
    """Declared range, choices, help and type of a setting (for sliders and sweep specs)."""
    obj, f, hint = _resolve(sc, path)[0]
    return {"path": path, "type": hint, "default": getattr(obj, f.name), **f.metadata}


__all__ = [
    "AdoptionCurve",
    "ClassifierScoreConfig",
    "DataPolicy",
    "DemandConfig",
    "DetectorConfig",
    "EditConfig",
    "FarmConfig",
    "FilterConfig",
    "HumanConfig",
    "InstrumentsConfig",
    "Intervention",
    "LabConfig",
    "MeasurementConfig",
    "ModelConfig",
    "Scenario",
    "ScenarioError",
    "ScraperConfig",
    "WatermarkConfig",
    "WebConfig",
    "Workflow",
    "WorldConfig",
    "build",
    "changes",
    "check_factor",
    "check_setting",
    "from_dict",
    "get_setting",
    "get_settings",
    "load_file",
    "load_text",
    "multiply_setting",
    "set_setting",
    "setting_spec",
    "setting_table",
]
