"""What each producer writes into the store, document by document, against plain reference code.

The tiny world is stepped with every producer's batches intercepted (with the state each wrote
from: its community's interests, its assistants' and its model's decoding distributions, fact
beliefs and watermarking), and each stored column is checked against the mechanism: kinds,
producers, models and sites; synthetic fractions; concept draws (chi-square against the table
they should come from); fact claims (truth and the human error rate, or the model's belief with
hallucinations); the error registry's origin of every wrong value; green counts given the tokens
that keep watermark evidence; reposts' columns against their originals; monthly counts against
the curves. The closed forms themselves are checked in tests/ecosystem/test_design_formulas.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from scipy import stats
from tinyscenario import tiny_scenario

from habsburg.ecosystem.edits import EditProcess, combine_fractions, retention
from habsburg.ecosystem.store import FARM, HUMAN, HYBRID, MODEL, REPOST, Batch
from habsburg.model.model import EcosystemModel

#: a statistic this unlikely under the reference fails the test (each file runs a few dozen)
ALPHA = 1e-4
BOTH_LABS_WATERMARK = [
    {"name": "north", "watermarks": True},
    {"name": "south", "watermarks": True},
]


# --- capturing a run ----------------------------------------------------------------------
@dataclass
class Deployed:
    """What one deployed model published from in a month (copied before it publishes)."""

    concepts: np.ndarray
    answer: np.ndarray
    modal: np.ndarray
    seen: np.ndarray
    hallucination: float
    unseen_hallucination: float
    watermark_probability: float
    market_share: float
    cost: float


@dataclass
class Published:
    """One batch as a producer handed it to ``model.publish``, and its rows in the store."""

    step: int
    who: str  # human / model / farm / repost
    agent: int
    batch: Batch
    deployed: dict[int, Deployed]
    extra: dict[str, Any] = field(default_factory=dict)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def per_doc(self, name: str) -> np.ndarray:
        value = np.asarray(getattr(self.batch, name))
        return np.broadcast_to(value, (len(self.batch.synthetic_fraction),))


@dataclass
class Run:
    model: EcosystemModel
    published: list[Published]
    #: (producer kind or "other", first new error id, end) of each registry call
    registered: list[tuple[str, int, int]]

    def of(self, who: str) -> list[Published]:
        return [p for p in self.published if p.who == who]


def _deployed(m: EcosystemModel) -> dict[int, Deployed]:
    out = {}
    for a in m.deployed_models():
        assert a.learners is not None  # (deployed)
        f = a.learners.facts
        out[a.index] = Deployed(
            a.learners.concepts.sampling_probs.copy(),
            f.answer_probs.copy(),
            f.modal_value.copy(),
            f.seen_.copy(),
            f.hallucination_rate,
            f.unseen_hallucination_rate,
            a.watermark_probability,
            a.market_share,
            a.config.cost,
        )
    return out


def capture(sc) -> Run:
    """Step scenario ``sc`` to its end, recording each producer's batches (agents' methods are
    wrapped on the instances: the run's draws are untouched)."""
    m = EcosystemModel(sc)
    run = Run(m, [], [])
    current: list[Any] = [None]
    publish, register = m.publish, m.errors.register

    def recording_publish(batch: Batch) -> Any:
        if current[0] is not None:  # (not the join of held batches: those were recorded)
            who, agent, extra = current[0]
            run.published.append(Published(m.month, who, agent, batch, _deployed(m), extra))
        return publish(batch)

    def recording_register(*args: Any) -> np.ndarray:
        before = len(m.errors)
        ids = register(*args)
        run.registered.append((current[0][0] if current[0] else "other", before, len(m.errors)))
        return ids

    def wrap(agent: Any, method: str, who: str, extra=lambda *a: {}) -> None:
        inner = getattr(agent, method)

        def wrapped(*args: Any) -> Any:
            current[0] = (who, getattr(agent, "index", 0), extra(*args))
            try:
                return inner(*args)
            finally:
                current[0] = None

        setattr(agent, method, wrapped)

    setattr(m, "publish", recording_publish)  # noqa: B010  (instance attributes: a wrap)
    setattr(m.errors, "register", recording_register)  # noqa: B010
    humans = m.humans
    wrap(
        humans,
        "publish",
        "human",
        lambda: {
            "community_concepts": humans.community_concepts.copy(),
            "assisted": humans.assisted(m.month).copy(),
        },
    )
    for a in m.models:
        wrap(a, "publish", "model")
    for f in m.farms:
        wrap(f, "publish", "farm")
    for s in m.scrapers:
        wrap(s, "repost", "repost", lambda crawled: {"crawled": crawled.copy()})
    marks = []
    for _ in range(sc.steps):
        first = len(run.published)
        m.step()
        marks.append((first, len(run.published)))
    store = m.internet.store
    for t, (lo, hi) in enumerate(marks):  # each month's batches fill its rows, in order
        sl = store.step_slice(t, t)
        pos = sl.start
        for p in run.published[lo:hi]:
            n = len(p.batch.synthetic_fraction)
            p.rows = np.arange(pos, pos + n)
            pos += n
        assert pos == sl.stop, f"month {t}: batches hold {pos - sl.start} rows, store {sl}"
    return run


