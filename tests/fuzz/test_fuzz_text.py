"""Property-based tests of the inputs ``test_fuzz_inputs.py`` leaves out: text-mode scenarios
(mutated library files, files that start from a text scenario with random ``[set]`` lines, and
damaged files) and calibration specs. Each ends either in a scenario that runs (two
generations on a small corpus, its tables and detector scores made, its TOML written and read
back) or in a clear :class:`~habsburg.scenarios.errors.HabsburgError` naming the file and the
key -- never another exception (which the CLI would report as a bug) and never a hang.

The text mutations found two such bugs: a negative ``seed`` (accepted, then numpy's error as an
internal one) and a model index written with a digit that is not ASCII (``models.².top_p``,
``int('²')``'s error).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from fuzzing import (
    COMMON,
    EXAMPLES,
    MUTATION,
    ODD_TEXT,
    VALUES,
    assert_named,
    hang_guard,
    mutate,
    toml_key,
    toml_value,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from smallcorpus import make_corpus

from habsburg.experiments.calibration.spec import spec_from_dict
from habsburg.experiments.text_run import run_text_scenario
from habsburg.scenarios.errors import HabsburgError
from habsburg.scenarios.text_schema import (
    TextScenario,
    _library_dir,
    load_text_scenario,
    text_scenario_from_dict,
)
from habsburg.scenarios.writer import text_scenario_toml

ROOT = Path(__file__).parents[2]
TEXT = {
    p.name: tomllib.loads(p.read_text())
    for p in sorted(_library_dir().iterdir(), key=lambda p: p.name)
    if p.name.endswith(".toml")
}
CALIBRATION = ROOT / "examples" / "calibration"
SPECS = {p.name: tomllib.loads(p.read_text()) for p in sorted(CALIBRATION.glob("*.toml"))}
CORPUS = make_corpus()

#: the setting paths a text file's ``[set]`` is drawn from: real ones (with every way of
#: choosing a model, and some that are no way) and random dotted strings
MODEL_KEYS = [
    "order",
    "temperature",
    "top_p",
    "documents",
    "document_tokens",
    "policy",
    "reservoir_fraction",
    "training_documents",
    "teacher",
    "watermark",
    "watermark_gamma",
    "paraphrase_share",
    "paraphrase_mode",
    "name",
]
OTHER_KEYS = {
    "corpus": ["max_tokens", "min_count", "heldout_fraction", "max_doc_tokens"],
    "humans": ["documents", "document_tokens", "fresh_fraction"],
    "scraper": ["crawl_documents", "watermark_filter", "z_threshold", "classifier_fpr"],
    "demand": ["documents", "quality_sensitivity", "inertia"],
    "samples": ["prompt", "continuations", "tokens"],
}
SELECTORS = st.sampled_from(["*", "0", "1", "7", "²", "٣", "-1", "01", " 0", "", "self_trained"])
PATHS = st.one_of(
    st.tuples(st.just("models"), SELECTORS, st.sampled_from(MODEL_KEYS)).map(".".join),
    st.sampled_from(sorted(OTHER_KEYS)).flatmap(
        lambda s: st.sampled_from([f"{s}.{k}" for k in OTHER_KEYS[s]] + [s, f"{s}.x"])
    ),
    st.sampled_from(["seed", "generations", "name", "mode", "description", "models", ""]),
    st.lists(st.text(max_size=6), min_size=1, max_size=4).map(".".join),
)
#: values a setting may be given: the odd ones and plausible ones (so that many files run)
SET_VALUES = st.one_of(
    VALUES,
    st.integers(-3, 400),
    st.floats(-1.0, 3.0),
    st.sampled_from(["replace", "accumulate", "distillation", "span", "the farmer"]),
)


def shrink(sc: TextScenario) -> None:
    """Small sizes, so a valid scenario runs its two generations in well under a second."""
    sc.generations = min(sc.generations, 2)
    sc.humans.documents = min(sc.humans.documents, 20)
    sc.humans.document_tokens = min(sc.humans.document_tokens, 20)
    for m in sc.models:
        m.documents, m.document_tokens = min(m.documents, 20), min(m.document_tokens, 20)
        m.training_documents = min(m.training_documents, 60)
    sc.scraper.crawl_documents = min(sc.scraper.crawl_documents, 60)
    sc.demand.documents = min(sc.demand.documents, 60)
    sc.samples.continuations = min(sc.samples.continuations, 2)
    sc.samples.tokens = min(sc.samples.tokens, 8)


def run_or_fail_clearly(sc: TextScenario) -> None:
    """A valid text scenario written as TOML reads back equal, and runs (small) to its tables."""
    assert text_scenario_from_dict(tomllib.loads(text_scenario_toml(sc)), "written") == sc
    shrink(sc)
    try:
        result = run_text_scenario(sc, corpus=CORPUS)
    except HabsburgError:
        return  # refused when it runs (named, no traceback)
    assert len(result.tables["text_generations"]) > 0


@pytest.mark.parametrize("name", sorted(TEXT))
@settings(max_examples=max(3, EXAMPLES // 4), **COMMON)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_text_scenarios_run_or_fail_clearly(name, mutations):
    data, touched = mutate(TEXT[name], mutations)
    source = f"library/text/{name}"
    with hang_guard():
        try:
            sc = text_scenario_from_dict(data, source)
        except HabsburgError as err:
            assert_named(err, source, touched)
            return
        run_or_fail_clearly(sc)


@settings(max_examples=EXAMPLES, **COMMON)
@given(
    base=st.sampled_from([n.removesuffix(".toml") for n in TEXT]),
    changes=st.dictionaries(PATHS, SET_VALUES, max_size=3),
    name=st.one_of(st.just("what_if"), ODD_TEXT),
)
def test_text_files_that_start_from_another_run_or_fail_clearly(
    tmp_path_factory, base, changes, name
):
    lines = [f"scenario = {toml_key(base)}", f"name = {toml_value(name)}", "", "[set]"]
    lines += [f"{toml_key(path)} = {toml_value(value)}" for path, value in changes.items()]
    path = tmp_path_factory.mktemp("text") / "what_if.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with hang_guard():
        try:
            sc = load_text_scenario(path)
        except HabsburgError as err:
            assert_named(err, str(path), [tuple(p.split(".")) for p in changes] + [("name",)])
            return
        run_or_fail_clearly(sc)


@settings(max_examples=EXAMPLES, **COMMON)
@given(
    name=st.sampled_from(sorted(TEXT)),
    cut=st.floats(0.0, 1.0),
    noise=st.binary(min_size=0, max_size=16),
    where=st.floats(0.0, 1.0),
)
def test_damaged_text_scenario_files_fail_clearly(tmp_path_factory, name, cut, noise, where):
    """Truncated text files, random bytes spliced in: a clear error naming the file, or a
    scenario."""
    text = (_library_dir() / name).read_bytes()
    text = text[: int(len(text) * cut)]
    at = int(len(text) * where)
    path = tmp_path_factory.mktemp("damaged") / name
    path.write_bytes(text[:at] + noise + text[at:])
    with hang_guard():
        try:
            load_text_scenario(path)
        except HabsburgError as err:
            assert str(path) in str(err), str(err)


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=EXAMPLES, **COMMON)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_calibration_specs_load_or_fail_clearly(name, mutations):
    data, touched = mutate(SPECS[name], mutations)
    source = f"examples/calibration/{name}"
    with hang_guard():
        try:
            spec_from_dict(data, source, CALIBRATION)
        except HabsburgError as err:
            assert_named(err, source, touched)


#: a text sweep spec as the README describes one (there is no example file of one)
TEXT_SWEEP = {
    "name": "temperature",
    "scenario": "text_closed_loop",
    "seeds": 2,
    "seed": 7,
    "set": {"generations": 4, "models.*.top_p": 0.95},
    "parameters": [
        {"path": "models.*.temperature", "values": [0.8, 1.2]},
        {"path": "models.0.documents", "range": [100, 300], "num": 2},
    ],
}


@settings(max_examples=EXAMPLES, **COMMON)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_text_sweep_specs_plan_or_fail_clearly(mutations):
    from habsburg.experiments.text_sweep import text_spec_from_dict

    data, touched = mutate(TEXT_SWEEP, mutations)
    with hang_guard():
        try:
            text_spec_from_dict(data, "sweep.toml", ROOT)
        except HabsburgError as err:
            assert_named(err, "sweep.toml", touched)
