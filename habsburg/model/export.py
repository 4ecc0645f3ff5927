"""The results tables of a run, built from the model's DataCollector, event log, observer,
error registry and document store (one function per table family; no simulation here)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from habsburg.agents.generative import GenerativeModel
from habsburg.agents.scraper import Scraper
from habsburg.ecosystem.store import KIND_NAMES

#: the per-agent-type DataCollector tables, by file stem
AGENT_TABLES = {"models": GenerativeModel, "scrapers": Scraper}


def collected_frames(model: Any) -> dict[str, pd.DataFrame]:
    """The DataCollector's tables with ``step`` (0-based month index) and ``month`` columns:
    ``model_metrics`` (one row per month) and, per agent type that exists, ``models`` /
    ``scrapers`` (one row per agent per month). The one place these frames are cleaned up."""
    sc, dc = model.config, model.datacollector
    mdf = dc.get_model_vars_dataframe().reset_index(drop=True)
    mdf.insert(0, "step", np.arange(len(mdf), dtype=np.int32))
    mdf.insert(1, "month", [sc.step_to_month(int(s)) for s in mdf["step"]])
    out = {"model_metrics": mdf}
    for name, cls in AGENT_TABLES.items():
        if model.agents_by_type.get(cls):
            df = dc.get_agenttype_vars_dataframe(cls).reset_index()
            df = df.rename(columns={"Step": "step", "AgentID": "agent_id"})
            df["step"] = df["step"].astype(np.int32) - 1
            df["month"] = [sc.step_to_month(int(s)) for s in df["step"]]
            out[name] = df
    return out


def error_tables(model: Any) -> dict[str, pd.DataFrame]:
    """``errors`` (every wrong value ever published, its origin and how many documents carry
    it) and ``adoptions`` (each time a model generation came to believe one)."""
    names = {a.index: a.name for a in model.models}
    errors = model.errors.to_frame()
    if len(errors):
        errors["origin_model_name"] = [names.get(i, "") for i in errors["origin_model"]]
        errors["documents"] = model.error_documents[: len(errors)]
    adoptions = model.errors.adoptions_frame()
    adoptions["model_name"] = [names[i] for i in adoptions["model"]]
    return {"errors": errors, "adoptions": adoptions}


def event_tables(model: Any) -> dict[str, pd.DataFrame]:
    """The event log and the observer's samples as tables."""
    log, world = model.events, model.world
    human = pd.DataFrame(
        {
            "model": "human",
            "generation": np.int32(-1),
            "step": np.int32(0),
            "concept": np.arange(world.p_human.size, dtype=np.int32),
            "probability": world.p_human,
        }
    )
    human_style = {
        "model": "human",
        "generation": -1,
        "step": 0,
        "mean": world.human_style_mean.tolist(),
        "cov": world.human_style_cov.ravel().tolist(),
    }
    z = model.observer.z_samples
    return {
        "lineage": pd.DataFrame(log.lineage),
        "concept_distributions": pd.concat([human, *log.concept_distributions], ignore_index=True),
        # each generation's Gaussian style distribution (mean, sampling covariance d×d flattened)
        "style_distributions": pd.DataFrame([human_style, *log.style_distributions]),
        "training_sources": pd.DataFrame(log.training_sources),
        "crawls": pd.DataFrame(log.crawls),
        "z_samples": pd.concat(z, ignore_index=True) if z else pd.DataFrame(),
        "interventions": pd.DataFrame(
            log.interventions, columns=["step", "month", "path", "value"]
        ),
    }


def world_tables(model: Any) -> dict[str, pd.DataFrame]:
    """Ground truth: ``concepts``, ``facts`` and the ``sites`` of the web."""
    world, internet = model.world, model.internet
    return {
        "concepts": pd.DataFrame(
            {
                "concept": np.arange(world.p_human.size, dtype=np.int32),
                "p_human": world.p_human,
                "popularity": world.concept_popularity,
                "tail": world.concept_tail,
                "niche": world.niche_of,
            }
        ),
        "facts": pd.DataFrame(
            {
                "fact": np.arange(world.true_values.size, dtype=np.int32),
                "popularity": world.fact_popularity,
                "true_value": world.true_values,
                "tail": world.fact_tail,
            }
        ),
        "sites": pd.DataFrame(
            {
                "site": np.arange(internet.n_sites),
                "kind": internet.site_kind,
                "owner": internet.site_owner,
                "pagerank": internet.pagerank,
            }
        ),
    }


def document_tables(model: Any) -> dict[str, pd.DataFrame]:
    """``documents`` (one row per document) and ``error_claims`` (one row per wrong claim)."""
    store = model.internet.store
    docs = store.to_frame()
    docs["kind"] = pd.Categorical.from_codes(docs["kind"].to_numpy(), list(KIND_NAMES))
    has_error = store.claim_errors >= 0
    claim_doc = np.repeat(np.arange(len(store)), np.diff(store.claim_offsets))
    d = claim_doc[has_error]
    error_claims = pd.DataFrame(
        {
            "document": d,
            "error_id": store.claim_errors[has_error],
            "step": store.step[d],
            "kind": pd.Categorical.from_codes(store.kind[d], list(KIND_NAMES)),
            "producer": store.producer[d],
            "model": store.model[d],
            "site": store.site[d],
        }
    )
    return {"documents": docs, "error_claims": error_claims}


def tables(model: Any) -> dict[str, pd.DataFrame]:
    """Every result table of the run, by file stem (in the order they are written)."""
    frames = collected_frames(model)
    events = event_tables(model)
    world = world_tables(model)
    docs = document_tables(model)
    errors = error_tables(model)
    order = (
        ["model_metrics", *(k for k in AGENT_TABLES if k in frames), "errors", "adoptions", "lineage", "concept_distributions", "style_distributions", "concepts", "facts", "training_sources", "crawls", "z_samples", "interventions", "documents", "error_claims", "sites"]
    )
    merged = {**frames, **events, **world, **docs, **errors}
    return {k: merged[k] for k in order}
