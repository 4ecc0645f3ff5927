"""The scenario library: every scenario loads, says what it asks, differs from the baseline in
what it claims to change, and runs, with its interventions applied to the live scenario."""

from __future__ import annotations

import dataclasses
import difflib
from importlib import resources

import pytest

from habsburg.ecosystem.internet import FARM_SITE
from habsburg.experiments.run import simulate
from habsburg.model.model import EcosystemModel
from habsburg.scenarios import get_setting, list_scenarios, load_scenario
from habsburg.scenarios.library import scaled
from habsburg.scenarios.schema import check_setting

LIBRARY = list(list_scenarios())
STEPS = 40
#: the defenses and failure modes the library promises (DESIGN.md, "Scenarios")
REQUIRED = {
    "synthetic_loop",
    "replace_only",
    "accumulate_all",
    "watermark_mandate",
    "paraphrase_arms_race",
    "human_reservoir",
    "verified_synthetic",
    "sensor_data",
    "tail_preserving",
    "assisted_drift",
    "late_reintroduction",
    "monoculture",
    "duplication",
}


def comparable(sc) -> dict:
    """The scenario as data, without the fields that only name or describe it."""
    data = sc.to_dict()
    for key in ("name", "description", "source"):
        data.pop(key)
    return data


def test_library_covers_the_defenses_and_failure_modes():
    missing = REQUIRED - set(LIBRARY)
    assert not missing, f"library lacks {sorted(missing)}"
    assert LIBRARY[0] == "baseline"


def test_every_file_is_listed_under_its_own_name():
    files = sorted(
        p.name[: -len(".toml")]
        for p in (resources.files("habsburg.scenarios") / "library").iterdir()
        if p.name.endswith(".toml")
    )
    assert sorted(LIBRARY) == files


@pytest.mark.parametrize("name", LIBRARY)
def test_scenario_loads_and_describes_its_question(name):
    sc = load_scenario(name)
    assert sc.name == name
    words = sc.description.split()
    assert len(words) >= 30, f"{name}: description too short to say what it asks"
    if name != "baseline":
        assert "?" in sc.description, f"{name}: the description should state its question"


@pytest.mark.parametrize("name", [n for n in LIBRARY if n != "baseline"])
def test_scenario_differs_from_baseline_and_pairs_with_it(name):
    sc, base = load_scenario(name), load_scenario("baseline")
    assert comparable(sc) != comparable(base), f"{name} is the baseline under another name"
    # Same world and seed: library runs pair with the baseline's (same ground truth).
    assert sc.seed == base.seed
    assert dataclasses.asdict(sc.world) == dataclasses.asdict(base.world)
    assert (sc.start, sc.end, sc.chatbot_launch) == (base.start, base.end, base.chatbot_launch)


@pytest.mark.parametrize("name", LIBRARY)
def test_interventions_validate(name):
    sc = load_scenario(name)
    for iv in sc.interventions:
        step = iv.at_step if iv.at_step >= 0 else sc.month_to_step(iv.at)
        assert 0 <= step < sc.steps
        assert iv.note, f"{name}: intervention at {iv.at} has no note"
        for path, value in iv.set.items():
            assert check_setting(sc, path, value) == value


@pytest.mark.parametrize("name", LIBRARY)
def test_scenario_runs_and_applies_its_interventions(name):
    """A fifth-size copy for ``STEPS`` months, its interventions moved into that window so that
    their application to the running model is exercised too."""
    sc = scaled(load_scenario(name), 0.2)
    for i, iv in enumerate(sc.interventions):
        iv.at, iv.at_step = "", STEPS - len(sc.interventions) + i
    model = simulate(sc, steps=STEPS)
    metrics = model.datacollector.get_model_vars_dataframe()
    assert len(metrics) == STEPS
    assert metrics["new_documents"].iloc[-1] > 0
    assert metrics["deployed_models"].iloc[-1] >= 1
    applied = len(model.events.interventions)
    assert applied == sum(len(iv.set) for iv in sc.interventions)
    final = {}
    for iv in sc.interventions:
        final.update(iv.set)
    for path, value in final.items():
        assert get_setting(model.config, path) == value, f"{name}: {path} was not applied"


def test_scaled_web_keeps_its_shape():
    """A scaled web keeps the share of PageRank on farm sites (what crawls reach): spam links per
    farm site unchanged, link farms of the original size. Multiplying both made farms' share
    0.38 at 1x, 0.65 at 3x and 0.79 at 10x. Below 1x the site graph is kept whole (scaling the
    sites made it 0.19 at 0.2x and 0.11 at 0.1x) while the flows shrink."""
    base = load_scenario("baseline")
    shares = {}
    for factor in (0.1, 0.2, 1.0, 3.0):
        sc = scaled(base, factor)
        site_factor = max(factor, 1.0)
        assert sc.web.sites == round(base.web.sites * site_factor)
        for farm, original in zip(sc.farms, base.farms, strict=True):
            assert farm.link_spam == original.link_spam
            assert farm.link_farm_size == original.sites
            assert farm.sites == round(original.sites * site_factor)
            assert farm.output.ceiling == pytest.approx(original.output.ceiling * factor)
        for scraper, before in zip(sc.scrapers, base.scrapers, strict=True):
            assert scraper.budget_sites == round(before.budget_sites * site_factor)
            assert scraper.docs_per_crawl == max(1, round(before.docs_per_crawl * factor))
        net = EcosystemModel(sc).internet
        shares[factor] = float(net.pagerank[net.site_kind == FARM_SITE].sum())
    assert 0.3 < shares[1.0] < 0.45
    for factor in (0.1, 0.2, 3.0):
        assert shares[factor] == pytest.approx(shares[1.0], abs=0.02), factor


