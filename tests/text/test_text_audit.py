"""Audit of text mode against independent references.

Each mechanism is recomputed here without the code under test: Kneser-Ney from dictionaries of
n-gram counts (Chen & Goodman 1999), green lists from the documented splitmix64 rule in Python
integers, z-scores by counting (Kirchenbauer et al. 2023), ROC curves by brute-force thresholds and
the Mann-Whitney U (scipy), and the loop's tables from the documents it stored. Where a test
checks a formula it also shows that a deliberately wrong variant of the formula is rejected, so
the test has the power to see a mistake.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from habsburg.ecosystem.text.classifier import PerplexityClassifier, auc, roc_curve
from habsburg.ecosystem.text.corpus import BOS, EOS, Vocabulary
from habsburg.ecosystem.text.metrics import distinct_ngrams, ngram_share, vocabulary_share
from habsburg.ecosystem.text.ngram import NgramLearner, flatten
from habsburg.ecosystem.text.views import fact_claims
from habsburg.ecosystem.text.watermark import TokenWatermark, paraphrase
from habsburg.experiments.text_outcomes import text_run_outcomes
from habsburg.experiments.text_run import run_text_scenario
from habsburg.reports.text_report import markdown_table, write_text_report
from habsburg.scenarios.text_schema import text_scenario_from_dict

# ----------------------------------------------------------------------------- references


def kn_reference(docs, V, order, discount=None, continuation=True):
    """Interpolated Kneser-Ney by dictionaries: ``p(context_tuple, word)``. Lower orders use
    continuation counts N1+(·h w) (``continuation=False``: raw counts, a wrong variant); Ney's
    discount n1/(n1 + 2 n2) per order, clipped to [0.05, 0.95] as documented in ngram.py."""
    grams: Counter[tuple[int, ...]] = Counter()
    raw: dict[int, Counter[tuple[int, ...]]] = {k: Counter() for k in range(1, order + 1)}
    for d in docs:
        pad = [BOS] * (order - 1) + [int(x) for x in d]
        for i in range(order - 1, len(pad)):
            grams[tuple(pad[i - order + 1 : i + 1])] += 1
            for k in range(1, order + 1):
                raw[k][tuple(pad[i - k + 1 : i + 1])] += 1
    counts = {order: grams}
    for k in range(order - 1, 0, -1):
        if continuation:
            cont = Counter(g[1:] for g in counts[k + 1])
        else:
            cont = raw[k]
        counts[k] = cont

    def ney(values):
        v = np.array(list(values))
        n1, n2 = (v == 1).sum(), (v == 2).sum()
        return 0.5 if n1 == 0 else float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95))

    D = {k: discount if discount is not None else ney(counts[k].values()) for k in counts}
    tot: defaultdict[tuple[int, tuple[int, ...]], float] = defaultdict(float)
    typ: defaultdict[tuple[int, tuple[int, ...]], float] = defaultdict(float)
    for k in counts:
        for g, c in counts[k].items():
            tot[k, g[:-1]] += c
            typ[k, g[:-1]] += 1
    tot1, typ1 = tot[1, ()], typ[1, ()]

    def p(ctx, w):
        pr = max(counts[1].get((w,), 0) - D[1], 0) / tot1 + D[1] * typ1 / tot1 / V
        for k in range(2, order + 1):
            h = tuple(ctx[len(ctx) - (k - 1) :])
            if (k, h) in tot:
                c = counts[k].get((*h, w), 0)
                pr = max(c - D[k], 0) / tot[k, h] + D[k] * typ[k, h] / tot[k, h] * pr
        return pr

    return p


def padded_windows(docs, order):
    """(context tuple, word) of every token, ``<s>`` before each document's start."""
    for d in docs:
        pad = [BOS] * (order - 1) + [int(x) for x in d]
        for i in range(order - 1, len(pad)):
            yield tuple(pad[i - order + 1 : i]), pad[i]


def ngram_set(docs, order):
    return {(*ctx, w) for ctx, w in padded_windows(docs, order)}


_M = (1 << 64) - 1


def splitmix(x):
    x = (x + 0x9E3779B97F4A7C15) & _M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M
    return x ^ (x >> 31)


