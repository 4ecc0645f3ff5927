"""The Mesa model: wires the world, the internet and the agents, and steps time (months).

One job: wiring and the monthly step. What it records lives in :mod:`habsburg.model.reporters`
(metrics), :mod:`habsburg.model.events` (event log) and :mod:`habsburg.model.observation`
(measurements, on their own random stream); :mod:`habsburg.model.export` builds the tables.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import inspect
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, cast

import mesa
import networkx as nx
import numpy as np
from mesa.discrete_space import Network
from threadpoolctl import ThreadpoolController

from habsburg.agents.farm import ContentFarm
from habsburg.agents.generative import GenerativeModel
from habsburg.agents.human import HumanPopulation
from habsburg.agents.scraper import Scraper
from habsburg.ecosystem.communities import louvain_communities
from habsburg.ecosystem.internet import HUMAN_SITE, Internet, build_site_graph, csr, pagerank
from habsburg.ecosystem.ondisk import OnDiskStore
from habsburg.ecosystem.publishing import adoption_level
from habsburg.ecosystem.registry import ErrorRegistry
from habsburg.ecosystem.store import Batch, DocumentStore
from habsburg.ecosystem.watermark import WatermarkScheme
from habsburg.ecosystem.world import World
from habsburg.model import export
from habsburg.model.allocator import keep_freed_memory
from habsburg.model.events import EventLog
from habsburg.model.observation import Observer, observation_rng
from habsburg.model.reporters import data_collector
from habsburg.scenarios.errors import ScenarioError
from habsburg.scenarios.library import load_scenario
from habsburg.scenarios.schema import (
    Scenario,
    from_dict,
    get_settings,
    multiply_setting,
    set_setting,
)


def home_sites(
    graph: nx.DiGraph,
    human_sites: np.ndarray,
    author_community: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Each author's home site. Communities live in regions of the web: the human sites are split
    into link clusters (Louvain, seeded: networkx 3.6's communities, found faster, see
    ``habsburg.ecosystem.communities``) and a community's authors settle in its cluster, more of
    them on well-linked sites. A crawler that covers part of the web thus sees some niches more
    than others."""
    human = graph.subgraph(human_sites.tolist()).to_undirected()
    found = louvain_communities(human, seed=int(rng.integers(2**31 - 1)))
    # (the nodes are the sites' ids: ints)
    clusters = sorted((sorted(c) for c in cast("list[set[int]]", found)), key=lambda c: c[0])
    homes = np.empty(author_community.size, dtype=np.int64)
    for c in np.unique(author_community).tolist():
        sites = np.array(clusters[c % len(clusters)])
        degree = np.array([graph.degree(int(x)) for x in sites], dtype=float)
        members = np.flatnonzero(author_community == c)
        homes[members] = sites[rng.choice(sites.size, size=members.size, p=degree / degree.sum())]
    return homes


# Mesa >= 3.5 lays a Network out with ``nx.spring_layout`` unless told not to: an unseeded
# Fruchterman-Reingold optimisation whose every iteration compares all pairs of sites, O(sites²).
# Nothing here reads Mesa's positions (the viz lays the sites out itself, seeded: see
# ``habsburg.viz.snapshot.site_positions``), and it cost 0.6 s of building the baseline, 70 s
# at ``scaled(baseline, 10)`` (as long as the month loop) and, extrapolated, half an hour to two
# hours at 100×.
_NETWORK_LAYOUT = "layout" in inspect.signature(Network.__init__).parameters


def site_space(graph: nx.DiGraph, random: Any) -> Network:
    """The site graph as Mesa's network space, without the layout Mesa >= 3.5 would compute."""
    if _NETWORK_LAYOUT:
        return Network(graph, random=random, layout=None)
    return Network(graph, random=random)


def resolve_scenario(
    scenario: Scenario | str | os.PathLike[str], seed: int | None, settings: dict[str, Any]
) -> Scenario:
    """A private copy of the scenario (by object, library name or file) with ``seed`` and the
    flat setting-path ``settings`` (``{"watermark.adoption": 0.5, "models.*.top_p": 0.9}``)
    applied and the whole scenario validated again."""
    sc = copy.deepcopy(scenario) if isinstance(scenario, Scenario) else load_scenario(scenario)
    if seed is not None:
        if int(seed) < 0:
            raise ScenarioError(f"seed must be >= 0, got {seed}")
        sc.seed = int(seed)
    if settings:
        for path, value in settings.items():
            set_setting(sc, path, value)
        sc = from_dict(sc.to_dict(), f"scenario {sc.name!r} with settings {sorted(settings)}")
    return sc


_BLAS: ThreadpoolController | None = None


