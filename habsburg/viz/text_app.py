"""The browser page of text mode: ``habsburg viz text_baseline`` serves this module's ``Page``
(``solara run habsburg.viz.text_app`` does too; the scenario then comes from
``HABSBURG_VIZ_SCENARIO``).

One :class:`~habsburg.model.text_model.TextEcosystemModel` per browser session on the installed
corpus, stepped one generation per click. Per model: the latest continuation of the scenario's
prompt (what the model writes now) and its held-out human perplexity so far, generation by
generation (rising: it forgets human text), with the n-gram share it can still produce.
"""

from __future__ import annotations

import os

import pandas as pd
import solara
import solara.server.settings

from habsburg.ecosystem.text.corpus import Corpus, load_installed_corpus
from habsburg.model.text_model import TextEcosystemModel
from habsburg.scenarios.text_schema import TextScenario, load_text_scenario
from habsburg.viz import SCENARIO_ENV

solara.server.settings.telemetry.mixpanel_enable = False

DEFAULT_SCENARIO = "text_baseline"


def scenario_from_env() -> TextScenario:
    return load_text_scenario(os.environ.get(SCENARIO_ENV, DEFAULT_SCENARIO))


def load_corpus(scenario: TextScenario) -> Corpus:
    """The installed corpus as the scenario asks for it (tests replace this function)."""
    c = scenario.corpus
    return load_installed_corpus(
        min_count=c.min_count,
        heldout_fraction=c.heldout_fraction,
        max_doc_tokens=c.max_doc_tokens,
        max_tokens=c.max_tokens,
        seed=scenario.seed,
    )


def new_model(scenario: TextScenario | None = None) -> TextEcosystemModel:
    scenario = scenario or scenario_from_env()
    return TextEcosystemModel(scenario, load_corpus(scenario))


def latest_samples(model: TextEcosystemModel) -> dict[str, str]:
    """Each generative model's latest continuation of the prompt (first sample)."""
    out: dict[str, str] = {}
    for row in model.sample_rows:  # in generation order: later rows overwrite earlier ones
        if row["sample"] == 0:
            out[row["model"]] = row["text"]
    return out


def perplexity_history(model: TextEcosystemModel) -> pd.DataFrame:
    """Held-out perplexity and n-gram share per generation and model, so far."""
    cols = ["generation", "model", "heldout_perplexity", "ngram_share"]
    rows = pd.DataFrame(model.model_rows)
    return rows[cols] if len(rows) else pd.DataFrame(columns=cols)


@solara.component
def ModelCard(model: TextEcosystemModel, name: str, generation: int) -> None:
    history = perplexity_history(model)
    mine = history[history["model"] == name]
    sample = latest_samples(model).get(name)
    with solara.Card(f"{name}", margin=0):
        solara.Markdown(f"**Latest sample** (prompt *{model.config.samples.prompt}*):")
        solara.Text(sample if sample is not None else "(press Step: no generation yet)")
        if len(mine):
            lines = ["| generation | held-out perplexity | n-gram share |", "|---:|---:|---:|"]
            lines += [
                f"| {int(r.generation)} | {r.heldout_perplexity:.2f} | {r.ngram_share:.3f} |"
                for r in mine.itertuples()
            ]
            solara.Markdown("\n".join(lines))


@solara.component
def Page() -> None:
    model, set_model = solara.use_state(None)
    generation, set_generation = solara.use_state(0)
    if model is None:
        model = new_model()
        set_model(model)
    total = model.config.generations

    def step() -> None:
        if model.generation < total:
            model.step()
        set_generation(model.generation)

    def reset() -> None:
        set_model(new_model(model.config))
        set_generation(0)

    solara.Title("habsburg text mode")
    with solara.Column():
        solara.Markdown(
            f"## {model.config.name}\n\nText mode on real tokens: generation "
            f"**{generation} of {total}** ran. {model.config.description.strip()}"
        )
        with solara.Row():
            solara.Button("Step", on_click=step, disabled=generation >= total)
            solara.Button("Reset", on_click=reset)
        with solara.Row(style={"flex-wrap": "wrap", "align-items": "stretch"}):
            for agent in model.generative_models:
                ModelCard(model, agent.config.name, generation)
