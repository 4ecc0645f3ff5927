"""Typed configuration of text-mode scenarios (``library/text/*.toml``).

Text mode runs the ecosystem on real tokens (``habsburg.ecosystem.text``); its settings are few and
different from the abstract mode's, so they live in their own dataclasses. Unknown keys, wrong
types and out-of-range values raise :class:`ScenarioError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habsburg.scenarios.declare import MAX_SEED, is_section
from habsburg.scenarios.errors import ScenarioError, UserError
from habsburg.scenarios.inputs import is_file, read_text_file, sniff_toml

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

POLICIES = ("replace", "accumulate", "reservoir", "distillation")


def _r(
    low: float | None = None, high: float | None = None, choices: tuple = (), doc: str = ""
) -> dict[str, Any]:
    return {"low": low, "high": high, "choices": choices, "doc": doc}


@dataclass
class TextCorpusConfig:
    max_tokens: int = field(default=120_000, metadata=_r(1000, 2_000_000, doc="corpus subset size"))
    min_count: int = field(default=3, metadata=_r(1, 100, doc="unknown-token cut-off"))
    heldout_fraction: float = field(default=0.1, metadata=_r(0.01, 0.5))
    max_doc_tokens: int = field(default=200, metadata=_r(20, 5000, doc="passage length"))


@dataclass
class TextHumansConfig:
    documents: int = field(
        default=300, metadata=_r(0, 100_000, doc="human documents per generation")
    )
    document_tokens: int = field(default=80, metadata=_r(5, 2000))
    fresh_fraction: float = field(
        default=0.2,
        metadata=_r(0.0, 0.9, doc="share of the training split kept as new human writing"),
    )


@dataclass
class TextModelConfig:
    name: str = "model"
    order: int = field(default=3, metadata=_r(1, 5))
    temperature: float = field(default=1.0, metadata=_r(0.05, 10.0))
    top_p: float = field(default=0.9, metadata=_r(0.01, 1.0))
    documents: int = field(
        default=300, metadata=_r(1, 100_000, doc="documents published per generation")
    )
    document_tokens: int = field(default=80, metadata=_r(5, 2000))
    policy: str = field(default="replace", metadata=_r(choices=POLICIES))
    reservoir_fraction: float = field(default=0.1, metadata=_r(0.0, 1.0))
    training_documents: int = field(default=0, metadata=_r(0, 1_000_000, doc="0 = all available"))
    teacher: str = ""
    watermark: bool = False
    watermark_gamma: float = field(default=0.25, metadata=_r(0.01, 0.99))
    watermark_delta: float = field(default=2.0, metadata=_r(0.0, 20.0))
    paraphrase_share: float = field(
        default=0.0, metadata=_r(0.0, 1.0, doc="documents users paraphrase")
    )
    paraphrase_fraction: float = field(default=0.2, metadata=_r(0.0, 1.0, doc="tokens edited"))
    paraphrase_mode: str = field(default="random", metadata=_r(choices=("random", "span")))


@dataclass
class TextScraperConfig:
    crawl_documents: int = field(default=0, metadata=_r(0, 1_000_000, doc="0 = every new document"))
    watermark_filter: bool = False
    z_threshold: float = field(default=4.0, metadata=_r(0.0, 100.0))
    classifier_filter: bool = False
    classifier_fpr: float = field(default=0.05, metadata=_r(0.001, 0.5))


@dataclass
class TextDemandConfig:
    """AI demand split by market share: users move toward models with lower held-out
    perplexity (the abstract mode's rule, with capability = log perplexity in nats/token)."""

    documents: int = field(
        default=0, metadata=_r(0, 1_000_000, doc="0 = each model's own documents")
    )
    quality_sensitivity: float = field(default=5.0, metadata=_r(0.0, 1000.0))
    inertia: float = field(default=0.5, metadata=_r(0.0, 1.0))


@dataclass
class TextSamplesConfig:
    prompt: str = "in the beginning"
    continuations: int = field(default=3, metadata=_r(1, 50))
    tokens: int = field(default=30, metadata=_r(1, 500))


@dataclass
class TextScenario:
    mode: str = field(default="text", metadata=_r(choices=("text",), doc="marks a text scenario"))
    name: str = "text"
    description: str = ""
    seed: int = field(default=0, metadata=_r(0, MAX_SEED, doc="random seed"))
    generations: int = field(default=8, metadata=_r(1, 200))
    corpus: TextCorpusConfig = field(default_factory=TextCorpusConfig)
    humans: TextHumansConfig = field(default_factory=TextHumansConfig)
    models: list[TextModelConfig] = field(default_factory=lambda: [TextModelConfig()])
    scraper: TextScraperConfig = field(default_factory=TextScraperConfig)
    demand: TextDemandConfig = field(default_factory=TextDemandConfig)
    samples: TextSamplesConfig = field(default_factory=TextSamplesConfig)


def _build(cls: type, data: Any, where: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: {where or 'scenario'} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            match = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {match[0]!r}?)" if match else ""
            raise ScenarioError(
                f"{source}: unknown key {path!r}{hint}; allowed: {', '.join(fields)}"
            )
        kwargs[key] = _value(fields[key], hints[key], value, path, source)
    return cls(**kwargs)


def _value(f: dataclasses.Field, hint: Any, value: Any, path: str, source: str) -> Any:
    if is_section(hint):
        return _build(hint, value, path, source)
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list) or not value:
            raise ScenarioError(f"{source}: {path} must be a non-empty array of tables")
        return [_build(item, v, f"{path}[{i}]", source) for i, v in enumerate(value)]
    meta = f.metadata
    if hint is bool and not isinstance(value, bool):
        raise ScenarioError(f"{source}: {path}: expected true or false, got {value!r}")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ScenarioError(f"{source}: {path}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{source}: {path}: expected a number, got {value!r}")
        value = float(value)
    if hint is str and not isinstance(value, str):
        raise ScenarioError(f"{source}: {path}: expected a string, got {value!r}")
    if meta.get("choices") and value not in meta["choices"]:
        raise ScenarioError(
            f"{source}: {path}: {value!r} is not one of {', '.join(meta['choices'])}"
        )
    low, high = meta.get("low"), meta.get("high")
    if low is not None and not low <= value <= high:
        raise ScenarioError(f"{source}: {path}: {value!r} is outside [{low}, {high}]")
    return value


