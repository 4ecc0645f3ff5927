"""The AI filters' counterfactual: the same seed rerun with the watermark detector and the
AI-text classifier off."""

from __future__ import annotations

import numpy as np
from tinyscenario import tiny_scenario

from habsburg.experiments import counterfactual as CF
from habsburg.scenarios.schema import get_setting


def test_without_ai_filters_switches_off_detector_and_classifier_only():
    sc = tiny_scenario(
        interventions=[
            {
                "at": "2022-01",
                "set": {
                    "scrapers.*.filters.watermark_detector": True,
                    "watermark.adoption": 0.5,
                },
            },
            {"at": "2022-06", "set": {"scrapers.*.filters.classifier": True}},
            {"at": "2023-01", "times": {"watermark.adoption": 1.5}},  # (kept: not a filter)
        ]
    )
    off = CF.without_ai_filters(sc)
    assert get_setting(sc, "scrapers.crawl-2.filters.classifier") is True  # original untouched
    for s in off.scrapers:
        assert not s.filters.watermark_detector and not s.filters.classifier
        assert s.filters.dedup  # other filters stay
    assert off.interventions[0].set == {"watermark.adoption": 0.5}
    assert [iv.at for iv in off.interventions] == ["2022-01", "2023-01"]
    assert off.interventions[1].times == {"watermark.adoption": 1.5}


def test_filter_counterfactual_runs_the_same_seed_without_filters(tiny):
    table = CF.filter_counterfactual(tiny, steps=30)
    t = table.set_index("outcome")
    assert list(table["outcome"][: len(CF.COUNTERFACTUAL_OUTCOMES)]) == list(
        CF.COUNTERFACTUAL_OUTCOMES
    )
    assert np.allclose(table["effect"], table["filters_on"] - table["filters_off"], equal_nan=True)
    # with the filters off nothing is flagged: recall 0; with them on the classifier catches some
    assert t.loc["mean_filter_recall", "filters_off"] == 0.0
    assert t.loc["mean_filter_recall", "filters_on"] > 0.0
    # and no human document is lost to them
    assert t.loc["human_documents_lost", "filters_off"] == 0
    assert t.loc["human_documents_lost", "filters_on"] > 0
