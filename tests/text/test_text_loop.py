"""Qualitative collapse on real tokens, over seeds: the closed loop forgets the human text, a
10% human reservoir slows that, and samples grow over-confident under generation 0."""

from __future__ import annotations

import numpy as np
import pytest

from habsburg.experiments.text_run import run_text_scenario
from habsburg.experiments.text_sweep import load_text_sweep_spec
from habsburg.model.text_model import TextEcosystemModel
from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.text_schema import (
    is_text_scenario,
    list_text_scenarios,
    load_text_scenario,
    text_scenario_from_dict,
)

SEEDS = (0, 1, 2)
GENERATIONS = 6


def loop_scenario(policy: str, seed: int):
    return text_scenario_from_dict(
        {
            "name": f"loop-{policy}",
            "seed": seed,
            "generations": GENERATIONS,
            "humans": {"documents": 0},
            "models": [
                {
                    "name": "m",
                    "policy": policy,
                    "reservoir_fraction": 0.1,
                    "top_p": 0.9,
                    "documents": 60,
                    "document_tokens": 40,
                }
            ],
            "samples": {"prompt": "the farmer", "continuations": 1, "tokens": 8},
        }
    )


def run_loop(policy: str, seed: int, corpus):
    model = TextEcosystemModel(loop_scenario(policy, seed), corpus)
    for _ in range(GENERATIONS):
        model.step()
    return model.tables()["text_generations"]


@pytest.fixture(scope="module")
def loops(small_corpus):
    return {(p, s): run_loop(p, s, small_corpus) for p in ("replace", "reservoir") for s in SEEDS}


def test_closed_loop_forgets_human_text(loops):
    for s in SEEDS:
        t = loops["replace", s]
        ppl, share = t.heldout_perplexity.to_numpy(), t.ngram_share.to_numpy()
        assert ppl[-1] > 1.3 * ppl[0], ppl
        assert share[-1] < 0.7 * share[0], share
        # generation after generation, on average over the run
        assert np.mean(np.diff(ppl) > 0) >= 0.6 and np.mean(np.diff(share) < 0) >= 0.6


def test_own_samples_become_more_probable_under_generation_zero(loops):
    first = np.mean([loops["replace", s].own_perplexity_gen0_median.iloc[0] for s in SEEDS])
    last = np.mean([loops["replace", s].own_perplexity_gen0_median.iloc[-1] for s in SEEDS])
    assert last < first, (first, last)


def test_human_reservoir_slows_collapse(loops):
    for metric, worse in (("heldout_perplexity", np.greater), ("ngram_share", np.less)):
        closed = np.mean([loops["replace", s][metric].iloc[-1] for s in SEEDS])
        kept = np.mean([loops["reservoir", s][metric].iloc[-1] for s in SEEDS])
        assert worse(closed, kept), (metric, closed, kept)


def test_ecosystem_run_writes_tables_and_filters(tmp_path, small_corpus):
    sc = text_scenario_from_dict(
        {
            "name": "eco",
            "generations": 3,
            "humans": {"documents": 40, "document_tokens": 30},
            "models": [
                {
                    "name": "a",
                    "watermark": True,
                    "documents": 40,
                    "document_tokens": 60,
                    "paraphrase_share": 0.5,
                    "paraphrase_mode": "span",
                },
                {"name": "b", "policy": "accumulate", "documents": 40, "document_tokens": 30},
                {
                    "name": "c",
                    "policy": "distillation",
                    "teacher": "a",
                    "documents": 20,
                    "document_tokens": 30,
                },
            ],
            "scraper": {"watermark_filter": True, "classifier_filter": True, "z_threshold": 2.0},
            "demand": {"documents": 100},
        }
    )
    result = run_text_scenario(sc, corpus=small_corpus, out=tmp_path / "out")
    t = result.tables
    gens = t["text_generations"]
    assert set(gens.model) == {"a", "b", "c"} and gens.generation.max() == 2
    # AI demand is split by market share, and shares move toward the better model
    np.testing.assert_allclose(gens.groupby("generation").market_share.sum(), 1.0)
    assert (gens.documents - 100 * gens.market_share).abs().max() <= 1
    g1 = gens[gens.generation == 1].set_index("model")
    g2 = gens[gens.generation == 2].set_index("model")
    gain = g2.market_share - g1.market_share
    assert gain[g1.heldout_perplexity.idxmin()] > gain[g1.heldout_perplexity.idxmax()]
    crawl = t["text_crawls"].iloc[0]
    assert crawl.watermark_flags > 0 and 0 < crawl.synthetic_before < 1
    assert crawl.synthetic_after < crawl.synthetic_before  # the filters remove machine text
    wm = t["text_watermark_scores"].groupby("kind").z.mean()
    assert wm["watermarked"] > wm["span edits 20%"] > wm["random edits 20%"] > wm["human"]
    store = result.model.store
    frac = store.synthetic_fraction()
    assert set(np.unique(frac)) <= {0.0, 1.0} and (store.kind == 0).any()
    assert (tmp_path / "out" / "text_generations.parquet").exists()
    assert (tmp_path / "out" / "samples" / "generation_01.txt").read_text().count("[a #") == 3


