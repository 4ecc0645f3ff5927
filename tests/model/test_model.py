"""End-to-end behaviour of the Mesa model on the tiny scenario, and one test per mechanism that
fails if the mechanism is removed."""

import contextlib
import importlib

import numpy as np
import pandas as pd
import pytest
from tinyscenario import tiny_scenario

from habsburg.agents.generative import GenerativeModel
from habsburg.agents.human import HumanPopulation
from habsburg.agents.scraper import Scraper
from habsburg.ecosystem.internet import FARM_SITE, HUMAN_SITE
from habsburg.ecosystem.store import FARM, HUMAN, HYBRID, MODEL, REPOST
from habsburg.experiments.run import simulate
from habsburg.model.model import EcosystemModel
from habsburg.scenarios.schema import set_setting


@pytest.fixture(scope="module")
def run():
    return simulate(tiny_scenario())


def test_tiny_run_end_to_end(run):
    sc = run.config
    assert run.steps == sc.steps == 48 and not run.running
    store = run.internet.store
    kinds = set(np.unique(store.kind))
    assert {0, HYBRID, MODEL, FARM, REPOST} <= kinds
    humans = list(run.agents_by_type[HumanPopulation])
    assert len(humans) == 1 and humans[0].n == sc.humans.authors
    assert all(a.generation >= 1 for a in run.models)
    mm = run.datacollector.get_model_vars_dataframe()
    assert len(mm) == 48
    pre = mm.iloc[: sc.launch_step]
    assert (pre["synthetic_share_new"] == 0).all()
    assert mm["synthetic_share_new"].iloc[-1] > 0.3
    assert mm["synthetic_share_stock"].is_monotonic_increasing
    tables = run.tables()
    models = tables["models"]
    assert set(models["name"]) == {"a", "b", "c"} and models["step"].max() == 47
    lineage = tables["lineage"]
    assert list(lineage.groupby("model")["generation"].max().sort_index()) == [
        a.generation for a in sorted(run.models, key=lambda a: a.name)
    ]
    assert (tables["errors"]["step"] <= 47).all()


def test_same_seed_reproduces_a_run_and_another_seed_does_not(run):
    again = simulate(tiny_scenario())
    other = simulate(tiny_scenario(), seed=8)
    a, b, c = (m.tables() for m in (run, again, other))
    for name in ("model_metrics", "models", "lineage", "errors", "documents", "crawls"):
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["documents"].equals(c["documents"])
    assert not np.allclose(
        a["model_metrics"]["synthetic_share_new"], c["model_metrics"]["synthetic_share_new"]
    )


def test_site_graph_is_seeded_and_farms_gain_pagerank_from_link_spam():
    spam = simulate(tiny_scenario(), steps=1)
    quiet_sc = tiny_scenario()
    set_setting(quiet_sc, "farms.farm.link_spam", 0)
    quiet = simulate(quiet_sc, steps=1)
    farm = spam.internet.site_kind == FARM_SITE
    assert spam.internet.pagerank[farm].sum() > 2 * quiet.internet.pagerank[farm].sum()
    again = simulate(tiny_scenario(), steps=1)
    assert sorted(again.internet.graph.edges()) == sorted(spam.internet.graph.edges())
    assert (spam.internet.site_kind[: spam.config.web.sites] == HUMAN_SITE).all()


def test_the_site_space_is_the_site_graph_without_a_layout():
    # Mesa >= 3.5 lays a Network out (nx.spring_layout, O(sites²) an iteration: 70 s of building
    # scaled(baseline, 10)) unless given layout=None; nothing reads those positions.
    model = EcosystemModel(tiny_scenario())
    cells = list(model.space.all_cells)
    assert len(cells) == model.internet.n_sites
    assert all(getattr(c, "_position", None) is None for c in cells)
    assert getattr(model.space, "_kdtree", None) is None
    site = int(model.human_sites[0])
    linked = {c.coordinate for c in model.space[site].neighborhood}
    assert linked == set(model.space.G.neighbors(site)) - {site}


