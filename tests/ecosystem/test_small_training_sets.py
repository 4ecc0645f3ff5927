"""Training sets too small to fit a style: a set of one document takes the human archive's
styles, as an empty set does, instead of failing the run mid-way (``habsburg run baseline
--scale 0.00001`` gave every model a budget of 1 and stopped with an internal error)."""

import dataclasses

import numpy as np
import pytest
from tinyscenario import TINY, tiny_scenario

from habsburg.agents.generative import GenerativeModel
from habsburg.ecosystem.columns import HUMAN
from habsburg.ecosystem.learners import StyleLearner
from habsburg.ecosystem.training import build_training_set
from habsburg.model.model import EcosystemModel
from habsburg.scenarios import load_scenario
from habsburg.scenarios.library import scaled


def _set(run, agent, pool, budget):
    policy = agent.config.data
    policy = dataclasses.replace(policy, budget=budget)
    return build_training_set(
        policy,
        pool,
        run.internet.store,
        run.world,
        np.random.default_rng(4),
        previous=np.zeros(0, np.int64),
        archive_last_step=run.config.launch_step - 1,
        facts_per_doc=run.config.humans.facts_per_doc,
    )


def test_a_set_of_one_document_gets_the_archive_styles_and_fits(run):
    agent = next(a for a in run.agents_by_type[GenerativeModel] if a.config.data.mode != "replace")
    store = run.internet.store
    doc = np.flatnonzero(store.kind == HUMAN)[:1]  # one human document with concepts
    one = _set(run, agent, doc, budget=1)
    assert one.doc_ids.tolist() == doc.tolist()
    assert one.concept_counts.sum() > 0  # its own concepts, not the archive's
    assert len(one.style) == 1 + 10  # its style and max(10, budget // 10) of the archive's
    assert one.style[0] == pytest.approx(store.style[doc[0]])
    learner = StyleLearner(dim=run.world.config.style_dim)
    learner.fit(one.style)  # two or more styles: a covariance
    assert np.isfinite(learner.cov_).all()
    # with it taken out, one style is refused by the learner, so the branch is what fits it
    with pytest.raises(ValueError, match="at least 2 samples"):
        StyleLearner(dim=run.world.config.style_dim).fit(one.style[:1])


def test_two_documents_are_fitted_as_they_are(run):
    agent = next(iter(run.agents_by_type[GenerativeModel]))
    two = np.flatnonzero(run.internet.store.kind == HUMAN)[:2]
    fitted = _set(run, agent, two, budget=2)
    assert len(fitted.style) == 2  # no archive styles added to a set that can be fitted


def test_models_with_a_budget_of_one_run_to_the_end():
    models = [{**m, "data": {**m["data"], "budget": 1}} for m in TINY["models"]]
    model = EcosystemModel(tiny_scenario(models=models))
    for _ in range(model.config.steps):
        model.step()
    assert all(a.generation >= 1 for a in model.agents_by_type[GenerativeModel])


def test_the_baseline_scaled_to_a_hundred_thousandth_builds_budgets_of_one():
    sc = scaled(load_scenario("baseline"), 1e-5)
    assert {m.data.budget for m in sc.models} == {1}  # the case the CLI stopped on
