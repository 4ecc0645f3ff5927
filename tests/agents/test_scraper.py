"""Scrapers: crawl filters, confusion figures, aggregator reposts and deduplication (issue 7)."""

import numpy as np
import pytest
from tinyscenario import tiny_scenario

from habsburg.agents.scraper import weighted_sample_without_replacement
from habsburg.ecosystem.sampling import sample_categorical
from habsburg.ecosystem.store import MODEL, REPOST
from habsburg.ecosystem.training import dedup_histories
from habsburg.experiments.run import simulate
from habsburg.scenarios.schema import set_setting


def _reposting(**settings):
    sc = tiny_scenario()
    set_setting(sc, "scrapers.*.repost_share", 0.3)
    set_setting(sc, "scrapers.*.spin_share", 0.5)
    for path, value in settings.items():
        set_setting(sc, path.replace("__", "."), value)
    return sc


@pytest.fixture(scope="module")
def reposted():
    return simulate(_reposting(**{"watermark__adoption": 1.0}))


def test_reposts_inherit_provenance(reposted):
    store = reposted.internet.store
    reposts = np.flatnonzero(store.kind == REPOST)
    assert reposts.size > 100
    orig = store.original[reposts]
    assert (orig >= 0).all() and (store.original[orig] < 0).all()  # points to the original
    np.testing.assert_array_equal(store.synthetic_fraction[reposts], store.synthetic_fraction[orig])
    np.testing.assert_array_equal(store.model[reposts], store.model[orig])
    for a, b in ((store.concept_rows, store.concept_rows),):
        np.testing.assert_array_equal(a(reposts)[1], b(orig)[1])
    _, rc = store.claim_rows(reposts)
    _, oc = store.claim_rows(orig)
    np.testing.assert_array_equal(store.claim_errors[rc], store.claim_errors[oc])
    np.testing.assert_array_equal(store.claim_facts[rc], store.claim_facts[oc])
    # error documents count reposts: cascades see the copies (each document once per error)
    errors = reposted.tables()["errors"]
    wrong = np.flatnonzero(store.claim_errors >= 0)
    owner = store.claim_owners(wrong)
    pairs = np.unique(np.stack([owner, store.claim_errors[wrong]]), axis=1)
    carried = np.bincount(pairs[1], minlength=len(errors))
    np.testing.assert_array_equal(errors["documents"].to_numpy(), carried)


def test_spinning_lowers_z_scores_like_paraphrasing(reposted):
    store, wm = reposted.internet.store, reposted.watermark
    reposts = np.flatnonzero(store.kind == REPOST)
    orig = store.original[reposts]
    marked = store.kind[orig] == MODEL
    spun = store.paraphrase[reposts] > store.paraphrase[orig]
    z_rep = wm.z_scores(store.green[reposts], store.tokens[reposts])
    z_org = wm.z_scores(store.green[orig], store.tokens[orig])
    assert (marked & spun).sum() > 20 and (marked & ~spun).sum() > 20
    drop_spun = (z_org - z_rep)[marked & spun].mean()
    drop_plain = (z_org - z_rep)[marked & ~spun].mean()
    assert drop_plain == 0  # an unspun copy keeps its watermark evidence exactly
    # spin rate 0.2 in spans of mean length 4 keeps 1 − 0.2·(1 + 1/4) = 0.75 of the evidence
    ratio = z_rep[marked & spun].mean() / z_org[marked & spun].mean()
    assert drop_spun > 1 and 0.6 < ratio < 0.9


def test_spinning_a_paraphrased_document_stores_the_combined_fraction(reposted):
    """A repost chain of k spins at rate 0.2 over a document paraphrased at p stores
    1 − (1 − p)(1 − 0.2)^k (issue 12: it used to store the spin rate alone)."""
    store = reposted.internet.store
    reposts = np.flatnonzero(store.kind == REPOST)
    p0 = store.paraphrase[store.original[reposts]].astype(float)
    stored = store.paraphrase[reposts].astype(float)
    k = np.log((1 - stored) / (1 - p0)) / np.log(0.8)
    np.testing.assert_allclose(k, np.rint(k), atol=1e-4)  # float32 column
    assert ((p0 > 0) & (np.rint(k) >= 1)).sum() > 5  # paraphrased farm text spun again


