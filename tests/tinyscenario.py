"""The tiny scenario the tests share (runs in about a second). A plain module, not conftest:
test folders have conftest files of their own, and ``from tinyscenario import`` would pick whichever
was imported last."""

from __future__ import annotations

import copy
from typing import Any

from habsburg.scenarios.schema import from_dict

TINY: dict[str, Any] = {
    "name": "tiny",
    "description": "A tiny ecosystem for tests.",
    "seed": 7,
    "start": "2020-01",
    "end": "2023-12",
    "chatbot_launch": "2021-01",
    "world": {
        "concepts": 400,
        "communities": 5,
        "facts": 150,
        "values_per_fact": 6,
        "style_dim": 3,
    },
    "humans": {
        "authors": 150,
        "docs_per_month": 4.0,
        "assistant": {"start": "2021-01", "midpoint": 12.0, "rate": 0.3, "ceiling": 0.5},
    },
    "demand": {"adoption": {"start": "2021-01", "midpoint": 6.0, "rate": 0.4, "ceiling": 600.0}},
    "web": {"sites": 60, "attachment": 2},
    "labs": [{"name": "north", "watermarks": True}, {"name": "south", "watermarks": False}],
    "models": [
        {
            "name": "a",
            "lab": "north",
            "launch": "2021-01",
            "retrain_interval": 6,
            "data": {"budget": 2500, "scrapers": ["crawl-1"]},
        },
        {
            "name": "b",
            "lab": "south",
            "launch": "2021-03",
            "retrain_interval": 6,
            "cost": 0.5,
            "data": {"budget": 2500, "scrapers": ["crawl-1", "crawl-2"]},
        },
        {
            "name": "c",
            "lab": "south",
            "launch": "2021-06",
            "retrain_interval": 4,
            "data": {"budget": 2000, "scrapers": ["crawl-2"], "mode": "replace"},
        },
    ],
    "farms": [
        {
            "name": "farm",
            "sites": 4,
            "link_spam": 10,
            "output": {"start": "2021-02", "midpoint": 6.0, "rate": 0.4, "ceiling": 150.0},
        }
    ],
    "scrapers": [
        {
            "name": "crawl-1",
            "budget_sites": 40,
            "docs_per_crawl": 500,
            "aggregator_sites": 2,
            "repost_share": 0.05,
        },
        {
            "name": "crawl-2",
            "budget_sites": 40,
            "docs_per_crawl": 500,
            "aggregator_sites": 1,
            "repost_share": 0.05,
            "filters": {"classifier": True},
        },
    ],
}


def tiny_dict(**overrides) -> dict:
    """The tiny scenario as a dict, with top-level sections replaced or updated."""
    data = copy.deepcopy(TINY)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return data


def tiny_scenario(**overrides):
    return from_dict(tiny_dict(**overrides), "tiny")


#: the calibration toy (tests/experiments/test_calibrate.py, benchmarks/bench_calibrate.py): one
#: model, no farms, 18 months (a run takes a fraction of a second)
CALIBRATION_TOY = tiny_dict(
    start="2020-07",
    end="2021-12",
    humans={
        "authors": 60,
        "assistant": {"start": "2021-01", "midpoint": 3.0, "rate": 0.8, "ceiling": 0.5},
    },
    web={"sites": 30, "attachment": 2},
    farms=[],
    models=[
        {
            "name": "a",
            "lab": "north",
            "launch": "2021-01",
            "retrain_interval": 24,
            "data": {"budget": 500, "scrapers": ["crawl-1"]},
        }
    ],
    scrapers=[
        {"name": "crawl-1", "budget_sites": 10, "docs_per_crawl": 100, "aggregator_sites": 0}
    ],
    demand={"adoption": {"start": "2021-01", "midpoint": 3.0, "rate": 0.8, "ceiling": 400.0}},
)


#: a six-month scenario file (TOML text) for CLI tests: one lab, model and scraper
MINI = (
    'name = "mini"\nstart = "2020-01"\nend = "2020-06"\nchatbot_launch = "2020-03"\n'
    "[world]\nconcepts = 100\nfacts = 20\n[humans]\nauthors = 30\n[web]\nsites = 20\n"
    '[[labs]]\nname = "l"\n[[models]]\nname = "m"\nlab = "l"\nlaunch = "2020-03"\n'
    '[[scrapers]]\nname = "s"\n'
)


def sensitivity_spec(scenario: str, *, steps: int, sobol: int, morris: int) -> str:
    """A sensitivity spec of two settings (AI demand, the human error rate) of ``scenario`` (a
    scenario file's path), ``steps`` months, ``sobol`` Sobol samples and ``morris`` Morris
    trajectories."""
    return f"""
name = "tiny-sensitivity"
scenario = "{scenario}"
steps = {steps}
seed = 3
outcomes = ["final_synthetic_share_new", "final_mean_tail_coverage"]

[[parameters]]
path = "demand.adoption.ceiling"
range = [0.0, 800.0]

[[parameters]]
path = "humans.error_rate"
range = [0.0, 0.05]

[sensitivity]
sobol_samples = {sobol}
morris_trajectories = {morris}
"""