def test_watermark_filter_lowers_the_synthetic_share_of_training_data():
    def training_synthetic(detector: bool) -> float:
        sc = tiny_scenario()
        set_setting(sc, "watermark.adoption", 1.0)
        set_setting(sc, "scrapers.*.filters.watermark_detector", detector)
        set_setting(sc, "scrapers.*.filters.classifier", False)
        m = simulate(sc)
        lineage = m.tables()["lineage"]
        return lineage[lineage.step > 24]["synthetic_share"].mean()

    with_filter, without = training_synthetic(True), training_synthetic(False)
    assert with_filter < without - 0.1


def test_accumulate_keeps_capability_better_than_replace():
    def final_capability(mode: str, seed: int) -> float:
        sc = tiny_scenario()
        set_setting(sc, "models.*.data.mode", mode)
        set_setting(sc, "models.*.retrain_interval", 3)
        m = simulate(sc, seed=seed)
        return float(np.mean([a.quality("capability") for a in m.models]))

    diffs = [final_capability("replace", s) - final_capability("accumulate", s) for s in (1, 2)]
    assert min(diffs) > 0  # lower cross-entropy to p_H is better


def test_hallucinations_of_one_model_become_beliefs_of_another():
    sc = tiny_scenario()
    set_setting(sc, "models.a.hallucination_rate", 0.6)
    set_setting(sc, "models.a.unseen_hallucination_rate", 1.0)
    for name in ("b", "c"):
        set_setting(sc, f"models.{name}.hallucination_rate", 0.0)
        set_setting(sc, f"models.{name}.unseen_hallucination_rate", 0.0)
    set_setting(sc, "humans.error_rate", 0.0)
    set_setting(sc, "labs.north.watermarks", False)  # a's text reaches the training sets
    m = simulate(sc)
    t = m.tables()
    errors, adoptions = t["errors"], t["adoptions"]
    others = adoptions[adoptions.model_name != "a"].merge(errors, on="error_id")
    assert len(others) > 0
    # b and c never hallucinate and humans never err: all they wrongly believe came from a
    assert set(others["origin_model_name"]) == {"a"}
    assert (others["cross_model"] == 1).all()
    assert m.datacollector.get_model_vars_dataframe()["cross_model_adoptions"].iloc[-1] > 0


def test_interventions_change_settings_at_their_month():
    sc = tiny_scenario(
        interventions=[
            {"at": "2022-06", "set": {"watermark.adoption": 1.0}},
            {"at_step": 40, "set": {"models.*.temperature": 0.5}},
        ]
    )
    m = simulate(sc)
    assert m.config.watermark.adoption == 1.0
    assert all(a.learners and a.learners.concepts.temperature == 0.5 for a in m.models)
    applied = m.tables()["interventions"]
    assert list(applied["step"]) == [29, 40]
    store = m.internet.store
    model_b = (store.kind == MODEL) & (store.model == 1)  # lab "south" does not watermark
    z = m.watermark.z_scores(store.green, store.tokens)
    before = model_b & (store.step < 29)
    after = model_b & (store.step >= 29)
    assert np.median(z[before]) < 2 < np.median(z[after])


def test_an_intervention_multiplies_a_setting_as_it_stands_that_month():
    """``times`` multiplies the value the month finds (a posterior draw's, a scaled run's), each
    item its own; the interventions table records the factor and the value it gave."""
    sc = tiny_scenario(
        interventions=[
            {"at": "2022-01", "times": {"farms.*.output.ceiling": 3, "humans.docs_per_month": 0.5}}
        ]
    )
    sc.farms[0].output.ceiling = 120.0  # (as a draw would set it: the factor follows it)
    m = EcosystemModel(sc)
    while m.month < 23:  # (month: the one the last step ran)
        m.step()
    assert m.config.farms[0].output.ceiling == 120.0 and m.config.humans.docs_per_month == 4.0
    m.step()  # 2022-01
    assert m.config.farms[0].output.ceiling == 360.0 and m.config.humans.docs_per_month == 2.0
    applied = m.tables()["interventions"]
    assert list(applied["step"]) == [24, 24]
    assert list(applied["value"]) == ["times 3: 360.0", "times 0.5: 2.0"]
    many = tiny_scenario(interventions=[{"at_step": 2, "times": {"models.*.temperature": 0.5}}])
    each = EcosystemModel(many)
    for _ in range(3):
        each.step()
    assert list(each.tables()["interventions"]["value"]) == ["times 0.5: [0.5, 0.5, 0.5]"]
    store = m.internet.store
    written = np.isin(store.kind, [HUMAN, HYBRID])  # (by the authors, with an assistant or not)
    by_month = np.bincount(store.step[written], minlength=25)
    assert 0.4 < by_month[24] / by_month[23] < 0.6  # (half as many: Poisson counts of ~600)