def test_dedup_keeps_one_copy_per_original_in_training_sets(reposted):
    for agent in reposted.models:
        data = agent.training_set()
        roots = reposted.internet.store.root(data.doc_ids)
        assert data.doc_ids.size > 0 and np.unique(roots).size == roots.size
    crawls = reposted.tables()["crawls"]
    assert crawls["dedup_removed"].sum() > 0


def test_without_dedup_training_sets_hold_copies():
    m = simulate(_reposting(**{"scrapers.*.filters.dedup": False, "models.*.data.dedup": False}))
    data = m.models[0].training_set()
    roots = m.internet.store.root(data.doc_ids)
    assert np.unique(roots).size < roots.size
    assert m.tables()["crawls"]["dedup_removed"].sum() == 0


def test_dedup_false_positives_are_counted():
    def wrongly_dropped(rate: float) -> int:
        sc = _reposting(**{"scrapers.*.filters.dedup_false_positive_rate": rate})
        return int(simulate(sc, steps=30).tables()["crawls"]["dedup_wrongly_dropped"].sum())

    assert wrongly_dropped(0.0) == 0
    assert wrongly_dropped(0.2) > 10 * max(1, wrongly_dropped(0.01))


def test_turning_aggregator_sites_off_removes_all_reposts():
    m = simulate(_reposting(**{"scrapers.*.aggregator_sites": 0}))
    assert not (m.internet.store.kind == REPOST).any()
    assert (m.datacollector.get_model_vars_dataframe()["duplicate_share_web"] == 0).all()


def test_heavy_duplication_without_dedup_grows_error_cascades():
    def cascades(dedup: bool, seed: int) -> tuple[float, float, float]:
        sc = tiny_scenario(world={"facts": 400})
        set_setting(sc, "scrapers.*.repost_share", 0.8)
        set_setting(sc, "scrapers.*.error_virality", 3.0)
        set_setting(sc, "models.*.hallucination_rate", 0.1)
        set_setting(sc, "scrapers.*.filters.dedup", dedup)
        set_setting(sc, "models.*.data.dedup", dedup)
        m = simulate(sc, seed=seed)
        last = m.datacollector.get_model_vars_dataframe().iloc[-1]
        lift = m.tables()["lineage"]["duplication_error_lift"].mean()
        return last["active_wrong_beliefs"], len(m.errors.adoptions_array()), lift

    with_dedup = np.array([cascades(True, s) for s in (1, 2, 3, 4)]).mean(axis=0)
    without = np.array([cascades(False, s) for s in (1, 2, 3, 4)]).mean(axis=0)
    assert without[0] > with_dedup[0]  # wrong beliefs held at the end
    assert without[1] > with_dedup[1]  # adoptions of errors (summed cascade sizes)
    assert without[2] > with_dedup[2] > 0  # duplication raised the weight of wrong facts


def _reference_sample_recent(scraper, visits, t):
    """The crawl sample as first written: one site index per month, cells over every site,
    ``sample_categorical`` and ``np.unique`` (the optimised crawl must draw the same)."""
    c, m = scraper.config, scraper.model
    rng, store, n_sites = m.rng, m.internet.store, m.internet.n_sites
    ages = np.arange(min(c.window_months, t + 1))
    index = [store.site_index(t - a, n_sites) for a in ages]
    counts = np.stack([np.diff(starts) for _, starts in index])
    visited = visits > 0
    n_candidates = int(counts[:, visited].sum())
    k = min(c.docs_per_crawl, n_candidates)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    doc_weight = np.exp(-ages / c.recency_months)[:, None] * visits[None, :]
    if k > n_candidates // 2:
        rows = np.concatenate([index[a][0][np.repeat(visited, counts[a])] for a in ages])
        weights = np.concatenate(
            [np.repeat(doc_weight[a], counts[a])[np.repeat(visited, counts[a])] for a in ages]
        )
        return np.sort(rows[weighted_sample_without_replacement(weights, k, rng)])
    cell_weight = (doc_weight * counts).ravel()
    chosen = np.zeros(0, dtype=np.int64)
    while chosen.size < k:
        need = int(1.2 * (k - chosen.size)) + 16
        cells = sample_categorical(cell_weight, need, rng)
        age, site = np.divmod(cells, n_sites)
        within = (rng.random(need) * counts[age, site]).astype(np.int64)
        picks = zip(age, site, within, strict=True)
        docs = np.array([index[a][0][index[a][1][s] + w] for a, s, w in picks])
        chosen = np.unique(np.concatenate([chosen, docs]))
    if chosen.size > k:
        chosen = np.sort(rng.choice(chosen, size=k, replace=False))
    return chosen