def green_reference(V, key, gamma):
    """The documented rule in Python integers: h = sm(sm(key) ^ prev·0x9E37); a = the
    (h mod #units)-th unit mod V, b = sm(h) mod V; w is green iff (a·w + b) mod V < ⌊γV⌋."""
    units = [a for a in range(1, V) if math.gcd(a, V) == 1]
    n_green = math.floor(gamma * V)
    cache = {}

    def green(prev, w):
        if prev not in cache:
            h = splitmix(splitmix(key) ^ ((prev * 0x9E37) & _M))
            cache[prev] = (units[h % len(units)], splitmix(h) % V)
        a, b = cache[prev]
        return (a * w + b) % V < n_green

    return green


def z_by_counting(doc, V, key, gamma, dedup=True):
    """Kirchenbauer et al. 2023: z = (g − γT)/√(Tγ(1−γ)) with γ the exact share ⌊γV⌋/V, over
    the distinct (previous, token) pairs of the document (all pairs without ``dedup``)."""
    green = green_reference(V, key, gamma)
    prev = [BOS] + [int(x) for x in doc[:-1]]
    pairs = list(zip(prev, [int(x) for x in doc], strict=True))
    if dedup:
        pairs = list(dict.fromkeys(pairs))
    T = len(pairs)
    g = sum(green(a, b) for a, b in pairs)
    gam = math.floor(gamma * V) / V
    return (g - gam * T) / math.sqrt(T * gam * (1 - gam))


def decoded_reference(p_row, green_row, temperature, top_p, delta):
    """The documented decoding in plain numpy: p^(1/τ), green ×e^δ, no <s>/</s>, renormalise,
    then the smallest nucleus whose mass reaches top_p."""
    q = p_row ** (1.0 / temperature) * np.where(green_row, math.exp(delta), 1.0)
    q[[BOS, EOS]] = 0.0
    q /= q.sum()
    if top_p < 1.0:
        order = np.argsort(-q, kind="stable")
        k = int(np.searchsorted(np.cumsum(q[order]), top_p - 1e-6)) + 1
        keep = np.zeros(q.size, bool)
        keep[order[:k]] = True
        keep |= q >= q[order[k - 1]]  # ties at the edge of the nucleus are kept together
        q = np.where(keep, q, 0.0)
        q /= q.sum()
    return q


# ----------------------------------------------------------------------------- n-gram learner


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kneser_ney_matches_a_dictionary_reference(small_corpus, order):
    V = len(small_corpus.vocab)
    docs = small_corpus.train_documents()
    model = NgramLearner(V, order=order).fit(docs)
    ref = kn_reference(docs, V, order)
    held = list(padded_windows(small_corpus.heldout_documents(), order))[:150]
    rng = np.random.default_rng(0)
    ctxs = [c for c, _ in held] + [tuple(rng.integers(0, V, order - 1)) for _ in range(10)]
    dense = model.next_token_probs(np.array(ctxs, dtype=np.int64).reshape(len(ctxs), -1))
    expected = np.array([[ref(c, w) for w in range(V)] for c in ctxs])
    np.testing.assert_allclose(dense, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, atol=1e-12)
    # the perplexity of held-out text is exp of the mean negative log-probability of its tokens
    lp = [math.log(ref(c, w)) for c, w in padded_windows(small_corpus.heldout_documents(), order)]
    assert model.perplexity(small_corpus.heldout_documents()) == pytest.approx(
        math.exp(-np.mean(lp)), rel=1e-12
    )
    if order >= 3:  # raw counts at the lower orders (plain interpolated absolute discounting)
        wrong = kn_reference(docs, V, order, continuation=False)
        bad = np.array([[wrong(c, w) for w in range(V)] for c in ctxs[:40]])
        assert np.abs(dense[:40] - bad).max() > 1e-3


