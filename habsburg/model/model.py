"""The Mesa model that wires the world, the internet and the agents, and steps time (months)."""

from __future__ import annotations

import copy
from collections import defaultdict
from functools import partial
from operator import attrgetter

import mesa
import networkx as nx
import numpy as np
import pandas as pd
from mesa.discrete_space import Network

from habsburg.agents.farm import ContentFarm
from habsburg.agents.generative import GenerativeModel
from habsburg.agents.human import HumanAuthor, HumanPopulation, adoption_level
from habsburg.agents.scraper import Z_SAMPLE, Scraper
from habsburg.ecosystem import metrics as K
from habsburg.ecosystem.registry import ErrorRegistry
from habsburg.ecosystem.internet import HUMAN_SITE, Internet, build_site_graph, csr, pagerank
from habsburg.ecosystem.store import KIND_NAMES, MODEL, Batch, DocumentStore
from habsburg.ecosystem.training import TrainingSet
from habsburg.ecosystem.watermark import WatermarkScheme
from habsburg.ecosystem.world import World
from habsburg.scenarios.schema import Scenario, set_setting


def current_value(model: EcosystemModel, key: str) -> float:
    """Reporter: a value the model computed this step (used through ``functools.partial``, which
    pickles, unlike a lambda)."""
    return model.current.get(key, float("nan"))


#: model-level metrics collected every step (name -> meaning)
MODEL_METRICS = {
    "new_documents": "documents published this month",
    "documents": "documents on the web",
    "synthetic_share_new": "true synthetic share of new documents (mean synthetic fraction)",
    "synthetic_share_new_measured": "share of new documents an AI-text detector flags (as web studies measure it)",
    "synthetic_share_stock": "true synthetic share of all documents",
    "synthetic_share_stock_measured": "detector-flagged share of all documents",
    "duplicate_share_web": "share of new documents that are reposts",
    "ai_demand": "documents per month published by model users",
    "assisted_authors": "share of human authors using an AI assistant",
    "deployed_models": "models deployed",
    "mean_pairwise_js": "mean pairwise Jensen–Shannon divergence between deployed models (nats)",
    "mean_style_distance": "mean pairwise distance between deployed models' style means",
    "systemic_failure_ratio": "rate all models fail the same fact over the independence rate",
    "pairwise_failure_ratio": "mean over model pairs of the both-fail rate over the independence rate",
    "active_wrong_beliefs": "wrong modal beliefs held by deployed models (model × fact)",
    "errors_registered": "distinct wrong fact values ever published",
    "largest_cascade_models": "most models that ever came to believe one error",
    "largest_cascade_documents": "most documents carrying one error",
    "cross_model_adoptions": "cumulative adoptions of errors that originated elsewhere",
    "filter_precision": "precision of the AI filters over this month's crawls",
    "filter_recall": "recall of the AI filters over this month's crawls",
    "training_synthetic_before": "synthetic share of crawled data before filtering",
    "training_synthetic_after": "synthetic share of crawled data after filtering",
    "human_documents_lost": "human documents wrongly removed by the AI filters this month",
    "training_duplicate_share": "duplicate share of crawled data after filtering",
    "training_set_duplicate_share": "mean share of repeated copies in deployed models' latest training sets",
    "duplication_error_lift": "mean rise of the wrong-claim share of training sets due to reposts",
    "mean_capability": "mean capability (cross-entropy to p_H, nats) of deployed models",
    "mean_tail_coverage": "mean tail coverage of deployed models",
    "mean_fact_accuracy": "mean fact accuracy of deployed models",
}

#: per-model metrics collected every step (attribute of GenerativeModel)
AGENT_METRICS = (
    "name",
    "lab_name",
    "deployed",
    "generation",
    "market_share",
    "capability",
    "tail_coverage",
    "support",
    "fact_accuracy",
    "tail_fact_accuracy",
    "style_variance_ratio",
    "docs_published",
    "wrong_beliefs",
)
SCRAPER_METRICS = (
    "name",
    "sampled",
    "kept",
    "precision",
    "recall",
    "false_positive_rate",
    "synthetic_before",
    "synthetic_after",
    "human_lost",
    "dedup_removed",
    "dedup_wrongly_dropped",
    "reposts_published",
)


