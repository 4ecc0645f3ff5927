"""The Monte Carlo experiments of the validation suite (V1–V6, README "Validation"). Each runs once, on
the very classes the simulation uses (``StyleLearner``, ``ConceptLearner``, ``WatermarkScheme``,
the calibrated ``baseline`` scenario), and returns named :class:`Estimate` values with their Monte
Carlo standard errors; the checks (:mod:`.checks`) read them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable

import numpy as np
from scipy import stats
from tqdm.auto import tqdm

from habsburg.ecosystem.learners import ConceptLearner, StyleLearner
from habsburg.experiments.run import simulate
from habsburg.experiments.validation.closedforms import (
    baseline_scheme,
    exact_refit_loop,
    fpr_green_threshold,
    w2_squared,
)
from habsburg.experiments.validation.dilution import experiment_v6
from habsburg.experiments.validation.framework import Estimate, fmt
from habsburg.model.export import collected_frames
from habsburg.scenarios.library import load_scenario
from habsburg.scenarios.measurements import Measurement, out_of_sample
from habsburg.scenarios.targets import WATERMARK_REFERENCE_TPR, WATERMARK_TPR_FPR, WEB_STUDY

#: replicates below this are run in blocks (bounds memory of the pooled V2 loop)
BLOCK = 5000


def _blocks(total: int) -> list[int]:
    return [min(BLOCK, total - start) for start in range(0, total, BLOCK)]


def recursive_refit(
    m: int, n: int, replicates: int, rng: np.random.Generator, *, estimator: str = "unbiased"
) -> tuple[np.ndarray, np.ndarray]:
    """The V1 loop with the project's ``StyleLearner(dim=1)``: start from N(0, 1), draw M samples
    from the current fit, refit; ``replicates`` independent chains. Returns (μ_n, σ_n)."""
    mus, sigmas = [], []
    for r in _blocks(replicates):
        learner = StyleLearner(1, estimator=estimator)  # unfitted: N(0, 1)
        x = learner.sample(r * m, rng).reshape(r, m, 1)
        for generation in range(n):
            learner.fit_batch(x)
            if generation < n - 1:
                x = learner.sample(m, rng)
        mus.append(learner.mean_[:, 0])
        sigmas.append(np.sqrt(learner.cov_[:, 0, 0]))
    return np.concatenate(mus), np.concatenate(sigmas)


def gaussian_loop(
    m: int, generations: Iterable[int], replicates: int, rng: np.random.Generator, *, mode: str
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The V2 loop: ``replace`` fits each generation on the newest M samples only, ``accumulate``
    on every generation's samples pooled. Returns {n: (μ_n, σ_n)} for the requested n."""
    wanted = sorted(set(generations))
    last = wanted[-1]
    out: dict[int, list] = {g: [] for g in wanted}
    for r in _blocks(replicates):
        learner = StyleLearner(1)
        pool = np.empty((r, m * (last if mode == "accumulate" else 1), 1))
        pool[:, :m] = learner.sample(r * m, rng).reshape(r, m, 1)
        for g in range(1, last + 1):
            learner.fit_batch(pool[:, : g * m] if mode == "accumulate" else pool)
            if g in out:
                out[g].append((learner.mean_[:, 0].copy(), np.sqrt(learner.cov_[:, 0, 0])))
            if g < last:
                fresh = learner.sample(m, rng)
                if mode == "accumulate":
                    pool[:, g * m : (g + 1) * m] = fresh
                else:
                    pool = fresh
    return {
        g: (np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v]))
        for g, v in out.items()
    }