def test_sampled_tokens_follow_the_decoded_distribution(small_corpus):
    """Every sampled token, given its own context, against the documented decoding computed
    by hand (order 3, temperature 0.8, top-p 0.9, δ = 2 watermark): a randomised probability
    integral transform is uniform exactly when the sampler draws from that distribution."""
    V = len(small_corpus.vocab)
    docs = small_corpus.train_documents()
    tau, top_p, delta, key = 0.8, 0.9, 2.0, 1234
    model = NgramLearner(V, order=3, temperature=tau, top_p=top_p).fit(docs)
    wm = TokenWatermark(V, key=key, gamma=0.25, delta=delta)
    sample = model.sample(300, 12, np.random.default_rng(5), watermark=wm)
    ref = kn_reference(docs, V, 3)
    green = green_reference(V, key, 0.25)
    probs, ok_tokens = {}, []
    for ctx, w in padded_windows(list(sample), 3):
        if ctx not in probs:
            p = np.array([ref(ctx, x) for x in range(V)])
            g = np.array([green(ctx[-1], x) for x in range(V)])
            probs[ctx] = (p, g)
        ok_tokens.append((ctx, w))
    u = np.random.default_rng(6).random(len(ok_tokens))

    def pit(t, d, top):
        out = np.empty(len(ok_tokens))
        for i, (ctx, w) in enumerate(ok_tokens):
            q = decoded_reference(*probs[ctx], t, top, d)
            out[i] = q[:w].sum() + u[i] * q[w]
        return out

    assert stats.kstest(pit(tau, delta, top_p), "uniform").pvalue > 1e-3
    # wrong variants: no watermark bias, or no temperature
    assert stats.kstest(pit(tau, 0.0, top_p), "uniform").pvalue < 1e-6
    assert stats.kstest(pit(1.0, delta, top_p), "uniform").pvalue < 1e-6
    # the first token (one shared context) by a chi-square test of its exact probabilities
    # (without top-p, whose nucleus after <s> <s> is a single word)
    free = NgramLearner(V, order=3, temperature=tau).fit(docs)
    first = free.sample(3000, 1, np.random.default_rng(7), watermark=wm)[:, 0]
    seen = np.bincount(first, minlength=V)

    def chi2_pvalue(q):
        assert seen[q == 0].sum() == 0
        expected = first.size * q
        big = expected >= 5  # pool the small cells
        obs = np.r_[seen[big], seen[~big].sum()]
        exp = np.r_[expected[big], expected[~big].sum()]
        return stats.chisquare(obs[exp > 0], exp[exp > 0]).pvalue

    assert chi2_pvalue(decoded_reference(*probs[BOS, BOS], tau, 1.0, delta)) > 1e-3
    assert chi2_pvalue(decoded_reference(*probs[BOS, BOS], 1.0, 1.0, delta)) < 1e-6


# ----------------------------------------------------------------------------- watermark


@pytest.mark.parametrize(("V", "key", "gamma"), [(70, 42, 0.25), (101, 2**61 + 7, 0.3)])
def test_green_lists_follow_the_documented_hash_rule(V, key, gamma):
    wm = TokenWatermark(V, key=key, gamma=gamma)
    ref = green_reference(V, key, gamma)
    expected = np.array([[ref(p, w) for w in range(V)] for p in range(V)])
    assert (wm.green_rows(np.arange(V)) == expected).all()
    prev, tok = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
    assert (wm.green(prev.ravel(), tok.ravel()).reshape(V, V) == expected).all()
    # a per-document key (the detector's path) follows the same rule
    other = green_reference(V, key + 1, gamma)
    got = wm.green(np.array([3, 3]), np.array([5, 5]), np.array([key, key + 1]))
    assert got.tolist() == [ref(3, 5), other(3, 5)]


def test_z_scores_match_counting(small_corpus):
    V = len(small_corpus.vocab)
    docs = small_corpus.documents()[:40]
    tokens, offsets = flatten(docs)
    wm = TokenWatermark(V, key=99, gamma=0.25)
    for dedup in (True, False):
        got = wm.detect(tokens, offsets, ignore_repeated=dedup)["z"]
        expected = [z_by_counting(d, V, 99, 0.25, dedup) for d in docs]
        np.testing.assert_allclose(got, expected, atol=1e-12)
    keys = np.arange(40) * 31 + 5
    got = wm.detect(tokens, offsets, key=keys)["z"]
    np.testing.assert_allclose(
        got, [z_by_counting(d, V, int(k), 0.25) for d, k in zip(docs, keys, strict=True)]
    )