def home_sites(
    graph, human_sites: np.ndarray, author_community: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Each author's home site. Communities live in regions of the web: the human sites are split
    into link clusters (Louvain, seeded) and a community's authors settle in its cluster, more of
    them on well-linked sites. A crawler that covers part of the web thus sees some niches more
    than others."""
    human = graph.subgraph(human_sites.tolist()).to_undirected()
    clusters = nx.community.louvain_communities(human, seed=int(rng.integers(2**31 - 1)))
    clusters = sorted((sorted(c) for c in clusters), key=lambda c: c[0])
    homes = np.empty(author_community.size, dtype=np.int64)
    for c in np.unique(author_community).tolist():
        sites = np.array(clusters[c % len(clusters)])
        degree = np.array([graph.degree(int(x)) for x in sites], dtype=float)
        members = np.flatnonzero(author_community == c)
        homes[members] = sites[rng.choice(sites.size, size=members.size, p=degree / degree.sum())]
    return homes


class EcosystemModel(mesa.Model):
    """Human authors, generative models, content farms and scrapers publishing into one internet.

    One step is one month, in this order: interventions due this month apply; humans publish;
    models serve demand and publish; farms publish; scrapers crawl, filter and repost; models whose
    retrain is due build a training set and retrain; market shares follow capability; humans drift
    toward what they read; the DataCollector records.
    """

    def __init__(self, scenario: Scenario, *, seed: int | None = None) -> None:
        sc = copy.deepcopy(scenario)
        if seed is not None:
            sc.seed = int(seed)
        super().__init__(rng=sc.seed)
        # The run's Scenario. Not ``self.scenario``: Mesa >= 3.4 reserves that for its own type.
        self.config = sc
        self.world = World.build(sc.world, sc.humans.authors, self.rng)
        w = sc.watermark
        self.watermark = WatermarkScheme(w.gamma, w.delta, w.entropy_a, w.entropy_b)
        graph, kind, owner = build_site_graph(
            sc.web.sites,
            sc.web.attachment,
            [f.sites for f in sc.farms],
            [f.link_spam for f in sc.farms],
            [s.aggregator_sites for s in sc.scrapers],
            self.rng,
        )
        indptr, indices = csr(graph)
        self.internet = Internet(
            graph, kind, owner, pagerank(graph), indptr, indices, DocumentStore(sc.world.style_dim)
        )
        self.space = Network(graph, random=self.random)
        self.human_sites = self.internet.sites_of(HUMAN_SITE)
        self.errors = ErrorRegistry(
            sc.world.facts, sc.world.values_per_fact, self.world.true_values
        )

        homes = home_sites(graph, self.human_sites, self.world.author_community, self.rng)
        self.humans = HumanPopulation(self, homes)
        for i in range(sc.humans.authors):
            HumanAuthor(self, self.humans, i, self.space[int(homes[i])])
        labs = {lab.name: lab for lab in sc.labs}
        self.models = [GenerativeModel(self, mc, labs[mc.lab], i) for i, mc in enumerate(sc.models)]
        self.farms = [ContentFarm(self, fc, i) for i, fc in enumerate(sc.farms)]
        self.scrapers = [Scraper(self, s, i) for i, s in enumerate(sc.scrapers)]

        self.interventions: dict[int, list[tuple[str, object]]] = defaultdict(list)
        for iv in sc.interventions:
            at = iv.at_step if iv.at_step >= 0 else sc.month_to_step(iv.at, "interventions.at")
            self.interventions[at].extend(iv.set.items())

        self.current: dict[str, float] = {}
        self.lineage: list[dict] = []
        self.concept_distributions: list[pd.DataFrame] = []
        self.style_distributions: list[dict] = []
        self.training_sources: list[dict] = []
        self.crawl_log: list[dict] = []
        self.z_samples: list[pd.DataFrame] = []
        self.applied_interventions: list[dict] = []
        self.error_documents = np.zeros(0, dtype=np.int64)
        self._flag_total = 0
        self._synthetic_total = 0.0
        self._crawl_month: list[dict] = []
        self.datacollector = mesa.DataCollector(
            model_reporters={k: partial(current_value, key=k) for k in MODEL_METRICS},
            agenttype_reporters={
                # attrgetter, not the attribute name: Mesa wraps names in local closures,
                # which do not pickle (checkpoints pickle the whole model)
                GenerativeModel: {k: attrgetter(k) for k in AGENT_METRICS},
                Scraper: {k: attrgetter(k) for k in SCRAPER_METRICS},
            },
        )

    # --- time and shared lookups ---------------------------------------------------------------
    @property
    def month(self) -> int:
        """Index of the month being simulated (0 = ``scenario.start``)."""
        return self.steps - 1

    @property
    def date(self) -> str:
        return self.config.step_to_month(max(self.month, 0))

    def deployed_models(self) -> list[GenerativeModel]:
        return [a for a in self.models if a.deployed]

    def model_by_name(self, name: str) -> GenerativeModel | None:
        return next((a for a in self.models if a.name == name), None)

    def ai_demand(self) -> float:
        d = self.config.demand.adoption
        return adoption_level(d, self.month - self.config.month_to_step(d.start))

    def sample_human_style(self, n: int) -> np.ndarray:
        """Fresh draws from the human style mixture (ground truth, for sensor data)."""
        w = self.world
        authors = self.rng.choice(w.author_rate.size, size=n, p=w.author_rate / w.author_rate.sum())
        return w.author_style[authors] + self.rng.normal(
            0, w.config.style_doc, (n, w.config.style_dim)
        )

    def publish(self, batch: Batch) -> np.ndarray:
        """Append documents to the shared internet (every producer goes through here)."""
        ids = self.internet.store.append(batch, self.month)
        errors = np.asarray(batch.claim_errors)
        errors = errors[errors >= 0]
        if errors.size:
            n = max(self.error_documents.size, int(errors.max()) + 1)
            if n > self.error_documents.size:
                grown = np.zeros(max(n, 2 * self.error_documents.size), dtype=np.int64)
                grown[: self.error_documents.size] = self.error_documents
                self.error_documents = grown
            np.add.at(self.error_documents, errors, 1)
        return ids

    # --- the month ---------------------------------------------------------------------------
    def step(self) -> None:
        t = self.month
        self._apply_interventions(t)
        store = self.internet.store
        store.begin_step(t)
        self._crawl_month = []
        self.humans.publish(t)
        self._do(GenerativeModel, "publish")
        self._do(ContentFarm, "publish")
        self._do(Scraper, "crawl")
        for agent in self.models:  # retrain cadence is checked here, every month
            if agent.retrain_due(t):
                agent.retrain()
        self._update_market()
        self._measure(t)
        self.datacollector.collect(self)
        if t >= self.config.steps - 1:
            self.running = False

    def _do(self, cls: type, method: str) -> None:
        agents = self.agents_by_type.get(cls)
        if agents:
            agents.shuffle_do(method)

    def _apply_interventions(self, t: int) -> None:
        for path, value in self.interventions.get(t, []):
            set_setting(self.config, path, value)
            if path.startswith("watermark."):
                w = self.config.watermark
                self.watermark = WatermarkScheme(w.gamma, w.delta, w.entropy_a, w.entropy_b)
            self.applied_interventions.append(
                {"step": t, "month": self.date, "path": path, "value": str(value)}
            )
        if t in self.interventions:
            for agent in self.models:
                agent.apply_decoding()

    def _update_market(self) -> None:
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

    # --- records -----------------------------------------------------------------------------
    def record_generation(self, agent: GenerativeModel, data: TrainingSet) -> None:
        """Lineage, training sources, quality metrics and error adoptions of a new generation."""
        agent.metrics = K.model_quality(agent.learners, self.world)
        agent.training_stats = data.stats
        facts, values = K.wrong_beliefs(agent.learners, self.world.true_values)
        ids = self.errors.error_id(facts, values)
        unregistered = ids < 0
        if unregistered.any():  # a wrong belief nobody published: the model made it up itself
            ids[unregistered] = self.errors.register(
                facts[unregistered],
                values[unregistered],
                MODEL,
                agent.index,
                agent.index,
                self.month,
            )
        new = np.setdiff1d(ids, agent.believed_errors)
        self.errors.record_adoptions(new, agent.index, agent.generation, self.month)
        agent.believed_errors = np.unique(ids)
        row = {
            "model": agent.name,
            "model_id": agent.index,
            "lab": agent.lab.name,
            "generation": agent.generation,
            "step": self.month,
            "month": self.date,
            **data.stats,
            **agent.metrics,
            "new_error_adoptions": int(new.size),
        }
        self.lineage.append(row)
        q = agent.learners.concepts.sampling_probs
        self.concept_distributions.append(
            pd.DataFrame(
                {
                    "model": agent.name,
                    "generation": np.int32(agent.generation),
                    "step": np.int32(self.month),
                    "concept": np.arange(q.size, dtype=np.int32),
                    "probability": q,
                }
            )
        )
        style = agent.learners.style
        self.style_distributions.append(
            {
                "model": agent.name,
                "generation": agent.generation,
                "step": self.month,
                "mean": style.mean_.tolist(),
                "cov": style.sampling_cov.ravel().tolist(),
            }
        )
        for source, share in data.sources.items():
            self.training_sources.append(
                {
                    "model": agent.name,
                    "model_id": agent.index,
                    "generation": agent.generation,
                    "step": self.month,
                    "source_model": self.models[source].name,
                    "source_model_id": source,
                    "share": share,
                }
            )

    def record_crawl(self, scraper: Scraper, stats: dict, sampled: np.ndarray) -> None:
        row = {"step": self.month, "month": self.date, "scraper": scraper.name, **stats}
        self.crawl_log.append(row)
        self._crawl_month.append(stats)
        if sampled.size:
            store = self.internet.store
            pick = (
                sampled
                if sampled.size <= Z_SAMPLE
                else np.sort(self.rng.choice(sampled, Z_SAMPLE, replace=False))
            )
            self.z_samples.append(
                pd.DataFrame(
                    {
                        "step": np.int32(self.month),
                        "scraper": scraper.name,
                        "document": pick,
                        "z": self.watermark.z_scores(store.green[pick], store.tokens[pick]).astype(
                            np.float32
                        ),
                        "tokens": store.tokens[pick],
                        "synthetic_fraction": store.synthetic_fraction[pick],
                        "kind": pd.Categorical.from_codes(store.kind[pick], list(KIND_NAMES)),
                    }
                )
            )

    def _measure(self, t: int) -> None:
        """This month's model-level metrics (read by the DataCollector reporters)."""
        store, sc, cur = self.internet.store, self.config, {}
        new = store.step_slice(t, t)
        sf = store.synthetic_fraction[new].astype(np.float64)
        meas = sc.measurement
        flags = self.rng.random(sf.size) < meas.fpr + (meas.tpr - meas.fpr) * sf
        self._flag_total += int(flags.sum())
        self._synthetic_total += float(sf.sum())
        n_all = len(store)
        cur["new_documents"] = int(sf.size)
        cur["documents"] = n_all
        cur["synthetic_share_new"] = float(sf.mean()) if sf.size else float("nan")
        cur["synthetic_share_new_measured"] = float(flags.mean()) if sf.size else float("nan")
        cur["synthetic_share_stock"] = self._synthetic_total / n_all if n_all else float("nan")
        cur["synthetic_share_stock_measured"] = self._flag_total / n_all if n_all else float("nan")
        cur["duplicate_share_web"] = float((store.original[new] >= 0).mean()) if sf.size else 0.0
        cur["ai_demand"] = self.ai_demand()
        cur["assisted_authors"] = float(self.humans.assisted(t).mean())

        deployed = self.deployed_models()
        cur["deployed_models"] = len(deployed)
        if deployed:
            cur["mean_pairwise_js"] = K.mean_pairwise_js(
                [a.learners.concepts.sampling_probs for a in deployed]
            )
            means = [a.learners.style.mean_ for a in deployed]
            dists = [np.linalg.norm(a - b) for i, a in enumerate(means) for b in means[i + 1 :]]
            cur["mean_style_distance"] = float(np.mean(dists)) if dists else float("nan")
            fails = np.array(
                [1 - a.learners.facts.correct_probability(self.world.true_values) for a in deployed]
            )
            cur["systemic_failure_ratio"] = K.systemic_failure_ratio(fails)
            cur["pairwise_failure_ratio"] = K.pairwise_failure_ratio(fails)
            cur["active_wrong_beliefs"] = int(sum(a.believed_errors.size for a in deployed))
            for key in ("duplicate_share", "duplication_error_lift"):
                name = "training_set_duplicate_share" if key == "duplicate_share" else key
                cur[name] = float(np.mean([a.training_stats[key] for a in deployed]))
            for key in ("capability", "tail_coverage", "fact_accuracy"):
                cur[f"mean_{key}"] = float(np.mean([a.metrics[key] for a in deployed]))
        else:
            cur["active_wrong_beliefs"] = 0
        cur["errors_registered"] = len(self.errors)
        adoptions = self.errors.adoptions_array()
        if adoptions.size:
            pairs = np.unique(adoptions[:, :2], axis=0)  # (error, model) pairs
            cur["largest_cascade_models"] = int(np.bincount(pairs[:, 0]).max())
            cur["cross_model_adoptions"] = int(adoptions[:, 4].sum())
        else:
            cur["largest_cascade_models"] = 0
            cur["cross_model_adoptions"] = 0
        cur["largest_cascade_documents"] = (
            int(self.error_documents.max()) if self.error_documents.size else 0
        )

        crawls = self._crawl_month
        if crawls:
            tp, fp, fn = (sum(c[k] for c in crawls) for k in ("tp", "fp", "fn"))
            cur["filter_precision"] = tp / (tp + fp) if tp + fp else float("nan")
            cur["filter_recall"] = tp / (tp + fn) if tp + fn else float("nan")
            sampled = sum(c["sampled"] for c in crawls)
            kept = sum(c["kept"] for c in crawls)
            cur["training_synthetic_before"] = (
                sum(c["synthetic_before"] * c["sampled"] for c in crawls if c["sampled"]) / sampled
                if sampled
                else float("nan")
            )
            cur["training_synthetic_after"] = (
                sum(c["synthetic_after"] * c["kept"] for c in crawls if c["kept"]) / kept
                if kept
                else float("nan")
            )
            cur["training_duplicate_share"] = (
                sum(c["duplicate_share_after"] * c["kept"] for c in crawls if c["kept"]) / kept
                if kept
                else float("nan")
            )
            cur["human_documents_lost"] = fp
        self.current = cur

        synthetic = new.start + np.flatnonzero(sf >= 0.5)
        if synthetic.size:
            counts = store.concept_counts(synthetic, self.world.config.concepts).astype(float)
            self.humans.drift(cur["synthetic_share_new"], counts / counts.sum())

    # --- results -----------------------------------------------------------------------------
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every result table of the run, by file stem."""
        sc = self.config
        mdf = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        mdf.insert(0, "step", np.arange(len(mdf), dtype=np.int32))
        mdf.insert(1, "month", [sc.step_to_month(int(s)) for s in mdf["step"]])
        out = {"model_metrics": mdf}
        for name, cls in (("models", GenerativeModel), ("scrapers", Scraper)):
            if self.agents_by_type.get(cls):
                df = self.datacollector.get_agenttype_vars_dataframe(cls).reset_index()
                df = df.rename(columns={"Step": "step", "AgentID": "agent_id"})
                df["step"] = df["step"].astype(np.int32) - 1
                df["month"] = [sc.step_to_month(int(s)) for s in df["step"]]
                out[name] = df
        errors = self.errors.to_frame()
        if len(errors):
            errors["origin_model_name"] = [
                self.models[i].name if i >= 0 else "" for i in errors["origin_model"]
            ]
            errors["documents"] = self.error_documents[: len(errors)]
        out["errors"] = errors
        adoptions = self.errors.adoptions_frame()
        adoptions["model_name"] = [self.models[i].name for i in adoptions["model"]]
        out["adoptions"] = adoptions
        out["lineage"] = pd.DataFrame(self.lineage)
        human = pd.DataFrame(
            {
                "model": "human",
                "generation": np.int32(-1),
                "step": np.int32(0),
                "concept": np.arange(self.world.p_human.size, dtype=np.int32),
                "probability": self.world.p_human,
            }
        )
        out["concept_distributions"] = pd.concat(
            [human, *self.concept_distributions], ignore_index=True
        )
        human_style = {
            "model": "human",
            "generation": -1,
            "step": 0,
            "mean": self.world.human_style_mean.tolist(),
            "cov": self.world.human_style_cov.ravel().tolist(),
        }
        # each generation's Gaussian style distribution (mean, sampling covariance d×d flattened)
        out["style_distributions"] = pd.DataFrame([human_style, *self.style_distributions])
        out["concepts"] = pd.DataFrame(
            {
                "concept": np.arange(self.world.p_human.size, dtype=np.int32),
                "p_human": self.world.p_human,
                "popularity": self.world.concept_popularity,
                "tail": self.world.concept_tail,
                "niche": self.world.niche_of,
            }
        )
        out["facts"] = pd.DataFrame(
            {
                "fact": np.arange(self.world.true_values.size, dtype=np.int32),
                "popularity": self.world.fact_popularity,
                "true_value": self.world.true_values,
                "tail": self.world.fact_tail,
            }
        )
        out["training_sources"] = pd.DataFrame(self.training_sources)
        out["crawls"] = pd.DataFrame(self.crawl_log)
        out["z_samples"] = (
            pd.concat(self.z_samples, ignore_index=True) if self.z_samples else pd.DataFrame()
        )
        out["interventions"] = pd.DataFrame(
            self.applied_interventions, columns=["step", "month", "path", "value"]
        )
        store = self.internet.store
        docs = store.to_frame()
        docs["kind"] = pd.Categorical.from_codes(docs["kind"].to_numpy(), list(KIND_NAMES))
        out["documents"] = docs
        has_error = store.claim_errors >= 0
        claim_doc = np.repeat(np.arange(len(store)), np.diff(store.claim_offsets))
        d = claim_doc[has_error]
        out["error_claims"] = pd.DataFrame(
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
        out["sites"] = pd.DataFrame(
            {
                "site": np.arange(self.internet.n_sites),
                "kind": self.internet.site_kind,
                "owner": self.internet.site_owner,
                "pagerank": self.internet.pagerank,
            }
        )
        return out
