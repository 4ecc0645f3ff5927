"""Property-based tests: random mutations of every library scenario and of the example sweep
specs end either in a run that completes (a few months, tiny sizes) or in a clear
:class:`~habsburg.scenarios.errors.HabsburgError` naming the key -- never another exception (which
the CLI would report as a bug) and never a hang (an alarm per example).

Mutations: deleted keys, swapped types, out-of-range and non-finite numbers, unknown references,
odd unicode in names and notes, huge lists, and raw byte damage of the files.

``make test`` runs a bounded number of examples; ``make fuzz`` (``HABSBURG_FUZZ=fuzz``) the large
profile. Text-mode scenarios and calibration specs: ``test_fuzz_text.py``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from fuzzing import (
    COMMON,
    EXAMPLES,
    MUTATION,
    PROFILE,
    assert_named,
    hang_guard,
    mutate,
    names_a_key,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from habsburg.experiments.limits import check_limits
from habsburg.model.model import EcosystemModel
from habsburg.scenarios.errors import HabsburgError, LimitError
from habsburg.scenarios.library import _library_dir
from habsburg.scenarios.schema import from_dict, load_file

ROOT = Path(__file__).parents[2]
LIBRARY = {
    p.name: tomllib.loads(p.read_text())
    for p in _library_dir().iterdir()
    if p.name.endswith(".toml")
}
SPECS = {
    p.name: tomllib.loads(p.read_text())
    for p in sorted((ROOT / "examples" / "sweeps").glob("*.toml"))
}


def shrink(sc) -> None:
    """Tiny sizes, so a valid mutated scenario runs in well under a second per month."""
    w, h = sc.world, sc.humans
    w.concepts, w.facts = min(w.concepts, 300), min(w.facts, 100)
    w.values_per_fact, w.communities = min(w.values_per_fact, 8), min(w.communities, 4)
    w.style_dim = min(w.style_dim, 4)
    h.authors, h.docs_per_month = min(h.authors, 40), min(h.docs_per_month, 3.0)
    h.tokens_mean = min(h.tokens_mean, 2000.0)
    sc.web.sites = min(sc.web.sites, 30)
    sc.demand.adoption.ceiling = min(sc.demand.adoption.ceiling, 100.0)
    sc.demand.tokens_mean = min(sc.demand.tokens_mean, 2000.0)
    for f in sc.farms:
        f.output.ceiling, f.sites = min(f.output.ceiling, 50.0), min(f.sites, 3)
        f.link_spam, f.tokens_mean = min(f.link_spam, 5), min(f.tokens_mean, 2000.0)
    for s in sc.scrapers:
        s.docs_per_crawl, s.budget_sites = min(s.docs_per_crawl, 200), min(s.budget_sites, 20)
        s.aggregator_sites, s.walk_length = min(s.aggregator_sites, 2), min(s.walk_length, 20)
    for m in sc.models:
        m.data.budget = min(m.data.budget, 300)


def check_scenario(name: str, data: dict, touched: list[tuple], through_launch: bool) -> None:
    try:
        sc = from_dict(data, f"library/{name}")
    except HabsburgError as err:
        message = str(err)
        assert message.startswith(f"library/{name}"), message
        if "scenario" in LIBRARY[name] and "scenario" not in data:
            # a file that started from the baseline, its `scenario` deleted: a whole scenario of
            # default sections now, whose error names what it holds ([set] and the interventions)
            return
        assert names_a_key(message, touched[-1]) or any(names_a_key(message, p) for p in touched), (
            f"{message!r} names none of {touched}"
        )
        return
    try:
        check_limits(sc)
    except LimitError:
        return  # refused before work with the estimate: a clear error
    shrink(sc)
    steps = min(sc.steps, sc.launch_step + 3 if through_launch else 4)
    try:
        model = EcosystemModel(sc, seed=1)
        for _ in range(max(steps, 1)):
            model.step()
        model.tables()
    except HabsburgError:
        return  # e.g. an intervention rejected when it applies: named, no traceback


@pytest.mark.parametrize("name", sorted(LIBRARY))
@settings(max_examples=max(2, EXAMPLES // len(LIBRARY)), **COMMON)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3), through_launch=st.integers(0, 4))
def test_mutated_library_scenarios_run_or_fail_clearly(name, mutations, through_launch):
    data, touched = mutate(LIBRARY[name], mutations)
    with hang_guard():
        # one valid example in five runs past the chatbot launch (retraining, crawls, farms),
        # in the large profile only: it takes about a second
        check_scenario(name, data, touched, through_launch == 0 and PROFILE == "fuzz")


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=max(3, EXAMPLES // 5), **COMMON)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_sweep_specs_plan_or_fail_clearly(name, mutations):
    from habsburg.experiments.sweep import plan_spec, spec_from_dict

    data, touched = mutate(SPECS[name], mutations)
    source = f"examples/sweeps/{name}"
    with hang_guard():
        try:
            sampled = "sensitivity" in SPECS[name]  # a sensitivity spec: ranges to sample
            spec = spec_from_dict(data, source, ROOT / "examples" / "sweeps", sampled=sampled)
            if not sampled and spec.method == "grid":
                plan_spec(spec)
        except HabsburgError as err:
            assert_named(err, source, touched)


@settings(max_examples=EXAMPLES, **COMMON)
@given(
    name=st.sampled_from(sorted(LIBRARY)),
    cut=st.floats(0.0, 1.0),
    noise=st.binary(min_size=0, max_size=16),
    where=st.floats(0.0, 1.0),
)
def test_damaged_scenario_files_fail_clearly(tmp_path_factory, name, cut, noise, where):
    """Truncated files, random bytes spliced in: a clear error naming the file, or a scenario."""
    text = (_library_dir() / name).read_bytes()
    text = text[: int(len(text) * cut)]
    at = int(len(text) * where)
    damaged = text[:at] + noise + text[at:]
    path = tmp_path_factory.mktemp("damaged") / name
    path.write_bytes(damaged)
    with hang_guard():
        try:
            load_file(path)
        except HabsburgError as err:
            assert str(path) in str(err), str(err)