def text_scenario_from_dict(data: dict[str, Any], source: str = "<dict>") -> TextScenario:
    from habsburg.scenarios.schema import check_name  # (not on the CLI's start-up path)

    sc = _build(TextScenario, data, "", source)
    check_name(sc.name, f"{source}: name")  # (it names the default results directory)
    names = [m.name for m in sc.models]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{source}: models: duplicate model names {names}")
    for i, m in enumerate(sc.models):
        if m.policy == "distillation" and m.teacher not in names:
            raise ScenarioError(
                f"{source}: models[{i}].teacher: {m.teacher!r} must name one of the scenario's "
                f"models ({', '.join(names)}): models[{i}].policy is 'distillation'"
            )
    return sc


def _library_dir() -> Traversable:
    return resources.files("habsburg.scenarios") / "library" / "text"


def text_library_file(name: str) -> Traversable:
    """The file of the library text scenario ``name``."""
    return _library_dir() / f"{name}.toml"


def list_text_scenarios() -> list[str]:
    """Names of the text scenarios shipped with the package."""
    return sorted(p.name[:-5] for p in _library_dir().iterdir() if p.name.endswith(".toml"))


def refers_to_file(name_or_path: str | Path) -> bool:
    """Whether a scenario argument names a file rather than a library scenario: it ends with
    ``.toml``, is a file, or holds a path separator. (A directory named like a library scenario,
    say a run's output, does not hide the library scenario.)"""
    text = str(name_or_path)
    return text.endswith(".toml") or is_file(text) or "/" in text or "\\" in text


def base_file(ref: str, base_dir: Path | None) -> str | Path:
    """The scenario a file's ``scenario = ref`` names: the file ``ref`` beside it (in
    ``base_dir``) when one exists, else ``ref`` as given (a library name, or a path)."""
    if base_dir is not None and refers_to_file(ref) and is_file(base_dir / ref):
        return base_dir / ref
    return ref


def is_text_scenario(name_or_path: str | Path) -> bool:
    """Whether a scenario name or file is a text-mode scenario: a library text scenario, a TOML
    file whose top level says ``mode = "text"``, or a file that starts from a text scenario
    (``scenario = NAME|FILE``; what the CLI checks to pick the runner)."""
    text = str(name_or_path)
    path = Path(text)
    if not refers_to_file(text):
        return text in list_text_scenarios()
    seen: set[Path] = set()
    while path not in seen:  # (a file that starts from another: the kind of the one it names)
        seen.add(path)
        data = sniff_toml(path)
        if data is None:
            return False
        ref = data.get("scenario")
        if data.get("mode") == "text" or not isinstance(ref, str) or "mode" in data:
            return data.get("mode") == "text"
        if not refers_to_file(ref):
            return ref in list_text_scenarios()
        path = Path(base_file(ref, path.parent))
    return False  # (a file that starts from itself: the abstract loader names the loop)


