"""The text-mode page rendered without a browser: a step shows each model's latest sample text
and its held-out perplexity; Reset starts again."""

from __future__ import annotations

import re
from typing import Any

import ipyvuetify as v
import solara
from smallcorpus import make_corpus
from widgettext import SHOWN, widget_text

from habsburg.cli import main, viz
from habsburg.scenarios.text_schema import text_scenario_from_dict
from habsburg.viz import text_app

SCENARIO = text_scenario_from_dict(
    {
        "name": "tiny_text",
        "generations": 2,
        "humans": {"documents": 10, "document_tokens": 20},
        "models": [
            {"name": "alpha", "documents": 20, "document_tokens": 20},
            {"name": "beta", "documents": 20, "document_tokens": 20, "policy": "accumulate"},
        ],
        "samples": {"prompt": "the farmer", "continuations": 1, "tokens": 6},
    }
)


def texts(widget) -> str:
    return widget_text(widget, (*SHOWN, "label", "template"))


def test_text_page_steps_and_shows_samples(monkeypatch):
    corpus = make_corpus()
    monkeypatch.setattr(text_app, "scenario_from_env", lambda: SCENARIO)
    monkeypatch.setattr(text_app, "load_corpus", lambda scenario: corpus)
    built = []
    new_model = text_app.new_model

    def counted_model(*args):
        built.append(new_model(*args))
        return built[-1]

    monkeypatch.setattr(text_app, "new_model", counted_model)
    box, rc = solara.render(text_app.Page(), handle_error=False)
    before = texts(box)
    assert "generation 0 of 2" in before and "no generation yet" in before
    rc.find(v.Btn, children=["Step"]).widget.click()
    after = texts(box)
    assert "generation 1 of 2" in after and "no generation yet" not in after
    assert "alpha" in after and "beta" in after
    # each model's latest continuation of the prompt is on the page, and its perplexity row
    samples = text_app.latest_samples(built[-1])
    assert set(samples) == {"alpha", "beta"}
    assert all(text in after for text in samples.values())
    assert (
        len(re.findall(r"held-out perplexity\s+n-gram share\s+0\s+\d+\.\d\d\s+[01]\.\d{3}", after))
        == 2
    )
    rc.find(v.Btn, children=["Step"]).widget.click()
    last = texts(box)
    assert "generation 2 of 2" in last
    assert all(text in last for text in text_app.latest_samples(built[-1]).values())
    assert len(re.findall(r"\s1\s+\d+\.\d\d\s+[01]\.\d{3}", last)) == 2  # a row per generation
    assert rc.find(v.Btn, children=["Step"]).widget.disabled
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert "generation 0 of 2" in texts(box)


def test_cli_viz_serves_the_text_page_for_text_scenarios(monkeypatch):
    served: dict[str, Any] = {}
    monkeypatch.setattr(viz, "_serve", lambda command, env: served.update(c=command, e=env) or 0)
    monkeypatch.setattr(viz, "check_port", lambda port: None)  # (8765 may be taken here)
    assert main(["viz", "text_closed_loop", "--port", "8124"]) == 0
    assert viz.TEXT_APP in served["c"] and "habsburg.viz.app" not in served["c"]
    assert served["e"]["HABSBURG_VIZ_SCENARIO"] == "text_closed_loop"
