"""The scenario library shipped with the package, and scenario lookup by name or file."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habsburg.scenarios.inputs import is_file
from habsburg.scenarios.schema import (
    Scenario,
    ScenarioError,
    _close,
    load_file,
    load_text,
    reading,
    text_mode_refusal,
)
from habsburg.scenarios.text_schema import list_text_scenarios, refers_to_file

if TYPE_CHECKING:
    import os
    from collections.abc import Callable
    from importlib.resources.abc import Traversable


def _library_dir() -> Traversable:
    return resources.files("habsburg.scenarios") / "library"


def list_scenarios() -> dict[str, str]:
    """Library scenarios: name -> one-paragraph description (alphabetical, baseline first)."""
    out = {}
    for entry in sorted(_library_dir().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            sc = load_text(entry.read_text(), f"library/{entry.name}")
            out[sc.name] = " ".join(sc.description.split())
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != "baseline", kv[0])))


def load_scenario(name_or_path: str | os.PathLike[str]) -> Scenario:
    """A library scenario by name, or a scenario file by path."""
    text = str(name_or_path)
    if refers_to_file(text):  # (a text-mode file is refused by from_dict)
        return load_file(Path(text))  # InputFileError when missing, binary, not UTF-8 or empty
    entry = _library_dir() / f"{text}.toml"
    if not is_file(entry):
        names, texts = list(list_scenarios()), list_text_scenarios()
        if text in texts:  # (it was "unknown scenario", listing it among the text-mode ones)
            raise text_mode_refusal(text)
        raise ScenarioError(
            f"unknown scenario {text!r}{_close(text, [*names, *texts])}; available: "
            f"{', '.join(names)}; text mode: {', '.join(texts)}"
        )
    source = f"library/{text}.toml"
    with reading(source):
        return load_text(entry.read_text(), source)


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """A copy of ``scenario`` with its populations and flows multiplied by ``factor``: authors,
    AI demand, farm output, crawl sizes and training budgets, and (at 1× and above) the sites,
    also where an intervention sets them (unscaled, it gave a 0.1× web 10× the flow from its
    month on). The world (concepts, facts) is kept: a bigger internet about the same knowledge.

    The web keeps its shape: spam links per farm site stay as they are and a farm's sites form
    link farms of its original size (``link_farm_size``), so the share of PageRank on farm sites
    (what crawls reach) is nearly independent of ``factor``. Multiplying the spam links per site
    too, and linking all of a bigger farm's sites to each other, made farms' share of PageRank
    grow with scale (0.38 at 1×, 0.65 at 3×, 0.79 at 10× in the baseline) and training sets
    more synthetic than the web they were crawled from.

    Below 1× the site graph is kept as it is (human, farm and aggregator sites, and the sites a
    crawl visits): only the flows shrink. A farm with fewer sites than its link farm cannot keep
    the web's shape: scaling the sites made farms' share of PageRank 0.19 at 0.2× and 0.11 at
    0.1× (0.38 at 1×), and no rule tried kept it (keeping the farm sites overshot, to 0.68 at
    0.2×; compensating spam undershot, to 0.29), so a run scaled down for speed (the viz, the
    examples' ``--quick`` mode) crawled a less farm-dominated web than the scenario's."""
    if factor <= 0:
        raise ScenarioError(f"scale factor must be > 0, got {factor}")
    sc = copy.deepcopy(scenario)

    def grow(x: float) -> int:
        return max(1, round(x * factor))

    def grow_sites(x: int) -> int:  # the site graph is kept below 1× (see above)
        return grow(x) if factor >= 1 else x

    def grow_optional(x: int) -> int:  # none stays none (a crawler that runs no aggregators)
        return grow_sites(x) if x else 0

    #: a scaled setting (path without the item name) -> its scaled value, in the scenario and
    #: where an intervention sets it
    rules: dict[tuple[str, ...], Callable[[Any], Any]] = {
        ("demand", "adoption", "ceiling"): lambda x: x * factor,
        ("farms", "output", "ceiling"): lambda x: x * factor,
        ("scrapers", "docs_per_crawl"): grow,
        ("scrapers", "budget_sites"): grow_sites,
        ("models", "data", "budget"): grow,
    }

    def rule(path: str) -> Callable[[Any], Any] | None:
        parts = path.split(".")
        if parts[0] in ("farms", "scrapers", "models"):  # <list>.<item or *>.<setting>
            parts = [parts[0], *parts[2:]]
        return rules.get(tuple(parts))

    sc.name = f"{scenario.name}-x{factor:g}"
    sc.humans.authors = grow(sc.humans.authors)
    sc.web.sites = grow_sites(sc.web.sites)
    for farm in sc.farms:
        farm.link_farm_size = farm.link_farm_size or farm.sites
        farm.sites = grow_sites(farm.sites)
    for scraper in sc.scrapers:
        scraper.aggregator_sites = grow_optional(scraper.aggregator_sites)
    for (section, *inner, setting), change in rules.items():  # (in each item of a list)
        parts = getattr(sc, section)
        for part in parts if isinstance(parts, list) else [parts]:
            for key in inner:
                part = getattr(part, key)
            setattr(part, setting, change(getattr(part, setting)))
    for iv in sc.interventions:
        iv.set = {
            path: value if (scale := rule(path)) is None else scale(value)
            for path, value in iv.set.items()
        }
    return sc