def one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """A context in which BLAS (numpy's matrix products) runs on one thread, restored after.

    The model's matrix products are small (n style draws × d by d × d, d × n by n × d): OpenBLAS
    spreads them over every core and loses more to waking and syncing its threads than it gains
    (measured on 2 cores: the baseline's month loop 12.1 -> 8.8 s, its CPU time at
    ``scaled(baseline, 10)`` 103 -> 69 s at the same wall time; results are bit-identical). One
    thread per process is also what sweeps want: each worker already has a core of its own.
    """
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


@functools.cache
def _madvise_hugepage() -> Callable[[bool], bool] | None:
    """numpy's switch for huge pages (what ``NUMPY_MADVISE_HUGEPAGE`` sets; private, so None
    where this numpy lacks it)."""
    return getattr(importlib.import_module("numpy._core.multiarray"), "_set_madvise_hugepage", None)


@contextlib.contextmanager
def small_pages(small: bool = True) -> Iterator[None]:
    """A context in which numpy backs its large arrays with ordinary 4 KiB pages, restored after
    (with ``small`` False, or a numpy that lacks the switch, it does nothing).

    numpy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on every
    large allocation, and a run allocates and frees large temporaries every month. Measured on
    the 100× run (``scaled(baseline, 100)`` with its store on disk, 2026-12-06, one run after
    the other): with huge pages 977.8 CPU s, 295.7 of them in the kernel, which faulted in
    90,195 huge pages (176 GiB zeroed); without (numpy's ``NUMPY_MADVISE_HUGEPAGE=0``, the
    switch this context flips) 797.4 CPU s, 174.6 in the kernel, 510 huge pages; the same
    results. In memory (10×, two runs each way) the difference was within the noise, so only
    runs with the store on disk use it.
    """
    switch = _madvise_hugepage()
    if switch is None or not small:
        yield
        return
    before = switch(False)
    try:
        yield
    finally:
        switch(before)