def check_text_comparison(names: list[str | Path]) -> bool:
    """Whether a comparison is of text scenarios; mixing text and abstract scenarios is a
    :class:`UserError` naming which is which. Loads nothing of the simulator."""
    kinds = {str(n): is_text_scenario(n) for n in names}
    if all(kinds.values()):
        return True
    if any(kinds.values()):
        text = [n for n, k in kinds.items() if k]
        other = [n for n, k in kinds.items() if not k]
        raise UserError(
            f"compare cannot mix text scenarios ({', '.join(text)}) with abstract scenarios "
            f"({', '.join(other)}): their outcomes differ; compare each kind separately"
        )
    return False


def spec_scenario_ref(data: dict[str, Any], base_dir: Path) -> str:
    """The scenario a sweep spec (its parsed TOML ``data``, read from ``base_dir``) names: a file
    beside the spec when one exists, else a library name (default ``baseline``)."""
    ref = str(data.get("scenario", "baseline"))
    candidate = base_dir / ref
    return str(candidate) if is_file(candidate) else ref


def spec_is_text(path: str | Path) -> bool:
    """Whether a sweep spec file's scenario is a text scenario (unreadable specs: False, so the
    abstract loader reports their errors). Loads nothing of the simulator."""
    path = Path(path)
    data = sniff_toml(path)
    if data is None:
        return False
    return is_text_scenario(spec_scenario_ref(data, path.parent))


#: the keys of a text-mode file that starts from another text scenario
TEXT_DERIVED_KEYS = ("scenario", "name", "description", "set")


def load_text_scenario(name_or_path: str | Path) -> TextScenario:
    """A library text scenario by name (``text_baseline``) or a TOML file by path; a file that
    starts from another text scenario (``scenario = "text_baseline"``, a ``name`` and ``[set]``
    with setting paths, as in text sweep specs) is that scenario with its settings changed."""
    source, data = _text_data(name_or_path)
    return text_scenario_from_dict(data, source)


def _text_data(name_or_path: str | Path) -> tuple[str, dict[str, Any]]:
    """Where text scenario ``name_or_path`` is read from and its mapping, a file that starts
    from another expanded (one that starts from itself refused, as an abstract one is:
    :func:`habsburg.scenarios.schema.reading`)."""
    text = str(name_or_path)
    path = Path(text)
    if refers_to_file(text):
        # (missing, a directory, binary, not UTF-8, empty, too large: named as an abstract
        # scenario file's are; a pipe, `<(...)`, is read as the look at its mode read it)
        source, raw = str(path), read_text_file(path, "scenario file")
        key = str(path.resolve())
    else:
        entry = _library_dir() / f"{text}.toml"
        if not is_file(entry):
            raise ScenarioError(
                f"unknown text scenario {text!r}; available: {', '.join(list_text_scenarios())}"
            )
        source, raw = f"library/text/{text}.toml", entry.read_text(encoding="utf-8")
        key = source
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{source}: malformed TOML: {err}") from None
    if "scenario" in data:
        from habsburg.scenarios.schema import reading  # (not on the CLI's start-up path)

        with reading(key):
            return source, _derived_text(data, source, path.parent)
    return source, data