def test_mean_z_of_watermarked_text_is_its_expected_green_count(small_corpus):
    """E[g] is the sum over positions of the decoded green probability given the context
    (a martingale identity), so mean z = mean (Σπ_t − γT)/√(Tγ(1−γ)) within its standard
    error; a uniform model has π = γe^δ/(1 + (e^δ − 1)γ) (Kirchenbauer et al. 2023)."""
    V = len(small_corpus.vocab)
    docs = small_corpus.train_documents()
    model = NgramLearner(V, order=2).fit(docs)
    wm = TokenWatermark(V, key=17, gamma=0.25, delta=2.0)
    T = 40
    sample = model.sample(400, T, np.random.default_rng(2), watermark=wm)
    ref = kn_reference(docs, V, 2)
    green = green_reference(V, 17, 0.25)
    gam = math.floor(0.25 * V) / V
    cache = {}
    expected, linear = np.zeros(len(sample)), np.zeros(len(sample))
    for i, d in enumerate(sample):
        for ctx, _ in padded_windows([d], 2):
            if ctx not in cache:
                p = np.array([ref(ctx, x) for x in range(V)])
                g = np.array([green(ctx[-1], x) for x in range(V)])
                # wrong variant: δ as a factor 1 + δ on probabilities instead of e^δ
                cache[ctx] = [
                    (decoded_reference(p, g, 1.0, 1.0, d) * g).sum() for d in (2.0, math.log(3))
                ]
            expected[i] += cache[ctx][0]
            linear[i] += cache[ctx][1]
    z = wm.detect(sample.ravel(), np.arange(0, sample.size + 1, T), ignore_repeated=False)["z"]
    z_expected = (expected - gam * T) / math.sqrt(T * gam * (1 - gam))
    diff = z - z_expected
    se = float(diff.std(ddof=1)) / math.sqrt(diff.size)
    assert abs(diff.mean()) < 4 * se, (diff.mean(), se)
    assert z.mean() > 2.0
    z_linear = (linear - gam * T) / math.sqrt(T * gam * (1 - gam))
    assert abs((z - z_linear).mean()) > 6 * se

    # a flat model: every word equally likely
    W = 1000
    flat_model = NgramLearner(W, order=1, discount=0.0).fit([np.r_[0, np.arange(3, W)]])
    fwm = TokenWatermark(W, key=5, gamma=0.25, delta=2.0)
    fs = flat_model.sample(1500, 40, np.random.default_rng(3), watermark=fwm)
    r = fwm.detect(fs.ravel(), np.arange(0, fs.size + 1, 40), ignore_repeated=False)
    share = r["green"].sum() / r["scored"].sum()
    closed = 0.25 * math.e**2 / (1 + (math.e**2 - 1) * 0.25)
    se = math.sqrt(closed * (1 - closed) / fs.size)
    assert abs(share - closed) < 4 * se + 1e-3, (share, closed)
    assert abs(share - 0.25 * math.e**2 / (1 + 0.25 * math.e**2)) > 10 * se  # wrong normaliser


def test_edit_dilution_matches_the_closed_forms(small_corpus):
    """Substitutes that carry no watermark (uniform words, averaged over keys): a token keeps
    its evidence iff it and its predecessor survive, so random edits keep (1 − ε)² of the excess
    green count and spans of L keep (1 − ε)^((L+1)/L) (the first token's predecessor ``<s>``
    always survives: 1 − ε there)."""
    V = len(small_corpus.vocab)
    model = NgramLearner(V, order=2).fit(small_corpus.train_documents())
    T, n, L, eps = 60, 300, 8, 0.3
    words = np.r_[0.0, 0.0, 0.0, np.ones(V - 3)]
    rng = np.random.default_rng(8)
    before, after = {"random": 0.0, "span": 0.0}, {"random": 0.0, "span": 0.0}
    predicted = {"random": 0.0, "span": 0.0}
    for key in (1, 2, 3, 4):
        wm = TokenWatermark(V, key=key, gamma=0.25, delta=2.0)
        docs = model.sample(n, T, rng, watermark=wm)
        flat, off = docs.ravel(), np.arange(0, docs.size + 1, T)
        gam = wm.n_green / V
        prev = np.concatenate([np.full((n, 1), BOS), docs[:, :-1]], axis=1).ravel()
        excess = wm.green(prev, flat) - gam
        first = np.zeros(flat.size, bool)
        first[off[:-1]] = True
        keep = {
            "random": np.where(first, 1 - eps, (1 - eps) ** 2),
            "span": np.where(first, 1 - eps, (1 - eps) ** ((L + 1) / L)),
        }
        for mode in ("random", "span"):
            for _ in range(3):
                edited, mask = paraphrase(
                    flat, eps, rng, mode=mode, replacement_probs=words, span_length=L
                )
                assert abs(mask.mean() - eps) < (0.02 if mode == "random" else 0.05)
                r = wm.detect(edited, off, ignore_repeated=False)
                after[mode] += (r["green"] - gam * r["scored"]).sum()
                before[mode] += excess.sum()
                predicted[mode] += (excess * keep[mode]).sum()
    for mode in ("random", "span"):
        ratio, closed = after[mode] / before[mode], predicted[mode] / before[mode]
        assert abs(ratio - closed) < 0.03, (mode, ratio, closed)
    # wrong variants: random edits keeping 1 − ε, spans keeping (1 − ε)²
    assert abs(after["random"] / before["random"] - (1 - eps)) > 0.1
    assert abs(after["span"] / before["span"] - (1 - eps) ** 2) > 0.1