@pytest.fixture(scope="module")
def tiny() -> Run:
    return capture(tiny_scenario())


@pytest.fixture(scope="module")
def mandate() -> Run:
    """Both labs' models watermark half their output through a mandate; farms paraphrase more."""
    farm = {
        "name": "farm",
        "sites": 4,
        "link_spam": 10,
        "paraphrase_share": 0.6,
        "paraphrase_rate": 0.4,
        "paraphrase_edits": {"span_length": 3.0, "random_share": 0.3},
        "output": {"start": "2021-02", "midpoint": 6.0, "rate": 0.4, "ceiling": 300.0},
    }
    labs = [{"name": "north", "watermarks": False}, {"name": "south", "watermarks": False}]
    return capture(tiny_scenario(labs=labs, watermark={"adoption": 0.5}, farms=[farm], seed=11))


# --- reference statistics -----------------------------------------------------------------
def chi2_pvalue(observed: np.ndarray, expected: np.ndarray) -> float:
    """Chi-square goodness of fit, bins pooled (smallest expected first) to >= 10 expected;
    draws where the reference gives probability 0 fail outright (p = 0)."""
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    if observed[expected <= 0].sum() > 0:
        return 0.0
    order = np.argsort(expected[expected > 0])
    o, e = observed[expected > 0][order], expected[expected > 0][order]
    edges = np.searchsorted(np.cumsum(e), np.arange(10.0, e.sum(), 10.0), side="left") + 1
    edges = np.unique(np.minimum(edges, e.size))
    edges = edges[edges < e.size]
    o_bins = np.add.reduceat(o, np.r_[0, edges])
    e_bins = np.add.reduceat(e, np.r_[0, edges])
    if e_bins.size < 2:
        return 1.0
    stat = float(((o_bins - e_bins) ** 2 / e_bins).sum())
    return float(stats.chi2.sf(stat, e_bins.size - 1))


def value_probs(d: Deployed, n_values: int) -> np.ndarray:
    """(F, V) law of a model's answer given that it answers: the sharpened belief, replaced with
    probability h by a value other than the mode; a fact never seen is answered uniformly."""
    n_facts = d.answer.shape[0]
    other = np.full((n_facts, n_values), 1.0 / (n_values - 1))
    other[np.arange(n_facts), d.modal] = 0.0
    seen = (1 - d.hallucination) * d.answer + d.hallucination * other
    return np.where(d.seen[:, None], seen, 1.0 / n_values)