def test_a_model_may_distil_from_itself(small_corpus):
    """A distillation model that names itself as its teacher trains on its own published
    samples (the fully synthetic loop of Shumailov et al. 2024 and Alemohammad et al. 2024), every
    token of its training set its own."""
    sc = text_scenario_from_dict(
        {
            "name": "self",
            "generations": 3,
            "humans": {"documents": 40, "document_tokens": 30},
            "models": [
                {"name": "a", "documents": 30, "document_tokens": 30},
                {"name": "s", "policy": "distillation", "teacher": "s", "documents": 20},
            ],
            "demand": {"documents": 60},
        }
    )
    model = TextEcosystemModel(sc, corpus=small_corpus)
    s = next(a for a in model.generative_models if a.config.name == "s")
    for generation in range(1, sc.generations):
        model.step()  # each model publishes, then retrains on its policy's documents
        assert s.generation == generation
        assert s.training_stats["train_synthetic_share"] == 1.0
        off = model.store.offsets
        own = np.concatenate([np.arange(off[i], off[i + 1]) for i in s.published])
        assert s.published.size and s.training_stats["train_tokens"] == own.size
        assert set(model.store.author[own].tolist()) == {s.index}


def test_library_scenarios_load_and_bad_keys_are_named():
    assert {"text_baseline", "text_closed_loop", "text_reservoir"} <= set(list_text_scenarios())
    for name in list_text_scenarios():
        assert load_text_scenario(name).generations >= 1
    with pytest.raises(ScenarioError, match=r"unknown key 'models\[0\].polcy'"):
        text_scenario_from_dict({"models": [{"polcy": "replace"}]}, "x.toml")
    with pytest.raises(ScenarioError, match="policy"):
        text_scenario_from_dict({"models": [{"policy": "hoard"}]}, "x.toml")
    with pytest.raises(ScenarioError, match="teacher"):
        text_scenario_from_dict({"models": [{"policy": "distillation"}]}, "x.toml")
    with pytest.raises(ScenarioError, match="unknown text scenario"):
        load_text_scenario("text_nope")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"corpus": 3}, r"x\.toml: corpus must be a table, got 3"),
        ({"models": []}, r"x\.toml: models must be a non-empty array of tables"),
        ({"models": {"name": "a"}}, r"x\.toml: models must be a non-empty array of tables"),
        ({"models": [{"watermark": "yes"}]}, r"models\[0\]\.watermark: expected true or false"),
        ({"generations": 2.5}, r"x\.toml: generations: expected an integer, got 2\.5"),
        ({"generations": True}, r"x\.toml: generations: expected an integer, got True"),
        ({"models": [{"temperature": "hot"}]}, r"temperature: expected a number, got 'hot'"),
        ({"models": [{"name": 7}]}, r"models\[0\]\.name: expected a string, got 7"),
        ({"models": [{"top_p": 1.5}]}, r"models\[0\]\.top_p: 1\.5 is outside \[0\.01, 1\.0\]"),
        (
            {"models": [{"name": "a"}, {"name": "a"}]},
            r"x\.toml: models: duplicate model names \['a', 'a'\]",
        ),
    ],
)
def test_bad_values_in_a_text_scenario_are_named(data, message):
    """Each wrong type, shape or range names the file and the key (and what was given)."""
    with pytest.raises(ScenarioError, match=message):
        text_scenario_from_dict(data, "x.toml")


@pytest.mark.parametrize(
    ("load", "missing"),
    [
        (load_text_scenario, r"scenario file '.*gone\.toml' does not exist"),
        (load_text_sweep_spec, r"sweep spec '.*gone\.toml' does not exist"),
    ],
    ids=["scenario", "sweep spec"],
)
def test_an_unreadable_text_scenario_or_sweep_spec_is_named(tmp_path, load, missing):
    with pytest.raises(ScenarioError, match=missing):
        load(tmp_path / "gone.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text('mode = "text"\nname = \n')
    with pytest.raises(ScenarioError, match=r"broken\.toml: malformed TOML: .*line 2"):
        load(broken)


def test_text_scenarios_are_recognised(tmp_path):
    assert is_text_scenario("text_baseline") and not is_text_scenario("baseline")
    own = tmp_path / "mine.toml"
    own.write_text('mode = "text"\nname = "mine"\ngenerations = 2\n')
    assert is_text_scenario(own) and load_text_scenario(own).generations == 2
    other = tmp_path / "abstract.toml"
    other.write_text('name = "x"\n')
    assert not is_text_scenario(other)


def test_report_reads_a_text_run(tmp_path, small_corpus):
    from habsburg.reports.text_report import write_text_report

    sc = text_scenario_from_dict(
        {
            "name": "rep",
            "generations": 2,
            "humans": {"documents": 20, "document_tokens": 40},
            "models": [{"name": "a", "watermark": True, "documents": 30, "document_tokens": 40}],
            "samples": {"prompt": "the farmer", "continuations": 2, "tokens": 6},
        }
    )
    run_text_scenario(sc, corpus=small_corpus, out=tmp_path / "run", finish=write_text_report)
    text = (tmp_path / "run" / "text_report.md").read_text()
    assert "“the farmer …”" in text and "| 1 |" in text
    assert "watermark z, a: watermarked vs human: AUC" in text
    assert (tmp_path / "run" / "text_perplexity_distributions.png").stat().st_size > 1000


def test_a_text_run_that_fails_before_writing_leaves_no_output_directory(tmp_path, monkeypatch):
    """``--out`` is checked first and made only when the results are written: a corpus that
    cannot be loaded (or a run that fails) left an empty directory behind."""

    def no_corpus(**kwargs):
        raise ScenarioError("no text corpus installed")

    monkeypatch.setattr("habsburg.experiments.text_run.load_installed_corpus", no_corpus)
    with pytest.raises(ScenarioError, match="no text corpus"):
        run_text_scenario("text_baseline", out=tmp_path / "new" / "out")
    assert list(tmp_path.iterdir()) == []
