"""Audit of the scenario library against its descriptions, of ``scaled`` against its docstring,
and of the examples' texts against what they run (2026-12 audit)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
from scriptload import load_script

from habsburg.scenarios import get_setting, list_scenarios, load_scenario, set_setting
from habsburg.scenarios.library import scaled
from habsburg.scenarios.schema import Intervention

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODELS = ["nw-chat", "nw-pro", "mer-1", "mer-2", "lat-base", "lat-large", "open-7b", "open-70b"]
BOT_FILTERS = {  # (the two labs' own crawlers in diverse_crawlers, as their description gives)
    "classifier": False,
    "watermark_detector": True,
    "watermark_threshold": 4.0,
    "dedup": True,
}

#: each derived scenario: the settings it changes from the baseline (what its description says)
CHANGES: dict[str, dict[str, Any]] = {
    "accumulate_all": {"models.*.data.mode": "accumulate"},
    "replace_only": {"models.*.data.mode": "replace"},
    "synthetic_loop": {"models.*.data.mode": "replace", "models.nw-pro.data.human_reservoir": 0.0},
    "late_reintroduction": {
        "models.*.data.mode": "replace",
        "models.nw-pro.data.human_reservoir": 0.0,
    },
    "human_reservoir": {"models.*.data.human_reservoir": 0.4},
    "sensor_data": {"models.*.data.sensor_fraction": 0.3},
    "verified_synthetic": {
        "models.*.data.verifier_recall": 0.8,
        "models.*.data.verifier_false_reject": 0.1,
    },
    "tail_preserving": {"models.*.data.tail_reweighting": 0.3, "models.*.data.smoothing": 0.5},
    "assisted_drift": {
        "humans.assistant.ceiling": 0.95,
        "humans.assisted_fraction": 0.6,
        "humans.drift_rate": 0.05,
        "humans.workflows": [],
    },
    "duplication": {
        "models.*.data.dedup": False,
        "scrapers.*.filters.dedup": False,
        "scrapers.*.repost_share": 0.3,
        "scrapers.*.spin_share": 0.7,
        "scrapers.openweb.aggregator_sites": 12,
        "scrapers.northwind-bot.aggregator_sites": 6,
        "scrapers.meridian-bot.aggregator_sites": 6,
    },
    "paraphrase_arms_race": {
        "farms.clickmill.output.ceiling": 1350.0,
        "farms.seo-harvest.output.ceiling": 1050.0,
        "scrapers.*.spin_share": 0.6,
    },
    "watermark_mandate": {},
    "monoculture": {
        "models.*.data.scrapers": ["openweb"],
        "scrapers.openweb.budget_sites": 500,
        "scrapers.openweb.docs_per_crawl": 16000,
    },
    "diverse_crawlers": {
        "models.nw-chat.data.scrapers": ["northwind-bot"],
        "models.nw-pro.data.scrapers": ["northwind-bot"],
        "models.mer-1.data.scrapers": ["meridian-bot"],
        "models.lat-base.data.scrapers": ["lattice-bot"],
        "models.lat-large.data.scrapers": ["lattice-bot"],
        "models.open-7b.data.scrapers": ["commons-bot"],
        "models.open-70b.data.scrapers": ["commons-bot"],
    },
    "baseline_calibrated": {
        "demand.adoption.ceiling": 7008.615160964626,
        "demand.adoption.midpoint": 10.287211955463855,
        "demand.workflows.edited.weight": 1.2088277648639179,
        "humans.assistant.ceiling": 0.5059539842291751,
    },
}
MANDATE = [
    ("2025-01", {"watermark.adoption": 0.7, "scrapers.*.filters.watermark_threshold": 3.0}),
    ("2027-01", {"watermark.adoption": 0.95}),
]
LOOP = ("2024-01", {"humans.docs_per_month": 0.0})
#: each scenario's interventions: (month, settings)
INTERVENTIONS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "watermark_mandate": MANDATE,
    "paraphrase_arms_race": [
        MANDATE[0],
        ("2025-07", {"farms.*.paraphrase_share": 0.8, "farms.*.paraphrase_rate": 0.35}),
        (
            "2027-01",
            {
                "watermark.adoption": 0.95,
                "farms.*.paraphrase_share": 0.95,
                "farms.*.paraphrase_rate": 0.5,
                "scrapers.*.spin_rate": 0.4,
            },
        ),
    ],
    "synthetic_loop": [LOOP],
    "late_reintroduction": [
        LOOP,
        (
            "2028-01",
            {
                "humans.docs_per_month": 4.6,
                "models.*.data.human_reservoir": 0.5,
                "models.*.data.sensor_fraction": 0.1,
            },
        ),
    ],
}


def comparable(sc) -> dict:
    data = sc.to_dict()
    for key in ("name", "description", "source"):
        data.pop(key)
    return data


def test_every_derived_scenario_is_covered():
    assert sorted(CHANGES) == sorted(n for n in list_scenarios() if n != "baseline")


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_scenario_is_the_baseline_plus_exactly_its_described_changes(name):
    """The baseline with the described settings set (and its crawlers removed or added as the
    description says) is the scenario, setting for setting; so are its interventions."""
    sc, expected = load_scenario(name), load_scenario("baseline")
    if name == "monoculture":
        expected.scrapers = [s for s in expected.scrapers if s.name == "openweb"]
    if name == "diverse_crawlers":
        own = {s.name: s for s in sc.scrapers}
        assert sorted(own) == ["commons-bot", "lattice-bot", "meridian-bot", "northwind-bot"]
        for bot, sites, docs, quality in (
            ("lattice-bot", 150, 5000, 0.2),
            ("commons-bot", 120, 4000, 0.15),
        ):
            new = copy.deepcopy(next(s for s in expected.scrapers if s.name == "meridian-bot"))
            new.name, new.budget_sites, new.docs_per_crawl = bot, sites, docs
            new.filters.quality_threshold = quality
            for key, value in BOT_FILTERS.items():
                setattr(new.filters, key, value)
            expected.scrapers.append(new)
        expected.scrapers = [s for s in expected.scrapers if s.name != "openweb"]
        expected.scrapers.sort(key=lambda s: [x.name for x in sc.scrapers].index(s.name))
    for path, value in CHANGES[name].items():
        if path == "demand.workflows.edited.weight":
            next(w for w in expected.demand.workflows if w.name == "edited").weight = value
        elif path == "humans.workflows":
            expected.humans.workflows = value
        else:
            set_setting(expected, path, value)
    expected.interventions = [
        Intervention(at=at, set=settings, note=iv.note)
        for (at, settings), iv in zip(INTERVENTIONS.get(name, []), sc.interventions, strict=True)
    ]
    assert len(sc.interventions) == len(INTERVENTIONS.get(name, []))
    assert comparable(sc) == comparable(expected)


def test_paraphrase_arms_race_says_what_it_changes_from_the_start():
    """Farms' 1.5x output and the 60% spin share hold from the start of the run (not from the
    mandate), and from 2027-01 spins change 40% of a repost's tokens: the description said only
    "aggregators spin more of what they repost" in the 2027-01 clause and "farms also scale up"."""
    sc, base = load_scenario("paraphrase_arms_race"), load_scenario("baseline")
    ratios = [
        a.output.ceiling / b.output.ceiling for a, b in zip(sc.farms, base.farms, strict=True)
    ]
    assert ratios == [1.5, 1.5]
    assert [s.spin_share for s in sc.scrapers] == [0.6, 0.6, 0.6]
    assert [s.spin_share for s in base.scrapers] == [0.5, 0.5, 0.5]
    assert [s.spin_rate for s in base.scrapers] == [0.2, 0.2, 0.2]
    assert (
        sc.interventions[2].at == "2027-01"
        and sc.interventions[2].set["scrapers.*.spin_rate"] == 0.4
    )
    text = " ".join(sc.description.split())
    assert "from the start of the run, not from the mandate" in text
    assert "farms publish 1.5 times the baseline's output" in text
    assert "aggregators spin 60% of their reposts instead of 50%" in text
    assert (
        "from 2027-01 nearly all of them at half their tokens, while aggregators' spins change 40% of a repost's tokens instead of 20%"
        in text
    )


def test_diverse_crawlers_says_its_crawls_are_larger_than_the_monocultures():
    """Paired with ``monoculture`` (whose one crawler matches the baseline's three), the four
    crawlers sample 19% more: the description did not say so."""
    visits = {}
    for name in ("baseline", "monoculture", "diverse_crawlers"):
        sc = load_scenario(name)
        visits[name] = (
            sum(s.budget_sites for s in sc.scrapers),
            sum(s.docs_per_crawl for s in sc.scrapers),
        )
    assert visits == {
        "baseline": (500, 16000),
        "monoculture": (500, 16000),
        "diverse_crawlers": (570, 19000),
    }
    text = " ".join(load_scenario("diverse_crawlers").description.split())
    assert "make 570 site visits and sample 19,000 documents a month" in text
    assert "(500 visits, 16,000 documents)" in text


def test_assisted_drift_numbers_match_its_settings():
    sc = load_scenario("assisted_drift")
    text = " ".join(sc.description.split())
    assert "95% of authors by the end instead of 45%" in text
    assert (sc.humans.assistant.ceiling, load_scenario("baseline").humans.assistant.ceiling) == (
        0.95,
        0.45,
    )
    assert "write 60% of every assisted document" in text and sc.humans.assisted_fraction == 0.6
    assert "five times faster" in text and sc.humans.drift_rate == 5 * 0.01


# --- scaled ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "expected"),
    [
        (
            0.1,
            {
                "humans.authors": 200,
                "web.sites": 400,
                "demand.adoption.ceiling": 705.0,
                "farms.clickmill.output.ceiling": 90.0,
                "farms.seo-harvest.output.ceiling": 70.0,
                "farms.clickmill.sites": 12,
                "farms.clickmill.link_farm_size": 12,
                "farms.seo-harvest.link_farm_size": 8,
                "scrapers.openweb.docs_per_crawl": 600,
                "scrapers.northwind-bot.docs_per_crawl": 500,
                "scrapers.openweb.budget_sites": 200,
                "scrapers.openweb.aggregator_sites": 4,
                "models.nw-chat.data.budget": 4000,
                "models.open-7b.data.budget": 2000,
            },
        ),
        (
            10,
            {
                "humans.authors": 20000,
                "web.sites": 4000,
                "demand.adoption.ceiling": 70500.0,
                "farms.clickmill.output.ceiling": 9000.0,
                "farms.seo-harvest.output.ceiling": 7000.0,
                "farms.clickmill.sites": 120,
                "farms.clickmill.link_farm_size": 12,
                "farms.seo-harvest.link_farm_size": 8,
                "scrapers.openweb.docs_per_crawl": 60000,
                "scrapers.northwind-bot.docs_per_crawl": 50000,
                "scrapers.openweb.budget_sites": 2000,
                "scrapers.openweb.aggregator_sites": 40,
                "models.nw-chat.data.budget": 400000,
                "models.open-7b.data.budget": 200000,
            },
        ),
    ],
)
def test_scaled_baseline_scales_the_flows_and_keeps_every_other_setting(factor, expected):
    base = load_scenario("baseline")
    sc = scaled(base, factor)
    for path, value in expected.items():
        assert get_setting(sc, path) == value, path
    # every other setting as in the baseline: undo the scaled ones and compare the rest
    undone = copy.deepcopy(sc)
    undone.name, undone.humans.authors, undone.web.sites = base.name, 2000, 400
    undone.demand.adoption.ceiling = base.demand.adoption.ceiling
    for fa, fb in zip(undone.farms, base.farms, strict=True):
        fa.output.ceiling, fa.sites = fb.output.ceiling, fb.sites
        fa.link_farm_size = fb.link_farm_size
    for sa, sb in zip(undone.scrapers, base.scrapers, strict=True):
        sa.docs_per_crawl, sa.budget_sites = sb.docs_per_crawl, sb.budget_sites
        sa.aggregator_sites = sb.aggregator_sites
    for ma, mb in zip(undone.models, base.models, strict=True):
        ma.data.budget = mb.data.budget
    assert undone.to_dict() == base.to_dict()


def test_scaled_keeps_a_crawler_that_runs_no_aggregator_sites_without_any():
    """``max(1, round(0 * f))`` gave a crawler with ``aggregator_sites = 0`` one aggregator site
    (and so reposts) in every run scaled by 1 or more."""
    sc = load_scenario("baseline")
    set_setting(sc, "scrapers.openweb.aggregator_sites", 0)
    for factor in (1, 3, 10):
        assert [s.aggregator_sites for s in scaled(sc, factor).scrapers] == [
            0,
            2 * factor,
            2 * factor,
        ]
    assert [s.aggregator_sites for s in scaled(sc, 0.1).scrapers] == [0, 2, 2]


def test_scaled_scales_an_interventions_flows_alike():
    """An intervention setting a scaled flow kept its unscaled value: at 0.1x, the AI demand
    jumped to 9,000 documents a month for 200 authors from the intervention's month on."""
    sc = load_scenario("baseline")
    settings = {
        "demand.adoption.ceiling": 9000.0,
        "farms.*.output.ceiling": 2000.0,
        "farms.clickmill.paraphrase_share": 0.5,
        "scrapers.openweb.docs_per_crawl": 8000,
        "scrapers.*.budget_sites": 300,
        "models.nw-chat.data.budget": 60000,
        "models.*.data.human_reservoir": 0.2,
        "watermark.adoption": 0.7,
        "humans.docs_per_month": 5.0,
    }
    sc.interventions.append(Intervention(at="2026-01", set=dict(settings), note="audit"))
    assert scaled(sc, 0.1).interventions[0].set == {
        **settings,
        "demand.adoption.ceiling": 900.0,
        "farms.*.output.ceiling": 200.0,
        "scrapers.openweb.docs_per_crawl": 800,
        "models.nw-chat.data.budget": 6000,
    }  # (the site graph, budget_sites included, is kept below 1x)
    assert scaled(sc, 10).interventions[0].set == {
        **settings,
        "demand.adoption.ceiling": 90000.0,
        "farms.*.output.ceiling": 20000.0,
        "scrapers.openweb.docs_per_crawl": 80000,
        "scrapers.*.budget_sites": 3000,
        "models.nw-chat.data.budget": 600000,
    }
    assert sc.interventions[0].set == settings  # the scenario itself is left alone


@pytest.mark.parametrize("name", list(list_scenarios()))
def test_scaled_library_interventions_set_no_flow(name):
    """No library intervention sets a scaled setting, so scaling interventions leaves every
    library run as it was."""
    sc = load_scenario(name)
    assert [iv.set for iv in scaled(sc, 10).interventions] == [iv.set for iv in sc.interventions]


# --- examples ----------------------------------------------------------------------------------


def test_ema_prim_quick_help_says_how_far_it_runs(tmp_path, monkeypatch, capsys):
    """``--quick`` runs 56 months (2020-01 to 2024-08): its help said 24 months."""
    pytest.importorskip("ema_workbench")
    prim = load_script(EXAMPLES / "ema_prim.py")
    seen = {}

    def stop(scenario, *args, **kw):
        seen["steps"], seen["scenario"] = kw["steps"], scenario
        raise SystemExit(0)

    monkeypatch.setattr(prim, "ema_model", stop)
    monkeypatch.setattr(sys, "argv", ["ema_prim.py", "--quick", "--out", str(tmp_path / "p")])
    with pytest.raises(SystemExit):
        prim.main()
    assert seen["steps"] == 56
    assert seen["scenario"].step_to_month(seen["steps"] - 1) == "2024-08"
    monkeypatch.setattr(sys, "argv", ["ema_prim.py", "--help"])
    with pytest.raises(SystemExit):
        prim.main()
    assert "tiny world, 56 months to 2024-08" in " ".join(capsys.readouterr().out.split())