# ----------------------------------------------------------------------------- classifier, ROC


def test_roc_points_are_brute_force_thresholds():
    rng = np.random.default_rng(4)
    negative = np.round(rng.normal(size=120), 1)
    positive = np.round(rng.normal(0.6, size=90), 1)
    fpr, tpr = roc_curve(negative, positive)
    thresholds = np.unique(np.r_[negative, positive])[::-1]
    exp_fpr = np.r_[0.0, [(negative >= t).mean() for t in thresholds]]
    exp_tpr = np.r_[0.0, [(positive >= t).mean() for t in thresholds]]
    np.testing.assert_allclose(fpr, exp_fpr, atol=1e-15)
    np.testing.assert_allclose(tpr, exp_tpr, atol=1e-15)
    u = stats.mannwhitneyu(positive, negative).statistic
    assert auc(fpr, tpr) == pytest.approx(u / (120 * 90), abs=1e-12)


def test_roc_of_one_class_has_no_auc():
    """As the simulator's ``analysis.filters.auc``: without positives (or negatives) the rates
    are undefined and the AUC is NaN; it was 0, the AUC of a perfectly inverted detector."""
    scores = np.array([0.5, 1.0, 2.0])
    assert math.isnan(auc(*roc_curve(scores, np.zeros(0))))
    assert math.isnan(auc(*roc_curve(np.zeros(0), scores)))
    assert math.isnan(auc(*roc_curve(np.zeros(0), np.zeros(0))))
    assert auc(*roc_curve(np.array([0.0]), np.array([1.0]))) == 1.0


def test_classifier_scores_and_threshold_follow_their_definition(small_corpus):
    """score = log ppl under the reference − log ppl under the baseline, by hand; the threshold
    flags exactly the share ``fpr`` of the calibration documents (400 of them: 20 at 5%)."""
    V = len(small_corpus.vocab)
    train = small_corpus.train_documents()
    ref3, ref1 = kn_reference(train, V, 3), kn_reference(train, V, 1)
    reference, baseline = NgramLearner(V, order=3).fit(train), NgramLearner(V, order=1).fit(train)
    clf = PerplexityClassifier(reference, baseline=baseline, fpr=0.05)
    docs = small_corpus.heldout_documents()
    tokens, offsets = flatten(docs)
    expected = [
        -np.mean([math.log(ref3(c, w)) for c, w in padded_windows([d], 3)])
        + np.mean([math.log(ref1(c, w)) for c, w in padded_windows([d], 1)])
        for d in docs
    ]
    np.testing.assert_allclose(clf.score(tokens, offsets), expected, atol=1e-10)
    machine = NgramLearner(V, order=3).fit(train).sample(400, 30, np.random.default_rng(1))
    m_tok, m_off = machine.ravel(), np.arange(0, machine.size + 1, 30)
    clf.calibrate(m_tok, m_off)
    assert clf.flags(m_tok, m_off).sum() == 20


# ----------------------------------------------------------------------------- metrics