def test_watermark_scheme_interventions_take_effect():
    sc = tiny_scenario(interventions=[{"at_step": 30, "set": {"watermark.delta": 0.0}}])
    m = simulate(sc)
    store = m.internet.store
    marked = (store.kind == MODEL) & (store.model == 0)  # lab "north" watermarks
    z = m.watermark.z_scores(store.green, store.tokens)
    assert np.median(z[marked & (store.step < 30)]) > 4
    assert abs(np.median(z[marked & (store.step >= 30)])) < 1  # δ = 0: no green bias any more


def test_agents_are_mesa_agents_and_reporters_per_type(run):
    assert len(run.agents_by_type[GenerativeModel]) == 3
    assert len(run.agents_by_type[Scraper]) == 2
    humans = run.humans
    assert humans.docs_published.sum() > 0
    for scraper in run.agents_by_type[Scraper]:  # scrapers sit on their aggregator in the space
        assert scraper.cell.coordinate == int(scraper.sites[0])
        assert scraper.cell in run.space.all_cells
    scrapers = run.datacollector.get_agenttype_vars_dataframe(Scraper)
    assert {"precision", "recall", "synthetic_before", "synthetic_after"} <= set(scrapers.columns)


def test_market_share_follows_capability(run):
    shares = {a.name: a.market_share for a in run.models}
    assert sum(shares.values()) == pytest.approx(1.0)
    best = min(run.models, key=lambda a: a.quality("capability"))
    worst = max(run.models, key=lambda a: a.quality("capability"))
    assert shares[best.name] >= shares[worst.name]