@pytest.fixture(scope="module")
def crawled():
    return simulate(tiny_scenario(), steps=20)


@pytest.mark.parametrize(
    ("docs", "window", "recency"), [(500, 24, 6.0), (3000, 24, 6.0), (200, 3, 1.0), (800, 7, 30.0)]
)
def test_sample_recent_draws_what_the_per_month_reference_draws(crawled, docs, window, recency):
    """Same documents and the same random stream afterwards, on the cell path and the exact one."""
    m, t = crawled, crawled.month
    for scraper in m.scrapers:
        c = scraper.config
        c.docs_per_crawl, c.window_months, c.recency_months = docs, window, recency
        for seed in range(3):
            visits = m.internet.random_walks(40, 10, np.random.default_rng(seed))
            state = m.rng.bit_generator.state
            got = scraper.sample_recent(visits, t)
            after = m.rng.bit_generator.state
            m.rng.bit_generator.state = state
            want = _reference_sample_recent(scraper, visits, t)
            assert got.size > 0
            np.testing.assert_array_equal(got, want)
            assert after == m.rng.bit_generator.state


def test_recent_cells_follow_the_current_month_as_it_grows(crawled):
    m, t = crawled, crawled.month
    store, n_sites = m.internet.store, m.internet.n_sites
    every_site = np.arange(n_sites)

    def check(months, sites=every_site):
        rows, offsets, counts = m.internet.recent_cells(t, months, sites)
        assert counts.shape == (months, sites.size)
        for a in range(months):
            site_rows, starts = store.site_index(t - a, n_sites)
            np.testing.assert_array_equal(counts[a], np.diff(starts)[sites])
            for i, s in enumerate(sites):
                cell = rows[offsets[a, i] : offsets[a, i] + counts[a, i]]
                np.testing.assert_array_equal(cell, site_rows[starts[s] : starts[s + 1]])
        return int(counts[0].sum())

    before = check(5)
    scraper = m.scrapers[0]
    scraper.config.repost_share = 0.5
    scraper.repost(np.arange(store.step_slice(t - 1, t - 1).start, len(store)))  # into month t
    grown = len(store) - store.step_slice(t, t).start
    assert grown > before
    assert check(5) == grown and check(12) == grown
    check(7, np.array([0, 3, n_sites - 1]))


def test_the_window_buffer_holds_the_past_months_once_also_after_growing(crawled):
    m, t = crawled, crawled.month
    store, n_sites = m.internet.store, m.internet.n_sites
    sites = np.arange(n_sites)
    want = m.internet.recent_cells(t, 4, sites)[0].copy()
    past = m.internet._recent[t]
    past.grow(store, 2 * past.buffer.size, past.buffer.dtype)  # (as a month's reposts may)
    for a in range(1, 4):
        rows, starts = store.site_index(t - a, n_sites)
        assert rows.base is past.buffer and rows.size == starts[-1]
    np.testing.assert_array_equal(m.internet.recent_cells(t, 4, sites)[0], want)


def test_classifier_follows_its_settings():
    m = simulate(tiny_scenario(), steps=1)
    scraper = m.scrapers[1]
    first = scraper.classifier()
    assert scraper.classifier() is first  # built once while the settings stay
    scraper.config.filters.classifier_model.recall = 0.9
    assert scraper.classifier().recall == 0.9
    scraper.config.filters.classifier_tpr = 0.8
    assert scraper.classifier().recall == pytest.approx(0.8)