def test_order_one_models_report_the_words_they_lost(small_corpus):
    """A unigram model fitted on one document knows only that document's words; its smoothed
    probabilities are positive everywhere, which made every word and unigram look "known"
    (vocabulary and n-gram share 1.0 whatever it was trained on)."""
    V = len(small_corpus.vocab)
    train = small_corpus.train_documents()
    human_vocab = np.unique(np.concatenate(train))
    human_vocab = human_vocab[human_vocab > 2]
    one = train[0]
    for order in (1, 2, 3):
        model = NgramLearner(V, order=order).fit([one])
        expected = np.isin(human_vocab, one).mean()
        assert vocabulary_share(model, human_vocab) == pytest.approx(expected, abs=1e-15)
        human = ngram_set(train, order)
        assert ngram_share(model, distinct_ngrams(train, order, V)) == pytest.approx(
            len(human & ngram_set([one], order)) / len(human), abs=1e-15
        )
    assert expected < 0.7  # the document holds a fraction of the words


# ----------------------------------------------------------------------------- the loop


def _content(docs):
    counts = Counter(int(x) for d in docs for x in d if x >= 63)
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()}


def _js(p, q):
    """Jensen-Shannon divergence in nats, by its definition."""
    out = 0.0
    for k in set(p) | set(q):
        a, b = p.get(k, 0.0), q.get(k, 0.0)
        m = (a + b) / 2
        out += (0.5 * a * math.log(a / m) if a else 0.0) + (0.5 * b * math.log(b / m) if b else 0.0)
    return out


@pytest.fixture(scope="module")
def audit_run(small_corpus, tmp_path_factory):
    sc = text_scenario_from_dict(
        {
            "name": "audit",
            "seed": 3,
            "generations": 3,
            "humans": {"documents": 30, "document_tokens": 30},
            "models": [
                {"name": "a", "watermark": True, "documents": 40, "document_tokens": 30},
                {
                    "name": "b",
                    "policy": "accumulate",
                    "order": 2,
                    "documents": 40,
                    "document_tokens": 30,
                },
            ],
            "scraper": {"watermark_filter": True, "classifier_filter": True, "z_threshold": 2.0},
            "samples": {"prompt": "the farmer", "continuations": 1, "tokens": 5},
        }
    )
    out = tmp_path_factory.mktemp("audit") / "run"
    return run_text_scenario(sc, corpus=small_corpus, out=out, finish=write_text_report)