def test_a_step_runs_blas_on_one_thread_and_restores_the_setting(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    m = EcosystemModel(tiny_scenario(), seed=1)
    inside = []
    market = m.update_market

    def traced_market():
        inside.append(blas_threads())
        return market()

    monkeypatch.setattr(m, "update_market", traced_market)
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        m.step()
        assert blas_threads() == before
    assert inside and all(n == 1 for n in inside[0])
    assert before and all(n == 2 for n in before)


def test_the_log_keeps_concept_distributions_as_arrays_and_old_logs_export_alike(run):
    """Each generation's concept distribution is logged as its probabilities (no DataFrame per
    generation); the table is built at the export, the same as from a log of DataFrames (as a
    checkpoint from before holds)."""
    log = run.events
    assert len(log.concept_distributions) == sum(a.generation + 1 for a in run.models) > 3
    name, generation, step, q = log.concept_distributions[-1]
    assert isinstance(q, np.ndarray) and q.size == run.world.config.concepts
    # a copy, not the learner's own array
    model = next(a for a in run.models if a.name == name)
    assert generation == model.generation and q is not model.learners.concepts.sampling_probs
    new = run.tables()["concept_distributions"]
    old_entries = [log.concept_distribution_frame(e) for e in log.concept_distributions]
    saved = log.concept_distributions
    try:
        log.concept_distributions = old_entries
        old = run.tables()["concept_distributions"]
    finally:
        log.concept_distributions = saved
    pd.testing.assert_frame_equal(new, old)
    last = new[(new["model"] == name) & (new["generation"] == generation)]
    assert last["probability"].to_numpy().tolist() == q.tolist() and (last["step"] == step).all()


def test_errors_nobody_published_have_no_documents_in_the_tables():
    """A wrong belief a model makes up itself is registered but carried by no document; the
    per-error document counts grow only as documents are published, so errors registered after
    the last published one made the ``errors`` table's export fail (a length mismatch) and the
    viz's cascade index past the end. Every error now has a count: 0 for those."""
    from habsburg.model.export import error_tables
    from habsburg.viz.snapshot import largest_cascade

    model = simulate(tiny_scenario(), steps=30)
    published = len(model.errors)
    F, V = model.world.config.facts, model.world.config.values_per_fact
    facts = np.repeat(np.arange(F), V - 1)  # every wrong value of every fact
    wrong = (model.world.true_values[facts] + np.tile(np.arange(1, V), F)) % V
    ids = model.errors.register(facts, wrong, MODEL, 0, 0, model.month)
    new = ids[ids >= published]
    assert new.size and new.max() >= model.error_documents.size  # the case of the bug
    model.errors.record_adoptions(new[-1:], model=0, generation=9, step=model.month)
    errors = error_tables(model)["errors"]
    assert len(errors) == len(model.errors)
    assert (errors["documents"].to_numpy()[new] == 0).all()
    before = errors["documents"].to_numpy()[: model.error_documents.size]
    assert (before == model.error_documents[: before.size]).all()
    assert largest_cascade(model) is not None


MULTIARRAY = importlib.import_module("numpy._core.multiarray")


def _huge_pages() -> bool:
    return bool(MULTIARRAY._get_madvise_hugepage())


def test_small_pages_turns_numpys_huge_pages_off_and_restores_them():
    from habsburg.model.model import small_pages

    switch = MULTIARRAY._set_madvise_hugepage
    original = _huge_pages()
    try:
        for before in (True, False):
            switch(before)
            with small_pages():
                assert not _huge_pages()
            assert _huge_pages() is before
            with small_pages(False):  # told not to: numpy's setting as it was
                assert _huge_pages() is before
            with pytest.raises(RuntimeError), small_pages():  # restored after an error too
                raise RuntimeError
            assert _huge_pages() is before
    finally:
        switch(original)


def test_a_month_with_the_store_on_disk_runs_on_small_pages_and_in_memory_does_not(
    tmp_path, monkeypatch
):
    seen = []
    step = EcosystemModel._step

    def recorded(self):
        seen.append(_huge_pages())
        step(self)

    monkeypatch.setattr(EcosystemModel, "_step", recorded)
    original = MULTIARRAY._set_madvise_hugepage(True)  # numpy's default on Linux
    try:
        EcosystemModel(tiny_scenario()).step()
        EcosystemModel(tiny_scenario(), store_dir=tmp_path).step()
        assert _huge_pages()  # restored after the month
    finally:
        MULTIARRAY._set_madvise_hugepage(original)
    assert seen == [True, False]


@pytest.mark.parametrize("on_disk", [True, False])
def test_run_model_steps_to_the_end_keeping_freed_memory_only_with_the_store_on_disk(
    run, tmp_path, monkeypatch, on_disk
):
    from habsburg.model import model as model_module

    spans: list[tuple[bool, int]] = []
    months: list[int] = []

    @contextlib.contextmanager
    def recording(keep=True):
        spans.append((keep, len(months)))
        yield keep
        spans.append((keep, len(months)))

    step = EcosystemModel._step

    def counted(self):
        months.append(self.month)
        step(self)

    monkeypatch.setattr(model_module, "keep_freed_memory", recording)
    monkeypatch.setattr(EcosystemModel, "_step", counted)
    model = EcosystemModel(tiny_scenario(), store_dir=tmp_path if on_disk else None)
    model.run_model()
    # Mesa's loop to the scenario's last month, all of it inside the one context
    assert model.steps == 48 and not model.running and months == list(range(48))
    assert spans == [(on_disk, 0), (on_disk, 48)]
    # the same run as simulate's, in memory or on disk
    for name in ("model_metrics", "models", "documents"):
        pd.testing.assert_frame_equal(model.tables()[name], run.tables()[name])
