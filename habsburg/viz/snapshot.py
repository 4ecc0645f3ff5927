"""What the panels read: a snapshot of the running model, taken under the session's lock.

With Mesa's "Use Threads" the model steps in one thread while the page draws in another, so a
panel that read the DataCollector directly could see it mid-``collect`` (``dictionary changed size
during iteration``). :func:`attach` gives each model a lock that its step holds; :func:`snapshot`
copies everything the panels draw under that lock, once per month, and every panel reads the copy.
The same guard makes a step after the scenario's last month a no-op, so Mesa's step counter (which
Mesa's Render Interval would otherwise push past the end) stops at the last month.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from habsburg.analysis.cascades import ActorNames, cascade_graph
from habsburg.ecosystem.internet import SITE_KIND_NAMES
from habsburg.ecosystem.store import KIND_NAMES
from habsburg.model.export import collected_frames, error_tables
from habsburg.model.model import EcosystemModel
from habsburg.scenarios.schema import get_setting
from habsburg.viz.scenario import LEVERS

#: months of documents that colour a site in the network panel
SITE_WINDOW = 12


@dataclass
class Session:
    """What the viz keeps beside one model: the lock its step holds, the site positions, the
    lever values it was built with, and the last snapshot."""

    lock: threading.RLock
    positions: np.ndarray
    built_with: dict[str, Any]
    last: Snapshot | None = None


_sessions: weakref.WeakKeyDictionary[EcosystemModel, Session] = weakref.WeakKeyDictionary()
_attach_lock = threading.Lock()


def lever_values(model: EcosystemModel) -> dict[str, Any]:
    """The value each lever has in the running model now (of the first item, for ``*`` paths)."""
    return {path: values[0] for path, values in live_settings(model).items()}


def live_settings(model: EcosystemModel) -> dict[str, tuple[Any, ...]]:
    """The values each lever has in the running model now: for ``*`` paths every item's
    (the baseline's models decode at five temperatures), distinct, in item order."""
    out = {}
    for lever in LEVERS:
        section, star, rest = lever.path.partition(".*.")
        paths = [lever.path]
        if star:
            paths = [f"{section}.{item.name}.{rest}" for item in getattr(model.config, section)]
        values = tuple(dict.fromkeys(get_setting(model.config, path) for path in paths))
        if values:  # no farms: no paraphrase lever
            out[lever.path] = values
    return out


def site_positions(model: EcosystemModel) -> np.ndarray:
    """Fixed 2-d positions of the sites (spring layout of the undirected site graph, seeded by the
    scenario, so a reset with the same seed draws the same picture)."""
    g = nx.Graph(model.space.G)
    pos = nx.spring_layout(g, seed=int(model.config.seed % (2**32)), iterations=60)
    return np.array([pos[i] for i in range(model.internet.n_sites)])


def attach(model: EcosystemModel) -> Session:
    """The viz session of ``model``, made on first use: its step then runs under the session's
    lock and does nothing once the model stopped running (so ``model.steps`` stops at the last
    month). Idempotent and safe from several threads."""
    with _attach_lock:
        session = _sessions.get(model)
        if session is not None:
            return session
        session = Session(threading.RLock(), site_positions(model), lever_values(model))
        mesa_step = model.step  # Mesa's wrapper: counts the step, then runs EcosystemModel.step

        def step(*args: Any, **kwargs: Any) -> None:
            with session.lock:
                if model.running:
                    mesa_step(*args, **kwargs)

        model.step = step  # type: ignore[method-assign]  # deliberately wraps the bound method
        _sessions[model] = session
        return session


class FrozenCollector:
    """The part of a Mesa DataCollector that Mesa's plot components read, over copied tables."""

    def __init__(self, model_vars: pd.DataFrame) -> None:
        self._model_vars = model_vars

    def get_model_vars_dataframe(self) -> pd.DataFrame:
        return self._model_vars


@dataclass(frozen=True, eq=False)  # compared by identity: one object per model and month
class Snapshot:
    """Everything the panels draw, copied at one month. ``datacollector`` lets Mesa's own plot
    components (``make_plot_component``) draw from the copy as they would from a model."""

    steps: int
    total: int
    start: str
    launch_step: int
    name: str
    description: str
    seed: int
    documents: int
    metrics: pd.DataFrame
    agents: pd.DataFrame
    lineage: pd.DataFrame
    model_names: tuple[str, ...]
    human_entropy: float
    sites: pd.DataFrame
    edges: np.ndarray
    settings: dict[str, tuple[Any, ...]]
    built_with: dict[str, Any]
    interventions: pd.DataFrame
    cascade: nx.DiGraph | None
    datacollector: FrozenCollector = field(repr=False)

    @property
    def month(self) -> str:
        """The month last simulated ("" before the first step)."""
        return month_of(self.start, self.steps - 1) if self.steps else ""

    def last(self, column: str, default: float = float("nan")) -> float:
        if not len(self.metrics) or column not in self.metrics:
            return default
        return float(self.metrics[column].iloc[-1])


def month_of(start: str, step: int) -> str:
    y, m = (int(x) for x in start.split("-"))
    total = y * 12 + m - 1 + step
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def snapshot(model: EcosystemModel) -> Snapshot:
    """The snapshot of ``model`` at its current month: a cached copy when the model has not
    stepped since, else a new one taken under the session's lock."""
    session = attach(model)
    last = session.last
    if last is not None and last.steps == model.steps:
        return last
    with session.lock:
        snap = _take(model, session)
    session.last = snap
    return snap


def _take(model: EcosystemModel, session: Session) -> Snapshot:
    sc = model.config
    if model.steps:
        frames = collected_frames(model)
    else:  # nothing collected yet (Mesa's agent-type frame of no rows cannot be typed)
        reporters = list(model.datacollector.model_reporters)
        frames = {"model_metrics": pd.DataFrame(columns=["step", "month", *reporters])}
    metrics = frames["model_metrics"]
    agents = frames.get("models", pd.DataFrame(columns=["step", "month", "name"]))
    lineage = pd.DataFrame(list(model.events.lineage))
    return Snapshot(
        steps=int(model.steps),
        total=sc.steps,
        start=sc.start,
        launch_step=sc.launch_step,
        name=sc.name,
        description=" ".join(sc.description.split()),
        seed=int(sc.seed),
        documents=len(model.internet.store),
        metrics=metrics,
        agents=agents,
        lineage=lineage,
        model_names=tuple(a.name for a in model.models),
        human_entropy=float(model.world.human_entropy),
        sites=site_frame(model, session.positions),
        edges=np.array(list(model.space.G.edges()), dtype=int).reshape(-1, 2),
        settings=live_settings(model),
        built_with=dict(session.built_with),
        interventions=intervention_frame(model),
        cascade=largest_cascade(model),
        datacollector=FrozenCollector(metrics.drop(columns=["step", "month"])),
    )


def site_frame(model: EcosystemModel, positions: np.ndarray) -> pd.DataFrame:
    """One row per site: position, kind, PageRank and the ground-truth synthetic share of its
    documents of the last :data:`SITE_WINDOW` months (NaN for a site that published nothing)."""
    net = model.internet
    store, n = net.store, net.n_sites
    share = np.full(n, np.nan)
    docs = np.zeros(n)
    if model.month >= 0 and len(store):
        rows = store.step_slice(model.month - SITE_WINDOW + 1, model.month)
        sites = store.site[rows]
        docs = np.bincount(sites, minlength=n).astype(float)
        synthetic = np.bincount(sites, weights=store.synthetic_fraction[rows], minlength=n)
        share = np.where(docs > 0, synthetic / np.maximum(docs, 1), np.nan)
    return pd.DataFrame(
        {
            "site": np.arange(n),
            "x": positions[:, 0],
            "y": positions[:, 1],
            "kind": np.asarray(SITE_KIND_NAMES)[net.site_kind],
            "pagerank": net.pagerank,
            "synthetic_share": share,
            "documents": docs.astype(int),
        }
    )


def intervention_frame(model: EcosystemModel) -> pd.DataFrame:
    """The scenario's interventions, one row per setting changed: step, month, path, value,
    whether the value is a factor (``times``), note, and whether the model has applied it yet."""
    sc = model.config
    rows = []
    for iv in sc.interventions:
        at = iv.at_step if iv.at_step >= 0 else sc.month_to_step(iv.at, "interventions.at")
        changes = [(p, v, False) for p, v in iv.set.items()]
        changes += [(p, f, True) for p, f in iv.times.items()]
        for path, value, times in changes:
            rows.append(
                {
                    "step": at,
                    "month": sc.step_to_month(at),
                    "path": path,
                    "value": value,
                    "times": times,  # (value: a factor the setting is multiplied by)
                    "note": iv.note,
                    "applied": at <= model.month,
                }
            )
    columns = ["step", "month", "path", "value", "times", "note", "applied"]
    return pd.DataFrame(rows, columns=columns)


def largest_cascade(model: EcosystemModel) -> nx.DiGraph | None:
    """The spread of the error most models came to believe so far (ties: most documents), as
    :func:`habsburg.analysis.cascades.cascade_graph` draws it; None before any adoption."""
    tables = error_tables(model)
    errors, adoptions = tables["errors"], tables["adoptions"]
    if adoptions.empty:
        return None
    per_error = adoptions.groupby("error_id")["model"].nunique().rename("models").to_frame()
    per_error["documents"] = model.error_document_counts()[per_error.index.to_numpy()]
    error_id = int(per_error.sort_values(["models", "documents"], ascending=False).index[0])
    store = model.internet.store
    d = store.claim_owners(np.flatnonzero(store.claim_error_ids(slice(None)) == error_id))
    claims = pd.DataFrame(
        {
            "document": d,
            "error_id": error_id,
            "step": store.steps_of(d),
            "kind": pd.Categorical.from_codes(store.kind[d], list(KIND_NAMES)),
            "producer": store.producer[d],
            "model": store.model[d],
        }
    )
    names = ActorNames(
        models=[a.name for a in model.models],
        farms=[f.name for f in model.farms],
        scrapers=[s.name for s in model.scrapers],
    )
    return cascade_graph(error_id, errors, adoptions, claims, names, group_authors=True)