class EcosystemModel(mesa.Model):
    """Human authors, generative models, content farms and scrapers publishing into one internet.

    ``EcosystemModel(scenario="baseline", seed=1, **{"watermark.adoption": 0.5})``: a scenario
    object, library name or file, a seed (default: the scenario's), and any settings as flat
    setting-path keywords, which is what ``mesa.batch_run`` and ``SolaraViz`` pass. ``config=``
    is the same as ``scenario=`` under a name Mesa >= 3.4 does not use (its viz resets a model
    with a ``scenario=`` object of Mesa's own, which this model then ignores). ``store_dir``
    keeps the document store's columns in files in that (existing) directory
    (:class:`~habsburg.ecosystem.ondisk.OnDiskStore`: only the months crawls can reach stay in
    memory), for runs larger than memory; the results are the same. ``months``: the months the
    run will simulate, when fewer than the scenario's, so the store reserves room for those
    only (it grows if stepped further; the same results).

    One step is one month (:meth:`step`): interventions due apply; humans publish; models serve
    demand; farms publish; scrapers crawl, filter and repost; models whose retrain is due retrain;
    market shares follow capability; the month is observed; humans drift toward what they read;
    the DataCollector records.
    """

    #: batches held by :meth:`one_append` while it runs (None otherwise)
    _held: list[Batch] | None = None

    def __init__(
        self,
        scenario: Scenario | str | os.PathLike[str] | None = "baseline",
        *,
        config: Scenario | str | os.PathLike[str] | None = None,
        seed: int | None = None,
        rng: int | None = None,
        store_dir: str | os.PathLike | None = None,
        months: int | None = None,
        **kwargs: Any,
    ) -> None:
        if config is not None:  # the same as ``scenario``, under a name Mesa's viz leaves alone
            scenario = config
        elif not isinstance(scenario, Scenario | str | os.PathLike):
            # Mesa >= 3.4 resets a model with its own ``mesa...Scenario`` object under this name
            scenario = "baseline"
        if seed is None and rng is not None:  # mesa.batch_run (Mesa >= 3.4) passes ``rng``
            seed = int(rng)
        # ``**kwargs`` (by that name: Mesa's ModelCreator accepts unknown keywords only then) are
        # flat setting paths
        sc = resolve_scenario(scenario, seed, kwargs)
        super().__init__(rng=sc.seed)
        # The run's Scenario. Not ``self.scenario``: Mesa >= 3.4 reserves that for its own type.
        self.config = sc
        self.world = World.build(sc.world, sc.humans.authors, self.rng)
        self.watermark = self._watermark_scheme()
        graph, kind, owner = build_site_graph(
            sc.web.sites,
            sc.web.attachment,
            [f.sites for f in sc.farms],
            [f.link_spam for f in sc.farms],
            [s.aggregator_sites for s in sc.scrapers],
            self.rng,
            [f.link_farm_size for f in sc.farms],
        )
        # The site graph is the model's space; the internet keeps the same graph as CSR arrays
        # (plus PageRank) for the scrapers' vectorised random walks over it.
        self.space = site_space(graph, self.random)
        indptr, indices = csr(self.space.G)
        store = (
            DocumentStore.for_scenario(sc, months)
            if store_dir is None
            else OnDiskStore.for_scenario(sc, months, directory=store_dir)
        )
        self.internet = Internet(graph, kind, owner, pagerank(graph), indptr, indices, store)
        self.human_sites = self.internet.sites_of(HUMAN_SITE)
        self.errors = ErrorRegistry(
            sc.world.facts, sc.world.values_per_fact, self.world.true_values
        )
        store.derive_errors_from(self.errors)  # claims' error ids follow from fact and value
        self.error_documents = np.zeros(0, dtype=np.int64)

        homes = home_sites(graph, self.human_sites, self.world.author_community, self.rng)
        HumanPopulation(self, homes)
        labs = {lab.name: lab for lab in sc.labs}
        for i, mc in enumerate(sc.models):
            GenerativeModel(self, mc, labs[mc.lab], i)
        for i, fc in enumerate(sc.farms):
            ContentFarm(self, fc, i)
        for i, s in enumerate(sc.scrapers):
            Scraper(self, s, i)

        # by month: (path, value, whether the value is a factor), as the scenario lists them
        self.interventions: dict[int, list[tuple[str, object, bool]]] = defaultdict(list)
        for iv in sc.interventions:
            at = iv.at_step if iv.at_step >= 0 else sc.month_to_step(iv.at, "interventions.at")
            self.interventions[at].extend((path, value, False) for path, value in iv.set.items())
            self.interventions[at].extend((path, f, True) for path, f in iv.times.items())

        self.events = EventLog()
        self.observer = Observer(observation_rng(self.rng))
        self.datacollector = data_collector()

    # --- time and shared lookups -------------------------------------------------------------
    @property
    def month(self) -> int:
        """Index of the month being simulated (0 = ``scenario.start``)."""
        return self.steps - 1

    @property
    def date(self) -> str:
        return self.config.step_to_month(max(self.month, 0))

    @property
    def humans(self) -> HumanPopulation:
        return next(iter(self.agents_by_type[HumanPopulation]))

    @property
    def models(self) -> list[GenerativeModel]:
        """Generative models in scenario order (a view of ``agents_by_type``)."""
        return list(self.agents_by_type.get(GenerativeModel, []))

    @property
    def scrapers(self) -> list[Scraper]:
        return list(self.agents_by_type.get(Scraper, []))

    @property
    def farms(self) -> list[ContentFarm]:
        return list(self.agents_by_type.get(ContentFarm, []))

    def deployed_models(self) -> list[GenerativeModel]:
        return [a for a in self.models if a.deployed]  # also when a scenario has no models

    def model_by_name(self, name: str) -> GenerativeModel | None:
        return next((a for a in self.models if a.name == name), None)

    def ai_demand(self) -> float:
        d = self.config.demand.adoption
        return adoption_level(d, self.month - self.config.month_to_step(d.start))

    def publish(self, batch: Batch) -> np.ndarray | None:
        """Append documents to the shared internet (every producer goes through here) and count
        the documents carrying each error; returns their ids, or None inside :meth:`one_append`
        (appended when it ends)."""
        if self._held is not None:
            self._held.append(batch)
            return None
        ids = self.internet.store.append(batch, self.month)
        claim_errors = np.asarray(batch.claim_errors)
        wrong = np.flatnonzero(claim_errors >= 0)
        errors = claim_errors[wrong]
        if errors.size:  # a document repeating one wrong claim carries that error once
            ends = np.cumsum(np.asarray(batch.claim_lengths), dtype=np.int64)
            document = np.searchsorted(ends, wrong, side="right")
            pairs = np.unique(document * (int(errors.max()) + 1) + errors)
            errors = pairs % (int(errors.max()) + 1)
            n = max(self.error_documents.size, int(errors.max()) + 1)
            if n > self.error_documents.size:
                grown = np.zeros(max(n, 2 * self.error_documents.size), dtype=np.int64)
                grown[: self.error_documents.size] = self.error_documents
                self.error_documents = grown
            np.add.at(self.error_documents, errors, 1)
        return ids

    def error_document_counts(self) -> np.ndarray:
        """How many documents carry each registered error, one entry per error id: 0 for a
        wrong belief a model made up itself and nobody published (``error_documents`` grows only
        as documents carrying errors are published, so it can be shorter than the registry)."""
        counts = np.zeros(len(self.errors), dtype=np.int64)
        known = min(counts.size, self.error_documents.size)
        counts[:known] = self.error_documents[:known]
        return counts

    @contextlib.contextmanager
    def one_append(self) -> Iterator[None]:
        """Hold the batches published inside and append them as one when it ends, in the order
        they came (:meth:`Batch.join`): the store gets the same rows, ids and values as from
        appending each in turn, since nobody reads the store in between, at one append's cost
        (an append costs ~0.3 ms whatever its size). Nothing is appended if the block fails."""
        self._held = []
        try:
            yield
            held = self._held
        finally:
            self._held = None
        if held:
            self.publish(Batch.join(held))

    # --- the month ---------------------------------------------------------------------------
    def step(self) -> None:
        """One month, phase by phase (BLAS single-threaded: see :func:`one_blas_thread`; with
        the store on disk, numpy's arrays on small pages: see :func:`small_pages`)."""
        with one_blas_thread(), small_pages(isinstance(self.internet.store, OnDiskStore)):
            self._step()

    def run_model(self) -> None:
        """Step to the end of the scenario's months (Mesa's ``run_model``: while ``running``). A
        model with its store on disk (``store_dir``) keeps the memory its months free for their
        next allocations while it runs, as ``habsburg run --store-dir`` does (see
        :func:`~habsburg.model.allocator.keep_freed_memory`: a 100× run takes ~10% less CPU time
        so), and gives it back when it returns; stepping by hand, wrap the loop in that context
        for the same."""
        with keep_freed_memory(isinstance(self.internet.store, OnDiskStore)):
            super().run_model()

    def _step(self) -> None:
        t = self.month
        self.apply_interventions(t)
        self.internet.store.begin_step(t)
        self._each(HumanPopulation, "publish")
        with self.one_append():  # the models' outputs: composed one by one, stored as one batch
            self._each(GenerativeModel, "publish")
        with self.one_append():  # likewise the farms'
            self._each(ContentFarm, "publish")
        self._each(Scraper, "crawl")
        models = self.agents_by_type.get(GenerativeModel)  # None in a scenario without models
        if models:
            models.select(lambda a: a.retrain_due(t)).do("retrain")  # cadence checked monthly
        self.update_market()
        self.observer.observe(self)
        self._each(HumanPopulation, "drift")
        self.datacollector.collect(self)
        if t >= self.config.steps - 1:
            self.running = False

    def _each(self, cls: type, method: str) -> None:
        agents = self.agents_by_type.get(cls)
        if agents:
            agents.shuffle_do(method)

    def apply_interventions(self, t: int) -> None:
        """Settings changed by the scenario's interventions due at month ``t``, applied as the
        month opens, before its documents are written: the design's last phase (interventions)
        of month ``t − 1``, except that month ``t − 1``'s metrics were recorded before the
        change, so each month's row describes the settings that month ran under."""
        for path, value, factor in self.interventions.get(t, []):
            if factor:  # (times: the setting's value this month, multiplied)
                multiply_setting(self.config, path, value)
                now = get_settings(self.config, path)  # (each item's under a *)
                value = f"times {value!r}: {now[0] if len(now) == 1 else now}"
            else:
                set_setting(self.config, path, value)
            if path.startswith("watermark."):
                self.watermark = self._watermark_scheme()
            self.events.record_intervention(t, self.date, path, value)
        if t in self.interventions and self.agents_by_type.get(GenerativeModel):
            self.agents_by_type[GenerativeModel].do("apply_decoding")

    def update_market(self) -> None:
        """Users move toward better models: market shares relax toward attractiveness
        ``appeal · exp(−quality_sensitivity · (capability − best))`` with inertia."""
        deployed = self.deployed_models()
        if not deployed:
            return
        d = self.config.demand
        cap = np.array([a.metrics["capability"] for a in deployed])
        appeal = np.array([a.config.appeal for a in deployed])
        attract = appeal * np.exp(-d.quality_sensitivity * (cap - cap.min()))
        target = attract / attract.sum()
        share = np.array([a.market_share for a in deployed])
        share = d.inertia * share + (1 - d.inertia) * target
        share /= share.sum()
        for a, s in zip(deployed, share, strict=True):
            a.market_share = float(s)

    def _watermark_scheme(self) -> WatermarkScheme:
        w = self.config.watermark
        return WatermarkScheme(w.gamma, w.delta, w.entropy_a, w.entropy_b, w.context_width)

    # --- results -----------------------------------------------------------------------------
    def tables(self) -> dict[str, Any]:
        """Every result table of the run, by file stem (:func:`habsburg.model.export.tables`)."""
        return export.tables(self)
