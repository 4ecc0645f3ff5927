"""A finished text model is freed once nothing refers to it (see tests/model/test_release.py)."""

from __future__ import annotations

import gc
import weakref

from habsburg.model.text_model import TextEcosystemModel
from habsburg.scenarios.text_schema import text_scenario_from_dict


def test_finished_text_models_are_freed(small_corpus):
    scenario = text_scenario_from_dict(
        {
            "name": "release",
            "generations": 1,
            "models": [{"name": "m", "documents": 5, "document_tokens": 20}],
            "samples": {"prompt": "the farmer", "continuations": 1, "tokens": 4},
        }
    )

    def run():
        model = TextEcosystemModel(scenario, small_corpus)
        model.step()
        return model

    ref = weakref.ref(run())
    gc.collect()
    assert ref() is None
