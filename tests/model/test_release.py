"""A finished model is freed once nothing refers to it (Mesa 3.3's ``Agent._ids`` held every
model for the life of the process: a sweep worker or the scale study ran out of memory), and
agents keep Mesa's numbering: unique within a model, from 1, across agent classes."""

from __future__ import annotations

import gc
import weakref

import mesa
import pytest
from tinyscenario import tiny_scenario

from habsburg.agents.ids import MODEL_IDS, ModelCounters
from habsburg.agents.scraper import Scraper
from habsburg.experiments.run import simulate
from habsburg.model.text_model import TextScraper


def released(make) -> bool:
    """Whether the object ``make()`` returns is freed once dropped."""
    ref = weakref.ref(make())
    gc.collect()
    return ref() is None


def test_finished_ecosystem_models_are_freed():
    def run():
        return simulate(tiny_scenario(end="2022-03"))

    before = len(MODEL_IDS)
    assert released(run)
    assert released(run)  # and the next one too: nothing accumulates
    assert len(MODEL_IDS) <= before  # (earlier tests' models may be freed meanwhile)


def test_agent_ids_are_unique_per_model_and_numbered_from_one():
    a, b = (simulate(tiny_scenario(end="2022-02"), seed=s) for s in (1, 2))
    for model in (a, b):
        ids = sorted(agent.unique_id for agent in model.agents)
        assert ids == list(range(1, len(ids) + 1))
        assert len({type(agent) for agent in model.agents}) >= 3  # across classes


def test_model_counters_count_per_key_and_drop_dead_keys():
    counters = ModelCounters()

    class Key:
        pass

    k1, k2 = Key(), Key()
    assert [next(counters[k1]) for _ in range(3)] == [1, 2, 3]
    assert next(counters[k2]) == 1 and next(counters[k1]) == 4
    del k1
    gc.collect()
    assert len(counters) == 1


@pytest.mark.skipif(
    not isinstance(mesa.Agent.__dict__.get("_ids"), dict), reason="Mesa numbers agents itself"
)
def test_mesa_own_counters_are_not_used():
    """On Mesa 3.3 our agents bypass ``mesa.Agent._ids``, which would keep the model alive."""
    model = simulate(tiny_scenario(end="2022-02"))
    assert model not in mesa.Agent._ids


def test_every_habsburg_agent_class_uses_the_weak_counters():
    """A new agent class that forgot ``_ids = MODEL_IDS`` would bring the leak back on Mesa 3.3."""

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = {c for c in subclasses(mesa.Agent) if c.__module__.startswith("habsburg.")}
    assert {Scraper, TextScraper} <= ours and len(ours) >= 7  # both modes' classes found
    assert {c.__name__ for c in ours if c._ids is not MODEL_IDS} == set()