def rank_counts(probs: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Claims binned by the rank of their value under their own law (rows of ``probs``, one per
    claim): observed and expected counts per rank (a chi-square over the V ranks)."""
    rank = np.argsort(np.argsort(-probs, axis=1, kind="stable"), axis=1, kind="stable")
    n_values = probs.shape[1]
    observed = np.bincount(rank[np.arange(values.size), values], minlength=n_values)
    expected = np.array([probs[rank == r].sum() for r in range(n_values)])
    return observed, expected


@dataclass
class GreenLaw:
    """Sum of green counts against the law: a token keeping evidence is green with probability
    γ + (γ' − γ)η (η ~ Beta(a, b) per document), every other token with γ; a document is
    watermarked with probability ``q``, then ``kept`` of its tokens keep evidence."""

    gamma: float
    lift: float
    eta: tuple[float, float]  # E[η], E[η²]
    green: float = 0.0
    mean: float = 0.0
    var: float = 0.0
    docs: int = 0

    @classmethod
    def of(cls, m: EcosystemModel) -> GreenLaw:
        w = m.watermark
        a, b = w.entropy_a, w.entropy_b
        eta = (a / (a + b), a * (a + 1) / ((a + b) * (a + b + 1)))
        return cls(w.gamma, w.green_probability - w.gamma, eta)

    def add(self, green: np.ndarray, tokens: np.ndarray, q: np.ndarray, kept: np.ndarray) -> None:
        g, c, (e1, e2) = self.gamma, self.lift, self.eta
        p_q = g + c * e1 - (g * g + 2 * g * c * e1 + c * c * e2)  # E[p(1 − p)], p = g + cη
        self.green += float(green.sum())
        self.mean += float((g * tokens + c * e1 * q * kept).sum())
        between = c * c * kept**2 * (e2 * q - (e1 * q) ** 2)
        self.var += float((kept * q * p_q + (tokens - kept * q) * g * (1 - g) + between).sum())
        self.docs += green.size

    @property
    def z(self) -> float:
        return (self.green - self.mean) / np.sqrt(self.var)


def green_laws(run: Run) -> dict[str, GreenLaw]:
    """The green law of each kind of original document, with the kept tokens the mechanism
    documents: a hybrid's model-written ``rint(sf·T)``, a model's T, a paraphrased farm
    document's T times the edit process's retention."""
    m = run.model
    laws: dict[str, GreenLaw] = {}
    for p in run.published:
        if p.who == "repost":
            continue
        tokens = p.per_doc("tokens").astype(float)
        green = p.per_doc("green").astype(float)
        sf = p.per_doc("synthetic_fraction").astype(float)
        model = p.per_doc("model")
        q = np.array([p.deployed[x].watermark_probability if x >= 0 else 0.0 for x in model])
        kept = np.minimum(np.rint(sf * tokens), tokens) if p.who == "human" else tokens.copy()
        category = np.full(tokens.size, p.who, dtype=object)
        if p.who == "human":
            category[model >= 0] = "hybrid"
        if p.who == "farm":
            edits = m.farms[p.agent].config.paraphrase_edits
            process = EditProcess(edits.span_length, edits.random_share)
            para = p.per_doc("paraphrase").astype(float)
            kept *= np.where(para > 0, retention(para, m.watermark.context_width, process), 1.0)
            category[para > 0] = "farm paraphrased"
        for name in np.unique(category):
            sel = category == name
            laws.setdefault(name, GreenLaw.of(m)).add(green[sel], tokens[sel], q[sel], kept[sel])
    return laws


# --- the store holds what was published ---------------------------------------------------
@pytest.mark.parametrize("name", ["tiny", "mandate"])
def test_the_store_holds_each_batch_as_published(name: str, request) -> None:
    run: Run = request.getfixturevalue(name)
    store = run.model.internet.store
    assert {p.who for p in run.published} == {"human", "model", "farm", "repost"}
    for p in run.published:
        for col in ("site", "kind", "producer", "model", "tokens", "green"):
            assert np.array_equal(p.per_doc(col), store.column(col, p.rows)), (p.who, col)
        assert np.array_equal(
            p.per_doc("synthetic_fraction").astype(np.float32), store.synthetic_fraction[p.rows]
        )
        assert np.array_equal(
            p.per_doc("paraphrase").astype(np.float32), store.paraphrase_of(p.rows)
        )
        lengths, concepts = store.concept_rows(p.rows)
        assert np.array_equal(lengths, p.batch.concept_lengths)
        assert np.array_equal(concepts, p.batch.concepts)
        lengths, claims = store.claim_rows(p.rows)
        facts, values = store.claims_at(claims)
        assert np.array_equal(lengths, p.batch.claim_lengths)
        assert np.array_equal(facts, p.batch.claim_facts)
        assert np.array_equal(values, p.batch.claim_values)
        assert np.array_equal(store.claim_error_ids(claims), p.batch.claim_errors)


# --- who wrote it, and where --------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny", "mandate"])
def test_kind_producer_model_and_site_follow_the_producer(name: str, request) -> None:
    run: Run = request.getfixturevalue(name)
    m = run.model
    for p in run.published:
        kind, producer, model = p.per_doc("kind"), p.per_doc("producer"), p.per_doc("model")
        sf, site = p.per_doc("synthetic_fraction"), p.per_doc("site")
        if p.who == "human":
            hybrid = kind == HYBRID
            assert np.isin(kind, [HUMAN, HYBRID]).all()
            assert np.array_equal(hybrid, sf > 0)  # hand-written: 0; co-written: the share
            assert (model[~hybrid] == -1).all() and np.isin(model[hybrid], list(p.deployed)).all()
            assert p.extra["assisted"][producer[hybrid]].all()  # only adopters co-write
            assert np.array_equal(site, m.humans.home_site[producer])
        elif p.who == "model":
            assert (kind == MODEL).all() and (producer == p.agent).all()
            assert (model == p.agent).all() and p.agent in p.deployed
            assert (sf == 1).all() and np.isin(site, m.human_sites).all()
        elif p.who == "farm":
            cheapest = min(p.deployed, key=lambda i: (p.deployed[i].cost, i))
            assert (kind == FARM).all() and (producer == p.agent).all()
            assert (model == cheapest).all() and (sf == 1).all()
            assert np.isin(site, m.farms[p.agent].sites).all()
        else:
            assert (kind == REPOST).all() and (producer == p.agent).all()
            assert np.isin(site, m.scrapers[p.agent].sites).all()


def test_model_documents_land_uniformly_on_human_sites(tiny: Run) -> None:
    m = tiny.model
    sites = np.concatenate([p.per_doc("site") for p in tiny.of("model")])
    observed = np.bincount(sites, minlength=m.internet.site_kind.size)
    expected = np.zeros(observed.size)
    expected[m.human_sites] = sites.size / m.human_sites.size
    assert chi2_pvalue(observed, expected) > ALPHA


def test_hybrids_pick_their_assistant_by_market_share(tiny: Run) -> None:
    n_models = len(tiny.model.models)
    observed, expected = np.zeros(n_models), np.zeros(n_models)
    for p in tiny.of("human"):
        helper = p.per_doc("model")
        helper = helper[helper >= 0]
        if helper.size:
            share = np.zeros(n_models)
            for i, d in p.deployed.items():
                share[i] = d.market_share + 1e-12
            observed += np.bincount(helper, minlength=n_models)
            expected += helper.size * share / share.sum()
    assert observed.sum() > 3000
    assert chi2_pvalue(observed, expected) > ALPHA


# --- monthly counts -----------------------------------------------------------------------
def test_monthly_counts_follow_authors_demand_and_farm_output() -> None:
    """Σ(n − λ)/√Σλ over the months, each producer's Poisson mean λ taken as it publishes."""
    sc = tiny_scenario(seed=5)
    m = EcosystemModel(sc)
    totals = {"human": [0.0, 0.0], "model": [0.0, 0.0], "farm": [0.0, 0.0]}
    for t in range(sc.steps):
        shares = sum(a.market_share for a in m.deployed_models())
        deployed = bool(m.deployed_models())
        m.step()
        kind = m.internet.store.kind[m.internet.store.step_slice(t, t)]
        expected = {
            "human": sc.humans.docs_per_month * m.humans.rate.sum(),
            "model": m.ai_demand() * shares,  # (month t: m.month is t after the step)
            "farm": m.farms[0].output() if deployed else 0.0,
        }
        counted = {
            "human": np.isin(kind, [HUMAN, HYBRID]).sum(),
            "model": (kind == MODEL).sum(),
            "farm": (kind == FARM).sum(),
        }
        for k in totals:
            totals[k][0] += counted[k]
            totals[k][1] += expected[k]
    for k, (n, lam) in totals.items():
        assert lam > 1000
        assert abs(n - lam) / np.sqrt(lam) < 4, (k, n, lam)


# --- concepts -----------------------------------------------------------------------------
def concept_tables(run: Run, shift_community: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Observed and expected concept counts: a hand-written document's draws (and a hybrid's
    after its first ``rint(sf·L)``) from its author's community's current interests, a hybrid's
    first ``rint(sf·L)`` from its assistant's decoding distribution, a model's or farm's from
    its model's. ``shift_community`` (a deliberately wrong reference) takes the next
    community's interests instead."""
    k_concepts = run.model.config.world.concepts
    out = {
        k: (np.zeros(k_concepts), np.zeros(k_concepts))
        for k in ("human", "hybrid assistant", "hybrid author", "model", "farm")
    }
    community = run.model.humans.community
    for p in run.published:
        lengths = np.asarray(p.batch.concept_lengths, dtype=np.int64)
        concepts = np.asarray(p.batch.concepts)
        if p.who == "human":
            interests = p.extra["community_concepts"]
            interests = interests / interests.sum(axis=1, keepdims=True)
            comm = (community[p.per_doc("producer")] + shift_community) % interests.shape[0]
            helper = p.per_doc("model")
            by_model = np.rint(p.per_doc("synthetic_fraction") * lengths).astype(np.int64)
            owner = np.repeat(np.arange(lengths.size), lengths)
            place = np.arange(concepts.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            from_model = place < by_model[owner]
            hybrid = helper[owner] >= 0
            for key, sel in (
                ("human", ~hybrid),
                ("hybrid author", hybrid & ~from_model),
                ("hybrid assistant", from_model),
            ):
                out[key][0][:] += np.bincount(concepts[sel], minlength=k_concepts)
            author_draws = lengths - by_model
            hybrid_doc = helper >= 0
            for key, docs in (("human", ~hybrid_doc), ("hybrid author", hybrid_doc)):
                weights = np.bincount(comm[docs], author_draws[docs], minlength=interests.shape[0])
                out[key][1][:] += weights @ interests
            for i, d in p.deployed.items():
                out["hybrid assistant"][1][:] += by_model[helper == i].sum() * d.concepts
        elif p.who in ("model", "farm"):
            model = int(p.per_doc("model")[0])
            out[p.who][0][:] += np.bincount(concepts, minlength=k_concepts)
            out[p.who][1][:] += concepts.size * p.deployed[model].concepts
    return out


@pytest.mark.parametrize("name", ["tiny", "mandate"])
def test_concepts_are_drawn_from_the_right_table(name: str, request) -> None:
    run: Run = request.getfixturevalue(name)
    for key, (observed, expected) in concept_tables(run).items():
        assert observed.sum() > 10_000 and observed.sum() == pytest.approx(expected.sum())
        assert chi2_pvalue(observed, expected) > ALPHA, key


# --- fact claims --------------------------------------------------------------------------
def test_human_claims_are_true_but_for_the_error_rate_spread_over_wrong_values(tiny: Run) -> None:
    world, sc = tiny.model.world, tiny.model.config
    n_values = sc.world.values_per_fact
    facts, values = [], []
    for p in tiny.of("human"):
        owner = np.repeat(np.arange(p.rows.size), p.batch.claim_lengths)
        hand = p.per_doc("kind")[owner] == HUMAN
        facts.append(np.asarray(p.batch.claim_facts)[hand])
        values.append(np.asarray(p.batch.claim_values)[hand])
    f, v = np.concatenate(facts).astype(np.int64), np.concatenate(values).astype(np.int64)
    popularity = world.fact_popularity / world.fact_popularity.sum()
    assert chi2_pvalue(np.bincount(f, minlength=popularity.size), f.size * popularity) > ALPHA
    wrong = v != world.true_values[f]
    rate = sc.humans.error_rate
    assert abs(wrong.sum() - rate * f.size) < 4 * np.sqrt(f.size * rate * (1 - rate))
    shift = (v[wrong] - world.true_values[f[wrong]]) % n_values
    observed = np.bincount(shift, minlength=n_values)[1:]
    assert chi2_pvalue(observed, np.full(n_values - 1, wrong.sum() / (n_values - 1))) > ALPHA


@pytest.mark.parametrize("name", ["tiny", "mandate"])
def test_model_and_farm_claims_are_the_models_answers(name: str, request) -> None:
    """Facts asked by popularity, kept when answered (a fact never seen with probability
    ``unseen_hallucination_rate``); values by the model's belief with hallucinations."""
    run: Run = request.getfixturevalue(name)
    n_values = run.model.config.world.values_per_fact
    popularity = run.model.world.fact_popularity
    n_facts = popularity.size
    fact_obs, fact_exp = np.zeros(n_facts), np.zeros(n_facts)
    rank_obs, rank_exp = np.zeros(n_values), np.zeros(n_values)
    for p in run.of("model") + run.of("farm"):
        d = p.deployed[int(p.per_doc("model")[0])]
        f = np.asarray(p.batch.claim_facts, dtype=np.int64)
        v = np.asarray(p.batch.claim_values, dtype=np.int64)
        asked = popularity * np.where(d.seen, 1.0, d.unseen_hallucination)
        fact_obs += np.bincount(f, minlength=n_facts)
        fact_exp += f.size * asked / asked.sum()
        o, e = rank_counts(value_probs(d, n_values)[f], v)
        rank_obs += o
        rank_exp += e
    assert rank_obs.sum() > 10_000
    assert chi2_pvalue(fact_obs, fact_exp) > ALPHA
    assert chi2_pvalue(rank_obs, rank_exp) > ALPHA


def human_value_law(run: Run) -> np.ndarray:
    """Each fact's law of a human's claimed value (facts × values): the true value with
    probability 1 − error_rate, each other value alike."""
    world, sc = run.model.world, run.model.config
    n_values, rate = sc.world.values_per_fact, sc.humans.error_rate
    human = np.full((world.true_values.size, n_values), rate / (n_values - 1))
    human[np.arange(world.true_values.size), world.true_values] = 1 - rate
    return human


def test_hybrid_claims_mix_the_authors_and_the_assistants_answers(tiny: Run) -> None:
    """A hybrid's claim is the assistant's with probability sf (dropped if it abstains), else
    the author's: given it was kept, the assistant's with sf·a / (sf·a + 1 − sf), a the chance
    the assistant answers that fact."""
    human = human_value_law(tiny)
    n_values = human.shape[1]
    rank_obs, rank_exp = np.zeros(n_values), np.zeros(n_values)
    for p in tiny.of("human"):
        owner = np.repeat(np.arange(p.rows.size), p.batch.claim_lengths)
        helper, sf = p.per_doc("model")[owner], p.per_doc("synthetic_fraction")[owner]
        f = np.asarray(p.batch.claim_facts, dtype=np.int64)
        v = np.asarray(p.batch.claim_values, dtype=np.int64)
        for i, d in p.deployed.items():
            sel = helper == i
            if not sel.any():
                continue
            answers = np.where(d.seen, 1.0, d.unseen_hallucination)[f[sel]]
            by_model = sf[sel] * answers / (sf[sel] * answers + 1 - sf[sel])
            law = by_model[:, None] * value_probs(d, n_values)[f[sel]]
            law += (1 - by_model[:, None]) * human[f[sel]]
            o, e = rank_counts(law, v[sel])
            rank_obs += o
            rank_exp += e
    assert rank_obs.sum() > 2000
    assert chi2_pvalue(rank_obs, rank_exp) > ALPHA


# --- the error registry -------------------------------------------------------------------
def registry_mismatches(run: Run) -> dict[str, int]:
    """Every wrong claim in the store against the registry: its id names its fact and value,
    and an error first registered as it was published has the origin of the first document
    carrying it (kind, producer, model, month; a hybrid's error is its author's, kind human and
    no model, or its assistant's, kind model and the document's model)."""
    m = run.model
    store, registry, truth = m.internet.store, m.errors, m.world.true_values
    ids = store.claim_error_ids(slice(None))
    facts, values = (a.astype(np.int64) for a in store.claims_at(slice(None)))
    wrong = values != truth[facts]
    out = {"id where true or none where wrong": int(((ids >= 0) != wrong).sum())}
    e = ids[wrong].astype(np.int64)
    out["id names another claim"] = int(
        (
            (registry.column("fact")[e] != facts[wrong])
            | (registry.column("value")[e] != values[wrong])
        ).sum()
    )
    doc = store.claim_owners(np.flatnonzero(wrong))
    order = np.lexsort((doc, e))
    e, doc = e[order], doc[order]
    first = np.r_[True, e[1:] != e[:-1]]
    error, doc = e[first], doc[first]
    by_publishing = np.zeros(len(registry), dtype=bool)
    for who, lo, hi in run.registered:
        by_publishing[lo:hi] = who != "other"
    out["registered in publishing, never published"] = int(
        np.setdiff1d(np.flatnonzero(by_publishing), error).size
    )
    out["origin after first document"] = int(
        (registry.column("step")[error] > store.steps_of(doc)).sum()
    )
    sel = by_publishing[error]
    error, doc = error[sel], doc[sel]
    kind, model = store.kind[doc], store.model[doc].astype(np.int64)
    origin_kind = registry.column("origin_kind")[error]
    origin_model = registry.column("origin_model")[error]
    expected_kind = np.where(kind == HYBRID, np.where(origin_model >= 0, MODEL, HUMAN), kind)
    expected_model = np.where((kind == HYBRID) & (origin_model < 0), -1, model)
    out["origin kind"] = int((origin_kind != expected_kind).sum())
    out["origin model"] = int((origin_model != expected_model).sum())
    out["origin producer"] = int(
        (registry.column("origin_producer")[error] != store.producer[doc]).sum()
    )
    out["origin step"] = int((registry.column("step")[error] != store.steps_of(doc)).sum())
    out["checked"] = int(error.size)
    return out


@pytest.mark.parametrize("name", ["tiny", "mandate"])
def test_every_wrong_value_is_registered_with_its_first_publisher(name: str, request) -> None:
    found = registry_mismatches(request.getfixturevalue(name))
    assert found.pop("checked") > 300
    assert all(n == 0 for n in found.values()), found


def test_error_document_counts_count_documents_carrying_each_error(tiny: Run) -> None:
    m = tiny.model
    store = m.internet.store
    ids = store.claim_error_ids(slice(None)).astype(np.int64)
    doc = store.claim_owners(np.arange(ids.size))
    n = len(m.errors)
    pairs = np.unique(doc[ids >= 0] * (n + 1) + ids[ids >= 0])
    assert np.array_equal(m.error_document_counts(), np.bincount(pairs % (n + 1), minlength=n))


# --- watermark evidence -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny", "mandate"])
def test_green_counts_follow_the_law_given_the_tokens_that_keep_evidence(
    name: str, request
) -> None:
    laws = green_laws(request.getfixturevalue(name))
    assert set(laws) >= {"human", "hybrid", "model", "farm", "farm paraphrased"}
    for key, law in laws.items():
        assert law.docs > 500, key
        assert abs(law.z) < 4.5, (key, law.z)


@pytest.mark.parametrize(
    ("section", "producer", "mix"),
    [
        ("demand", "model", [("verbatim", 0.4, 1.0), ("edited", 0.6, 0.7)]),
        ("humans", "human", [("edited", 1.0, 0.8)]),
    ],
)
def test_an_edited_draft_keeps_the_evidence_of_random_edits(
    section: str, producer: str, mix: list[tuple[str, float, float]]
) -> None:
    """The 'edited' workflow is one mechanism whoever posts the result (a model user or an
    author): 1 − sf of a watermarked model draft's tokens edited at scattered positions keeps
    about sf^(h+1) of its evidence (random edits), and leaves the paraphrase column alone.
    Until 2026-12-05 an author's edited draft kept all its rint(sf·T) model-written tokens'."""
    wf = [{"name": n, "weight": w, "synthetic_mean": m} for n, w, m in mix]
    run = capture(
        tiny_scenario(**{section: {"workflows": wf}}, labs=BOTH_LABS_WATERMARK, end="2022-12")
    )
    law, h = GreenLaw.of(run.model), run.model.watermark.context_width
    for p in run.of(producer):
        sf = p.per_doc("synthetic_fraction").astype(float)
        tokens = p.per_doc("tokens").astype(float)
        edited = (sf > 0) & (sf < 1)
        assert (p.per_doc("paraphrase") == 0).all()
        law.add(
            p.per_doc("green")[edited].astype(float),
            tokens[edited],
            np.ones(edited.sum()),
            tokens[edited] * sf[edited] ** (h + 1),
        )
    assert law.docs > 2000
    assert abs(law.z) < 4.5, law.z


# --- reposts ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny", "mandate"])
def test_reposts_copy_their_original_and_spin_as_documented(name: str, request) -> None:
    """A repost copies a crawled document (original = its root): the same synthetic fraction,
    tokens, quality, model, style, concepts and claims; unspun, the same green count and
    paraphrase; spun, paraphrase 1 − (1 − previous)(1 − spin_rate) and about half of them spun."""
    run: Run = request.getfixturevalue(name)
    store = run.model.internet.store
    spun_total = reposts = 0
    for p in run.of("repost"):
        crawled = p.extra["crawled"]
        roots = store.root(crawled)
        original = p.per_doc("original")
        # the copied document: the one crawled document with that root (roots repeated in a
        # crawl are skipped: which copy was reposted is not stored)
        unique_roots, counts = np.unique(roots, return_counts=True)
        assert np.isin(original, roots).all()
        single = np.isin(original, unique_roots[counts == 1])
        by_root = np.argsort(roots, kind="stable")
        source = crawled[by_root][np.searchsorted(roots[by_root], original[single])]
        rows = p.rows[single]
        for col in ("synthetic_fraction", "tokens", "quality", "model"):
            assert np.array_equal(store.column(col, rows), store.column(col, source)), col
        assert np.array_equal(store.style[rows], store.style[source])
        (la, ca), (lb, cb) = store.concept_rows(rows), store.concept_rows(source)
        assert np.array_equal(la, lb) and np.array_equal(ca, cb)
        (la, ca), (lb, cb) = store.claim_rows(rows), store.claim_rows(source)
        assert np.array_equal(la, lb)
        assert np.array_equal(store.claim_codes(ca), store.claim_codes(cb))
        before = store.paraphrase_of(source).astype(float)
        after = store.paraphrase_of(rows).astype(float)
        spin_rate = run.model.scrapers[p.agent].config.spin_rate
        spun = ~np.isclose(after, before)
        assert np.allclose(after[spun], combine_fractions(before[spun], spin_rate), atol=1e-6)
        assert np.array_equal(store.green[rows][~spun], store.green[source][~spun])
        spun_total += int(spun.sum())
        reposts += rows.size
    assert reposts > 1000
    share = run.model.scrapers[0].config.spin_share
    assert abs(spun_total - share * reposts) < 4 * np.sqrt(reposts * share * (1 - share))


# --- the references reject wrong variants -------------------------------------------------
def test_the_references_reject_deliberately_wrong_mechanisms(tiny: Run) -> None:
    """Each reference above fails a wrong variant: concepts from the neighbouring community's
    table; watermarked output taken for unmarked (and unmarked for marked); model claims scored
    against the truth-with-error-rate law; a registry whose origins are shifted by a month."""
    tables = concept_tables(tiny, shift_community=1)
    assert chi2_pvalue(*tables["human"]) < 1e-12

    laws = green_laws(tiny)
    for p in tiny.published:  # a variant where every deployed model's watermarking is flipped
        for d in p.deployed.values():
            d.watermark_probability = 1.0 - d.watermark_probability
    try:
        flipped = green_laws(tiny)
    finally:
        for p in tiny.published:
            for d in p.deployed.values():
                d.watermark_probability = 1.0 - d.watermark_probability
    assert abs(laws["model"].z) < 4.5 and abs(flipped["model"].z) > 20

    human = human_value_law(tiny)
    n_values = human.shape[1]
    rank_obs, rank_exp = np.zeros(n_values), np.zeros(n_values)
    for p in tiny.of("model"):
        f = np.asarray(p.batch.claim_facts, dtype=np.int64)
        o, e = rank_counts(human[f], np.asarray(p.batch.claim_values, dtype=np.int64))
        rank_obs += o
        rank_exp += e
    assert chi2_pvalue(rank_obs, rank_exp) < 1e-12

    registry = tiny.model.errors
    step = registry._cols["step"].view
    step += 1
    try:
        shifted = registry_mismatches(tiny)
    finally:
        step -= 1
    assert shifted["origin step"] == shifted["checked"] > 300