#: what a derived scenario file says of itself (its header)
DERIVED_CLAIM = "only the lines marked 'changed' and the interventions differ"


def _library_text(name: str) -> str:
    return (resources.files("habsburg.scenarios") / "library" / f"{name}.toml").read_text()


def _settings_lines(text: str) -> list[str]:
    """A scenario file's lines from its ``seed`` (after the name and description) up to its
    first ``[[interventions]]``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("seed ="))
    end = next((i for i, line in enumerate(lines) if line == "[[interventions]]"), len(lines))
    return lines[start:end]


def unmarked_differences(base_text: str, derived_text: str) -> list[str]:
    """Where a derived file differs from the baseline's text without saying so: a hunk of
    lines that differ, unless every non-blank line it puts in place is marked "changed" (on
    the line, or on the header of the table it is in) and any setting it drops is accounted
    for by a "changed" comment in its place."""
    base, derived = _settings_lines(base_text), _settings_lines(derived_text)
    marked, header = [], ""
    for line in derived:
        header = line if line.startswith("[") else header
        marked.append("changed" in line or "changed" in header)
    problems = []
    matcher = difflib.SequenceMatcher(None, base, derived, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        put = [j for j in range(j1, j2) if derived[j].strip()]
        removed = [line for line in base[i1:i2] if line.strip() and not line.startswith("#")]
        if not all(marked[j] for j in put) or (removed and not put):
            problems.append(f"baseline lines {i1 + 1}-{i2}: {base[i1:i2]} became {derived[j1:j2]}")
    return problems


#: the library files that are whole copies of the baseline (they add or remove items: crawlers,
#: workflows), held to their 'changed' marks below
DERIVED = [n for n in LIBRARY if DERIVED_CLAIM in _library_text(n)]
#: the library files that start from the baseline (``scenario = "baseline"`` and a [set]): the
#: scenario they describe is the baseline with those settings, whatever the baseline becomes
STARTS = [n for n in LIBRARY if 'scenario = "baseline"' in _library_text(n).splitlines()]


def test_the_derived_scenarios_are_found():
    """Every scenario of the library but the two baselines starts from the baseline, or is a
    whole copy of it that marks what it changes."""
    assert not set(DERIVED) & set(STARTS)
    assert len(DERIVED) + len(STARTS) >= len(REQUIRED)
    assert len(STARTS) >= 10  # (all but those that change the baseline's items)
    assert set(LIBRARY) - set(DERIVED) - set(STARTS) - {"baseline", "baseline_calibrated"} <= {
        n for n in LIBRARY if n.startswith("text_")
    }


def set_lines(text: str) -> list[str]:
    """The settings of a file's ``[set]`` table (its non-blank, non-comment lines)."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("["):
            inside = line.strip() == "[set]"
        elif inside and line.strip() and not line.lstrip().startswith("#"):
            lines.append(line)
    return lines


@pytest.mark.parametrize("name", STARTS)
def test_a_scenario_that_starts_from_the_baseline_says_why_each_setting_changes(name):
    """Each setting it changes carries a comment (what the 'changed' marks said in the whole
    copies), and it changes at least one setting or adds an intervention."""
    text = _library_text(name)
    lines = set_lines(text)
    assert lines or "[[interventions]]" in text.splitlines(), f"{name} changes nothing"
    silent = [line for line in lines if "#" not in line]
    assert not silent, f"{name}: settings without a comment: {silent}"


def test_set_lines_finds_an_uncommented_setting():
    text = '[set]\n"a.b" = 1  # why\n# a note\n\n"c.d" = 2\n[[interventions]]\nat = "2025-01"\n'
    assert set_lines(text) == ['"a.b" = 1  # why', '"c.d" = 2']


@pytest.mark.parametrize("name", DERIVED)
def test_a_derived_scenario_differs_from_the_baseline_only_where_marked(name):
    """The file says it is the baseline with its 'changed' lines and interventions; a baseline
    recalibrated without its derived files (as on 2026-11-30, when every one of them kept the
    old assistant adoption, demand curve and detector error rates) fails here."""
    problems = unmarked_differences(_library_text("baseline"), _library_text(name))
    assert not problems, f"{name}: " + "; ".join(problems)


def test_the_check_catches_an_unmarked_or_a_silent_change():
    base = "seed = 1\n[humans]\nauthors = 2000\nerror_rate = 0.02\n"
    marked = base.replace("authors = 2000", "authors = 10  # changed: few authors")
    assert unmarked_differences(base, marked) == []
    assert unmarked_differences(base, base.replace("2000", "10"))  # not marked
    assert unmarked_differences(base, base.replace("error_rate = 0.02\n", ""))  # silently dropped
    dropped = base.replace("error_rate = 0.02", "# changed: no error rate")
    assert unmarked_differences(base, dropped) == []
    table = base + "[[farms]]  # changed: a farm\nname = 'f'\n"
    assert unmarked_differences(base, table) == []  # a table marked on its header
    assert unmarked_differences(base, base + "[[farms]]\nname = 'f'\n")