def _reference_walks(net, n_visits, walk_length, rng):
    """Random walks one step at a time, drawing each step's uniforms when the step is taken."""
    n_walkers = max(1, -(-n_visits // walk_length))
    cdf, last = np.cumsum(net.pagerank), net.n_sites - 1
    pos = np.minimum(np.searchsorted(cdf, rng.random(n_walkers) * cdf[-1]), last)
    visits, done, deg = np.zeros(net.n_sites, dtype=np.int64), 0, np.diff(net.indptr)
    for _ in range(walk_length):
        take = pos[: max(0, min(n_walkers, n_visits - done))]
        np.add.at(visits, take, 1)
        done += take.size
        if done >= n_visits:
            break
        d = deg[pos]
        hop = net.indptr[pos] + (rng.random(n_walkers) * np.maximum(d, 1)).astype(np.int64)
        restart = np.minimum(np.searchsorted(cdf, rng.random(n_walkers) * cdf[-1]), last)
        pos = np.where(d > 0, net.indices[np.minimum(hop, len(net.indices) - 1)], restart)
    return visits


@pytest.mark.parametrize(("n_visits", "walk_length"), [(40, 10), (7, 3), (1, 1), (5, 50), (0, 4)])
def test_random_walks_draw_like_a_step_by_step_walk(crawled, n_visits, walk_length):
    net = crawled.internet
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    visits = net.random_walks(n_visits, walk_length, a)
    np.testing.assert_array_equal(visits, _reference_walks(net, n_visits, walk_length, b))
    assert visits.sum() == n_visits and a.random() == b.random()


def test_dedup_memory_and_crawls_are_packed_and_old_checkpoints_load(reposted):
    import pickle

    from habsburg.ecosystem.bitset import BitSet

    store = reposted.internet.store
    scraper = next(iter(reposted.scrapers))
    seen = scraper.seen_root
    assert isinstance(seen, BitSet) and len(seen) > 0
    assert seen.nbytes <= len(store) // 4 + 1024  # a bit per row (doubling: up to 2 bits)
    # crawls give their ids back in 32 bits while rows fit them, and are kept as 16-bit gaps
    assert all(c.dtype == np.int32 for c in scraper.crawls)
    kept = sum(len(c) for c in scraper.crawls)
    assert kept > 1000 and sum(c.nbytes for c in scraper.crawls) <= 2 * kept
    # a checkpoint from before the packing held the dedup memory as booleans, crawls as arrays
    old = pickle.loads(pickle.dumps(scraper))
    old.__dict__["seen_root"] = seen.to_bools()
    old.__dict__["crawls"] = [c.ids() for c in scraper.crawls]
    del old.__dict__["first_copies"]  # ... and kept no first copies (rebuilt on demand)
    loaded = pickle.loads(pickle.dumps(old))
    assert isinstance(loaded.seen_root, BitSet)
    np.testing.assert_array_equal(loaded.seen_root.to_bools(), seen.to_bools())
    np.testing.assert_array_equal(loaded.datasets_since(0), scraper.datasets_since(0))
    assert loaded.datasets_since(0).dtype == np.int32
    assert len(loaded.first_copies) == 0
    rebuilt, own = (dedup_histories(store, [s.history()], np.int32) for s in (loaded, scraper))
    assert len(loaded.first_copies) == len(scraper.crawls) and rebuilt.tolist() == own.tolist()


def test_a_document_is_a_copy_exactly_when_its_root_is_another():
    """The filter counts copies as documents whose root is not themselves (no second lookup of
    the reposts): a repost's root is the earlier original it copies, never itself."""
    m = simulate(_reposting(), steps=20)
    store = m.internet.store
    ids = np.arange(len(store))
    is_copy = store.originals_of(ids) >= 0
    assert 0 < is_copy.sum() < ids.size
    assert ((store.root(ids) != ids) == is_copy).all()
    assert (store.root(ids)[is_copy] < ids[is_copy]).all()