#: resamples of the permutation test of V1's E[W2²] at M = 20, n = 50 (its p-values are
#: multiples of 1/2000, so a p below 3 SE's level of 0.0027 is reached)
PERMUTATIONS = 1_999


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def permutation_p(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
    """Two-sided permutation test of mean(a) − mean(b) (``scipy.stats.permutation_test``): a
    valid p-value whatever the samples' law, however skewed, when both are i.i.d. from one law."""
    batch = max(1, 2**23 // (a.size + b.size))  # ~64 MB of permuted copies at a time
    result = stats.permutation_test(
        (a, b),
        _mean_difference,
        permutation_type="independent",
        vectorized=True,
        n_resamples=PERMUTATIONS,
        alternative="two-sided",
        batch=batch,
        rng=rng,
    )
    return float(result.pvalue)


def experiment_v1(quick: bool, rng: np.random.Generator, progress: bool) -> dict[str, Estimate]:
    """Recursive Gaussian refit (Shumailov et al. 2024, Thm 3.1 and SI)."""
    R = 2_000 if quick else 20_000
    out = {}
    mu, s = recursive_refit(100, 10, R, rng)
    out["w2_100_10"] = Estimate.mean_of(w2_squared(mu, s))
    out["sigma2_100_10"] = Estimate.mean_of(s**2)
    out["var_mu_sigma2_100_10"] = Estimate.mean_of(mu**2 + s**2)  # E[μ_n] = 0 by symmetry
    mu, s = recursive_refit(20, 50, R, rng)
    out["sigma_20_50"] = Estimate.mean_of(s)
    w2 = w2_squared(mu, s)
    mu, s = recursive_refit(100, 10, R, rng, estimator="mle")
    out["mle_sigma2_100_10"] = Estimate.mean_of(s**2)
    R500 = 500 if quick else 5_000
    _, s = recursive_refit(10, 500, R500, rng)
    below = int((s < 0.01).sum())
    out["collapsed_10_500"] = Estimate(
        below / R500, R500, 0.0, below, f"median σ = {np.median(s):.2g}"
    )
    # E[W2²] at M = 20, n = 50 (σ_n² near lognormal, E[σ_50⁴] ≈ 150): no standard error keeps
    # its level, so the learner's chains are tested against as many chains drawn from the
    # loop's exact law (drawn last: the rows above keep their numbers)
    mu, s = exact_refit_loop(20, 50, R, rng)
    reference = w2_squared(mu, s)
    out["w2_20_50"] = dataclasses.replace(
        Estimate.mean_of(w2, f"exact law's {R:,}: {fmt(float(reference.mean()))}"),
        p=permutation_p(w2, reference, rng),
    )
    out["w2_law_20_50"] = same_law(w2, reference)
    return out


def same_law(a: np.ndarray, b: np.ndarray) -> Estimate:
    """The two-sample Kolmogorov–Smirnov distance between the laws of ``a`` (the learner's
    chains) and ``b`` (the exact law's), with its p-value (``scipy.stats.ks_2samp``; no draws).
    Where the permutation test of the means has little power (the mean of W2² at M = 20, n = 50
    rests on rare chains), the whole law has much: chains of M = 19 draws a generation, or a
    mean's increments with 10% more variance, shift E[W2²] by ~1% and ~7%, pass a test of the
    means most of the time and fail this one most of the time (README, "Validation")."""
    result = stats.ks_2samp(a, b)
    return Estimate(
        float(result.statistic), a.size, 0.0, None, "KS distance", p=float(result.pvalue)
    )


V2_GENERATIONS = (1, 5, 10, 20)


def experiment_v2(quick: bool, rng: np.random.Generator, progress: bool) -> dict[str, Estimate]:
    """Replace vs accumulate (Gerstgrasser et al. 2024; Kazdan et al. 2024), M = 50."""
    R = 2_000 if quick else 20_000
    out = {}
    for mode in ("replace", "accumulate"):
        runs = gaussian_loop(50, V2_GENERATIONS, R, rng, mode=mode)
        for g, (mu, _) in runs.items():
            out[f"{mode}_mu2_{g}"] = Estimate.mean_of(mu**2)
        out[f"{mode}_sigma_{V2_GENERATIONS[-1]}"] = Estimate.mean_of(runs[V2_GENERATIONS[-1]][1])
    return out


#: V3 categorical: three rare categories of known probability, the rest spread over ten
V3_RARE = (0.02, 0.01, 0.005)


def v3_counts() -> np.ndarray:
    """Counts whose MLE fit is exactly (0.02, 0.01, 0.005, 0.0965 × 10)."""
    scale = 200_000
    rare = [round(q * scale) for q in V3_RARE]
    rest = (scale - sum(rare)) // 10
    return np.array(rare + [rest] * 10, dtype=np.float64)


def experiment_v3(quick: bool, rng: np.random.Generator, progress: bool) -> dict[str, Estimate]:
    """Categorical tail loss with ``ConceptLearner`` (smoothing 0, τ = 1, top-p = 1), M = 100."""
    M = 100
    R = 10_000 if quick else 100_000
    counts = v3_counts()
    learner = ConceptLearner(counts.size, temperature=1.0, top_p=1.0, smoothing=0.0).fit(counts)
    missed = np.zeros(len(V3_RARE), dtype=np.int64)
    for r in _blocks(R):
        draws = learner.sample(r * M, rng).reshape(r, M)
        for k in range(len(V3_RARE)):
            missed[k] += int((~(draws == k).any(axis=1)).sum())
    out = {f"miss_{q}": Estimate.share(int(missed[k]), R) for k, q in enumerate(V3_RARE)}

    # Absorbing zeros: refit a Zipf categorical on its own samples; a category with zero count in
    # one generation must have zero count in every later one.
    K, n, chains = 100, 20, 100 if quick else 1_000
    zipf = 1.0 / np.arange(1, K + 1) ** 1.1
    zipf_counts = np.rint(zipf / zipf.sum() * 1e6)
    opportunities = comebacks = lost = 0
    for _ in tqdm(range(chains), desc="V3 chains", disable=not progress, leave=False):
        chain = ConceptLearner(K, temperature=1.0, top_p=1.0, smoothing=0.0).fit(zipf_counts)
        previous = None
        for _ in range(n):
            c = chain.sample_counts(M, rng)
            if previous is not None:
                opportunities += int(previous.sum())
                comebacks += int((previous & (c > 0)).sum())
            previous = c == 0
            chain.fit(c)
        assert previous is not None  # set by each of the n > 0 generations
        lost += int(previous.sum())
    out["comebacks"] = Estimate(
        comebacks / max(opportunities, 1),
        opportunities,
        0.0,
        comebacks,
        f"{lost / chains:.0f} of {K} categories lost after {n} generations",
        "zero counts",
    )
    return out


V4_LENGTHS = (25, 50, 100, 200, 400, 800)


def experiment_v4(quick: bool, rng: np.random.Generator, progress: bool) -> dict[str, Estimate]:
    """Watermark z-test calibration with the baseline's ``WatermarkScheme``."""
    scheme = baseline_scheme()
    N = 20_000 if quick else 200_000
    T = 200
    out = {}
    tokens = np.full(N, T)
    green = scheme.draw_green_counts(tokens, np.zeros(N, dtype=np.int64), rng)
    z = scheme.z_scores(green, tokens)
    out["human_z_mean"] = Estimate.mean_of(z, unit="documents")
    sd = float(z.std(ddof=1))
    out["human_z_sd"] = Estimate(sd, N, sd / math.sqrt(2 * (N - 1)), unit="documents")

    n_fpr = 1_000_000 if quick else 10_000_000
    flagged = 0
    for r in tqdm(_blocks(n_fpr), desc="V4 FPR", disable=not progress, leave=False):
        tok = np.full(r, T)
        g = scheme.draw_green_counts(tok, np.zeros(r, dtype=np.int64), rng)
        flagged += int(scheme.detect(g, tok, 4.0).sum())
    out["fpr_z4"] = Estimate.share(flagged, n_fpr, unit="documents")

    mean_z = []
    for t in V4_LENGTHS:
        tok = np.full(N, t)
        g = scheme.draw_green_counts(tok, tok, rng)
        zw = scheme.z_scores(g, tok)
        out[f"wm_z_{t}"] = Estimate.mean_of(zw, unit="documents")
        mean_z.append(zw.mean())
        if t in WATERMARK_REFERENCE_TPR:
            cut = fpr_green_threshold(t, scheme.gamma, WATERMARK_TPR_FPR)
            threshold = float(scheme.z_scores(cut - 0.5, t))  # z > threshold ⇔ g ≥ cut
            out[f"tpr_{t}"] = Estimate.share(
                int(scheme.detect(g, tok, threshold).sum()),
                N,
                f"z > {threshold:.2f}",
                "documents",
            )
    fit = stats.linregress(np.log(V4_LENGTHS), np.log(mean_z))
    out["z_slope"] = Estimate(
        float(fit.slope), len(V4_LENGTHS), float(fit.stderr), unit="lengths × " + f"{N:,} documents"
    )
    return out


def experiment_v5(quick: bool, rng: np.random.Generator, progress: bool) -> dict[str, Estimate]:
    """Web synthetic share of the calibrated baseline (the same run in both modes: it *is* the
    calibration; its seed is the scenario's)."""
    scenario = load_scenario("baseline")
    frame = collected_frames(simulate(scenario, progress=progress))["model_metrics"]
    out = {}
    for months in WEB_STUDY:
        step = scenario.launch_step + months
        row = frame.iloc[step]
        out[f"share_{months}"] = Estimate(
            float(row.synthetic_share_new_measured),
            int(row.new_documents),
            0.0,  # one run; quick mode runs the same one, so nothing to widen
            None,
            f"true {row.synthetic_share_new:.1%}, {scenario.step_to_month(step)}",
            "new documents",
        )
    for m in out_of_sample():  # predictions: the instruments in the published point's month
        step = scenario.month_to_step(m.month, m.month)
        if m.series not in frame or not 0 <= step < len(frame):
            continue
        row = frame.iloc[step]
        out[prediction_key(m)] = Estimate(
            float(row[m.series]), int(row.new_documents), 0.0, None, "", "new documents"
        )
    return out


def prediction_key(m: Measurement) -> str:
    """The V5 estimate of an out-of-sample point: ``predict:series@YYYY-MM``."""
    return f"predict:{m.series}@{m.month}"


Experiment = Callable[[bool, np.random.Generator, bool], dict[str, Estimate]]

EXPERIMENTS: dict[str, Experiment] = {
    "V1": experiment_v1,
    "V2": experiment_v2,
    "V3": experiment_v3,
    "V4": experiment_v4,
    "V5": experiment_v5,
    "V6": experiment_v6,
}