def test_loop_tables_are_what_its_stored_documents_give(audit_run, small_corpus):
    """Every column of ``text_generations`` and ``text_crawls`` recomputed from the store: the
    filters' flags by counting green pairs and scoring with dictionary Kneser-Ney, the training
    sets rebuilt from the kept documents by policy, and each metric from its definition."""
    m, t = audit_run.model, audit_run.tables
    V = len(small_corpus.vocab)
    store, gens, crawls = m.store, t["text_generations"], t["text_crawls"]

    def docs_of(ids):
        return [store.tokens[store.offsets[i] : store.offsets[i + 1]].astype(int) for i in ids]

    human, heldout = list(m.human_train), small_corpus.heldout_documents()
    agents = {a.config.name: a for a in m.generative_models}
    wm = agents["a"].watermark
    ref3, ref1 = kn_reference(human, V, 3), kn_reference(human, V, 1)
    human_vocab = {int(x) for d in human for x in d if x > 2}
    human_content = _content(human)
    training = {"a": human, "b": human}
    kept_so_far: list[int] = []
    for g in range(3):
        new = np.flatnonzero(store.generation == g)
        for name, agent in agents.items():
            row = gens[(gens.generation == g) & (gens.model == name)].iloc[0]
            o = agent.config.order
            docs = docs_of(new[(store.kind[new] == 1) & (store.producer[new] == agent.index)])
            first = kn_reference(human, V, o)
            own = [
                math.exp(-np.mean([math.log(first(c, w)) for c, w in padded_windows([d], o)]))
                for d in docs
            ]
            current = kn_reference(training[name], V, o)
            lp = [math.log(current(c, w)) for c, w in padded_windows(heldout, o)]
            hum = ngram_set(human, o)
            train_tokens = sum(len(d) for d in training[name])
            synthetic = sum(len(d) for d in training[name] if getattr(d, "synthetic", False))
            expected = {
                "documents": len(docs),
                "own_perplexity_gen0_median": float(np.median(own)),
                "own_perplexity_gen0_mean": float(np.mean(own)),
                "heldout_perplexity": math.exp(-np.mean(lp)),
                "ngram_share": len(hum & ngram_set(training[name], o)) / len(hum),
                "vocabulary_share": len(human_vocab & {int(x) for d in training[name] for x in d})
                / len(human_vocab),
                "distinct_sample_ngrams": len(ngram_set(docs, o)),
                "train_tokens": train_tokens,
                "train_synthetic_share": synthetic / train_tokens,
                "concept_js_to_human": _js(_content(docs), human_content),
                "market_share": 0.5,
            }
            if agent.watermark is not None:
                expected["mean_z"] = np.mean([z_by_counting(d, V, wm.key, wm.gamma) for d in docs])
            for column, value in expected.items():
                assert row[column] == pytest.approx(value, rel=1e-9, abs=1e-12), (g, name, column)
            assert math.isnan(row.fact_accuracy) and row.fact_claims == 0  # no lineage here
        # the crawl of generation g
        docs = docs_of(new)
        wm_flag = np.array([z_by_counting(d, V, wm.key, wm.gamma) > 2.0 for d in docs])
        score = np.array(
            [
                np.mean([math.log(ref1(c, w)) for c, w in padded_windows([d], 1)])
                - np.mean([math.log(ref3(c, w)) for c, w in padded_windows([d], 3)])
                for d in docs
            ]
        )
        clf_flag = score < m.classifier.threshold_
        flag, truth = wm_flag | clf_flag, store.kind[new] == 1
        tp = (flag & truth).sum()
        expected_crawl = {
            "crawled": len(new),
            "kept": (~flag).sum(),
            "watermark_flags": wm_flag.sum(),
            "classifier_flags": clf_flag.sum(),
            "precision": tp / flag.sum(),
            "recall": tp / truth.sum(),
            "synthetic_before": truth.mean(),
            "synthetic_after": truth[~flag].mean(),
            "human_lost": (flag & ~truth).sum(),
        }
        crow = crawls[crawls.generation == g].iloc[0]
        for column, value in expected_crawl.items():
            assert crow[column] == pytest.approx(float(value), rel=1e-12), (g, column)
        assert 0 < clf_flag.sum() and 0 < wm_flag.sum() < truth.sum()  # both filters act
        kept = [int(i) for i in new[~flag]]
        kept_so_far += kept

        def tagged(ids):
            out = []
            for i, d in zip(ids, docs_of(ids), strict=True):
                d = d.view(_Doc)
                d.synthetic = bool(store.kind[i] == 1)
                out.append(d)
            return out

        training = {"a": tagged(kept), "b": tagged(kept_so_far) + human}  # replace / accumulate


class _Doc(np.ndarray):
    """A document array that remembers whether a model wrote it."""

    synthetic = False


def test_outcomes_are_their_definitions_of_the_tables(audit_run):
    t = audit_run.tables
    g = t["text_generations"]
    last = g[g.generation == 2]
    outcomes = text_run_outcomes(t)
    for name, column in (
        ("final_heldout_perplexity", "heldout_perplexity"),
        ("final_ngram_share", "ngram_share"),
        ("final_vocabulary_share", "vocabulary_share"),
        ("final_own_perplexity_gen0", "own_perplexity_gen0_median"),
        ("final_concept_js_to_human", "concept_js_to_human"),
    ):
        assert outcomes[name] == pytest.approx(sum(last[column]) / 2, rel=1e-12), name
    ppl = {(r.generation, r.model): r.heldout_perplexity for r in g.itertuples()}
    rise = (ppl[2, "a"] + ppl[2, "b"]) / (ppl[0, "a"] + ppl[0, "b"])
    assert outcomes["heldout_perplexity_rise"] == pytest.approx(rise, rel=1e-12)
    z = [r.mean_z for r in g.itertuples() if r.model == "a"]
    assert outcomes["mean_watermark_z"] == pytest.approx(sum(z) / 3, rel=1e-12)
    assert math.isnan(outcomes["final_fact_accuracy"])