def _derived_text(data: dict[str, Any], source: str, base_dir: Path) -> dict[str, Any]:
    """The whole mapping a text-mode file that starts from another describes: the base's every
    setting, its ``[set]`` applied, its name and description."""
    from habsburg.scenarios.schema import setting_table  # (not on the CLI's start-up path)

    unknown = [k for k in data if k not in TEXT_DERIVED_KEYS]
    if unknown:
        raise ScenarioError(
            f"{source}: key {unknown[0]!r} is not allowed in a text-mode file that starts from "
            f"another (scenario = {data['scenario']!r}); allowed: {', '.join(TEXT_DERIVED_KEYS)} "
            "(text scenarios have no interventions, and their lists are changed in [set], e.g. "
            '"models.*.temperature" = 1.2)'
        )
    ref = data["scenario"]
    if not isinstance(ref, str) or not ref.strip():
        raise ScenarioError(
            f"{source}: scenario: expected a text scenario name or file, got {ref!r}"
        )
    name = data.get("name")
    if not isinstance(name, str):
        raise ScenarioError(
            f"{source}: name: a scenario that starts from another needs a name of its own (a "
            f"string): the name picks its results directory, and the base's ({ref!r}) would put "
            "its runs with the base's"
        )
    target = base_file(ref, base_dir)
    if refers_to_file(target) and not is_file(target):
        raise ScenarioError(
            f"{source}: scenario: scenario file {ref!r} does not exist (looked for beside "
            f"{source}, then as given)"
        )
    abstract = refers_to_file(target) or is_file(
        resources.files("habsburg.scenarios") / "library" / f"{ref}.toml"
    )
    if not is_text_scenario(target):
        raise ScenarioError(
            f"{source}: scenario: "
            + (f"{ref!r} is an abstract scenario" if abstract else f"no scenario {ref!r}")
            + f"; a text-mode file starts from a text scenario ({', '.join(list_text_scenarios())}"
            ', or a file with mode = "text")'
        )
    try:
        base_source, base = _text_data(target)
        whole = dataclasses.asdict(text_scenario_from_dict(base, base_source))
    except ScenarioError as err:
        raise ScenarioError(f"{source}: scenario: {err}") from None
    changes = setting_table(data.get("set", {}), f"{source}: set")
    for path, value in changes.items():
        set_path(whole, path, value, f"{source}: set")
    changed = "; ".join(f"{path} = {value!r}" for path, value in changes.items())
    was = base.get("name", ref)
    whole["name"] = name
    whole["description"] = data.get(
        "description", f"{was}, changed: {changed}." if changed else f"{was}."
    )
    text_scenario_changed(whole, changes, source)  # (refused here: the [set] keys named)
    return whole


def text_scenario_changed(
    whole: dict[str, Any], changes: dict[str, Any], source: str, whose: str = "the file's"
) -> TextScenario:
    """:func:`text_scenario_from_dict` of ``whole``, a scenario mapping with the ``[set]`` of
    ``changes`` applied; a refusal ends with the ``[set]`` keys it is about (a value refused in
    ``models[0].top_p`` was given as ``"models.*.top_p"``, ``models.NAME...`` or
    ``models.0...``), as ``whose`` (the file's or the spec's) ``[set]``."""
    from habsburg.scenarios.schema import setting_notes  # (not on the CLI's start-up path)

    try:
        return text_scenario_from_dict(whole, source)
    except ScenarioError as err:
        notes = setting_notes(
            str(err), {"set": changes}, whole, whose, cls=TextScenario, by_index=True
        )
        if notes:
            raise ScenarioError(f"{err} ({'; '.join(notes)})") from None
        raise


def _tables(node: dict[str, Any], parts: list[str], path: str, where: str) -> list[dict]:
    """The tables of a scenario mapping holding the last key of ``path``."""
    if len(parts) == 1:
        return [node]
    key = parts[0]
    if key not in node:
        raise ScenarioError(
            f"{where}: unknown key {key!r} in path {path!r}; allowed: {', '.join(node)}"
        )
    child = node[key]
    if isinstance(child, dict):
        return _tables(child, parts[1:], path, where)
    if isinstance(child, list) and len(parts) > 2:
        sel, names = parts[1], [str(m.get("name")) for m in child]
        if sel == "*":
            chosen = child
        elif sel.isascii() and sel.isdigit() and int(sel) < len(child):  # (not '²')
            chosen = [child[int(sel)]]
        elif sel in names:
            chosen = [child[names.index(sel)]]
        else:
            raise ScenarioError(
                f"{where}: path {path!r}: {sel!r} is not '*', an index below {len(child)} or a "
                f"name ({', '.join(names)})"
            )
        return [t for c in chosen for t in _tables(c, parts[2:], path, where)]
    raise ScenarioError(
        f"{where}: path {path!r}: {key!r} is not a table"
        + (
            " (name an entry: '*', an index or a name, then a setting)"
            if isinstance(child, list)
            else ""
        )
    )


def set_path(data: dict[str, Any], path: str, value: Any, where: str) -> None:
    """Set ``path`` (dotted; ``models.*``, ``models.N`` or ``models.NAME`` select models) in a
    scenario mapping, or raise :class:`ScenarioError` naming ``where`` and the key."""
    parts = path.split(".")
    last = parts[-1]
    for t in _tables(data, parts, path, where):
        if last not in t or isinstance(t[last], dict | list):
            allowed = [k for k, v in t.items() if not isinstance(v, dict | list)]
            match = difflib.get_close_matches(last, allowed, n=1)
            hint = f" (did you mean {match[0]!r}?)" if match else ""
            raise ScenarioError(
                f"{where}: unknown setting {path!r}{hint}; allowed here: {', '.join(allowed)}"
            )
        t[last] = value