# ----------------------------------------------------------------------------- the report


def test_report_aucs_are_mann_whitney_of_its_tables(audit_run):
    out = audit_run.out
    text = (out / "text_report.md").read_text()
    wm = pd.read_parquet(out / "text_watermark_scores.parquet")
    clf = pd.read_parquet(out / "text_classifier_scores.parquet")
    lines = [line for line in text.splitlines() if ": AUC " in line]
    expected = []
    human = wm.z[wm.kind == "human"].to_numpy()
    for kind in dict.fromkeys(wm.kind[wm.kind != "human"]):
        pos = wm.z[wm.kind == kind].to_numpy()
        u = stats.mannwhitneyu(pos, human).statistic / (pos.size * human.size)
        expected.append(f"- watermark z, a: {kind} vs human: AUC {u:.3f}")
    h = clf.score[clf.kind == "human"].to_numpy()
    for name in ("a", "b"):
        s = clf.score[(clf.kind == "machine") & (clf.model == name)].to_numpy()
        u = stats.mannwhitneyu(-s, -h).statistic / (s.size * h.size)  # low scores flagged
        expected.append(f"- perplexity classifier, {name} vs human: AUC {u:.3f}")
    assert lines == expected


def test_report_leaves_out_the_auc_of_one_class(audit_run, tmp_path):
    """A curve without human (negative) documents has no AUC: the report must not print
    "AUC 0.000" (or "nan") for it."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(audit_run.out, run)
    clf = pd.read_parquet(run / "text_classifier_scores.parquet")
    clf[clf.kind != "human"].to_parquet(run / "text_classifier_scores.parquet", index=False)
    wm = pd.read_parquet(run / "text_watermark_scores.parquet")
    wm[wm.kind != "human"].to_parquet(run / "text_watermark_scores.parquet", index=False)
    text = write_text_report(run).read_text()
    assert "AUC 0.000" not in text and not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert ": AUC " not in text


def test_report_tables_show_no_false_zeros():
    """Rounded to three decimals, a share of 0.0004 read "0" (and −0.0002 "-0"): a table cell
    claiming none where there is some."""
    table = markdown_table(pd.DataFrame({"x": [0.0004, -0.0002, 0.0, 0.1234, 1234.5]}))
    cells = [line.strip("| ") for line in table.splitlines()[2:]]
    assert cells[2] == "0" and cells[3] == "0.123"
    assert float(cells[0]) == pytest.approx(0.0004) and float(cells[1]) == pytest.approx(-0.0002)
    assert float(cells[4]) == pytest.approx(1234.5, rel=5e-3)  # three significant digits


def test_fact_claims_stay_inside_a_document():
    """``SUBJECT the son of VALUE`` split over two documents ("... joshua the" | "son of nun")
    is no claim: the flat token array of a generation's documents spliced two independent
    samples into one lineage. Claims of the flat array with offsets are those of each document
    on its own."""
    words = ["joshua", "caleb", "nun", "jephunneh", "the", "son", "of", ",", "went", "."]
    vocab = Vocabulary(["<unk>", "<s>", "</s>", *words])
    ids = {w: vocab.index[w] for w in words}
    rng = np.random.default_rng(0)
    pattern = [ids[w] for w in ("the", "son", "of")]
    docs = []
    for _ in range(300):
        d = list(rng.choice(np.arange(3, len(vocab)), size=rng.integers(2, 9)))
        if rng.random() < 0.5:  # a whole claim inside the document
            d[1:1] = [ids[str(rng.choice(words[:4]))], *pattern, ids[str(rng.choice(words[:4]))]]
        cut = int(rng.integers(0, 4))  # a pattern cut at the document's start or end
        d = pattern[cut:] + d + pattern[: cut + 1] if cut < 3 else d
        docs.append(np.array(d, dtype=np.int64))
    tokens, offsets = flatten(docs)
    expected = [c for d in docs for c in fact_claims(d, vocab, first_content_id=3).tolist()]
    got = fact_claims(tokens, vocab, first_content_id=3, offsets=offsets).tolist()
    assert got == expected and len(expected) > 100
    assert len(fact_claims(tokens, vocab, first_content_id=3)) > len(expected) + 50  # spliced
