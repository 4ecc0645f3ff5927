"""The three learners a generative model is made of.

Each learner is a small class with ``fit(data) -> self`` and ``sample(n, rng) -> array`` that works
on numpy arrays and knows nothing of Mesa. They are the very classes the simulation runs and the
validation suite (``habsburg validate``) checks against published closed forms.

One temperature convention everywhere: decoding at temperature τ samples from ``p^(1/τ)``
(renormalised). For a categorical that is the usual logit scaling; for a Gaussian density
``N(μ, Σ)^(1/τ) ∝ N(μ, τΣ)``, so style covariance is multiplied by τ (not τ²).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from habsburg.ecosystem import sampling


def _check_range(
    name: str, value: float, low: float, high: float, *, open_low: bool = False
) -> None:
    ok = (value > low if open_low else value >= low) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value!r}")


def apply_temperature_top_p(probs: np.ndarray, temperature: float, top_p: float) -> np.ndarray:
    """Decoding distribution: ``p^(1/τ)`` renormalised, then top-p (nucleus) truncation.

    Top-p keeps the smallest set of most likely outcomes whose mass reaches ``top_p``
    (Holtzman et al. 2020); everything outside it gets probability zero.
    """
    p = np.asarray(probs, dtype=np.float64)
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            logp = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -np.inf) / temperature
        logp -= logp.max()
        p = np.exp(logp)
    total = p.sum()
    if total <= 0:
        return p
    p = p / total
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order])
        keep = np.searchsorted(cum, top_p - 1e-12) + 1
        mask = np.zeros(p.shape, dtype=bool)
        mask[order[:keep]] = True
        p = np.where(mask, p, 0.0)
        p /= p.sum()
    return p


class ConceptLearner:
    """Categorical distribution over K concepts, fitted from concept counts.

    ``fit`` estimates ``(counts + smoothing) / (N + K·smoothing)`` (MLE when smoothing is 0). With
    ``tail_reweighting = a > 0`` the fit is flattened as ``counts^(1-a)``: rare concepts get more
    weight than their frequency (a tail-preserving training objective). Sampling uses temperature
    and top-p (temperature as ``p^(1/τ)``). Zero counts stay zero without smoothing: a concept
    missed once is gone for good (Shumailov et al. 2024) — this absorbing zero is what loses the
    tails.
    """

    def __init__(
        self,
        n_concepts: int,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        smoothing: float = 0.0,
        tail_reweighting: float = 0.0,
    ) -> None:
        if n_concepts < 1:
            raise ValueError(f"n_concepts must be >= 1, got {n_concepts}")
        _check_range("temperature", temperature, 0.0, 100.0, open_low=True)
        _check_range("top_p", top_p, 0.0, 1.0, open_low=True)
        _check_range("smoothing", smoothing, 0.0, 1e6)
        _check_range("tail_reweighting", tail_reweighting, 0.0, 1.0)
        self.n_concepts = int(n_concepts)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.smoothing = float(smoothing)
        self.tail_reweighting = float(tail_reweighting)
        self.probs_ = np.full(self.n_concepts, 1.0 / self.n_concepts)
        self._sampling: np.ndarray | None = None

    def fit(self, counts: np.ndarray) -> ConceptLearner:
        """Fit from per-concept counts (``np.bincount(draws, minlength=K)``)."""
        c = np.asarray(counts, dtype=np.float64)
        if c.shape != (self.n_concepts,):
            raise ValueError(f"counts must have shape ({self.n_concepts},), got {c.shape}")
        if self.tail_reweighting > 0:
            c = np.where(c > 0, c ** (1.0 - self.tail_reweighting), 0.0)
        c = c + self.smoothing
        total = c.sum()
        if total <= 0:
            raise ValueError("cannot fit a ConceptLearner on zero counts")
        self.probs_ = c / total
        self._sampling = None
        return self

    @property
    def sampling_probs(self) -> np.ndarray:
        """The distribution samples are drawn from (after temperature and top-p)."""
        if self._sampling is None:
            self._sampling = apply_temperature_top_p(self.probs_, self.temperature, self.top_p)
        return self._sampling

    def set_decoding(self, *, temperature: float | None = None, top_p: float | None = None) -> None:
        """Change decoding settings (an intervention); the fit is kept."""
        if temperature is not None:
            _check_range("temperature", temperature, 0.0, 100.0, open_low=True)
            self.temperature = float(temperature)
        if top_p is not None:
            _check_range("top_p", top_p, 0.0, 1.0, open_low=True)
            self.top_p = float(top_p)
        self._sampling = None

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` concept ids."""
        return sample_categorical(self.sampling_probs, n, rng)

    def sample_counts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Counts of ``n`` draws (a multinomial), the cheap way to refit from own samples."""
        return rng.multinomial(n, self.sampling_probs)


def sample_categorical(probs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Inverse-CDF sampling of ``n`` ids from ``probs`` (int32; a cached guide table makes each
    draw O(1): :func:`habsburg.ecosystem.sampling.sample_categorical`)."""
    return sampling.sample_categorical(probs, n, rng)


class FactLearner:
    """Per-fact beliefs over V values, fitted from counts of claimed values.

    ``belief = normalised counts`` per fact. ``sample`` answers queries about facts: a fact never
    seen is answered with a uniformly random value with probability ``unseen_hallucination_rate``
    (otherwise the model abstains); a seen fact is answered from ``belief^(1/τ)``, except that with
    probability ``hallucination_rate`` the answer is replaced by a random value other than the
    model's modal belief. The caller registers wrong values in the error registry.
    """

    def __init__(
        self,
        n_facts: int,
        n_values: int,
        *,
        temperature: float = 1.0,
        hallucination_rate: float = 0.0,
        unseen_hallucination_rate: float = 1.0,
        smoothing: float = 0.0,
    ) -> None:
        if n_facts < 1 or n_values < 2:
            raise ValueError("FactLearner needs n_facts >= 1 and n_values >= 2")
        _check_range("temperature", temperature, 0.0, 100.0, open_low=True)
        _check_range("hallucination_rate", hallucination_rate, 0.0, 1.0)
        _check_range("unseen_hallucination_rate", unseen_hallucination_rate, 0.0, 1.0)
        _check_range("smoothing", smoothing, 0.0, 1e6)
        self.n_facts, self.n_values = int(n_facts), int(n_values)
        self.temperature = float(temperature)
        self.hallucination_rate = float(hallucination_rate)
        self.unseen_hallucination_rate = float(unseen_hallucination_rate)
        self.smoothing = float(smoothing)
        self.counts_ = np.zeros((self.n_facts, self.n_values))
        self.seen_ = np.zeros(self.n_facts, dtype=bool)
        self.belief_ = np.full((self.n_facts, self.n_values), 1.0 / self.n_values)
        self._answer: np.ndarray | None = None
        self._answer_cdf: np.ndarray | None = None
        self._modal: np.ndarray | None = None

    def fit(self, counts: np.ndarray) -> FactLearner:
        """Fit from an (F, V) array of claim counts."""
        c = np.asarray(counts, dtype=np.float64)
        if c.shape != (self.n_facts, self.n_values):
            raise ValueError(f"counts must have shape ({self.n_facts}, {self.n_values})")
        self.counts_ = c
        totals = c.sum(axis=1)
        self.seen_ = totals > 0
        smoothed = c + self.smoothing
        denom = smoothed.sum(axis=1, keepdims=True)
        self.belief_ = np.where(
            denom > 0, smoothed / np.where(denom > 0, denom, 1), 1.0 / self.n_values
        )
        self._answer = self._answer_cdf = self._modal = None
        return self

    def __setstate__(self, state: dict) -> None:
        # checkpoints pickled before the answer caches existed load with empty caches
        self.__dict__.update({"_answer_cdf": None, "_modal": None, **state})

    @property
    def modal_value(self) -> np.ndarray:
        """The value each fact is most believed to have (ties: lowest id)."""
        if self._modal is None:
            self._modal = self.belief_.argmax(axis=1)
        return self._modal

    @property
    def answer_probs(self) -> np.ndarray:
        """(F, V) probabilities of the value given when asked (temperature, no hallucination)."""
        if self._answer is None:
            b = self.belief_
            if self.temperature != 1.0:
                with np.errstate(divide="ignore"):
                    logb = np.where(b > 0, np.log(np.where(b > 0, b, 1.0)), -np.inf)
                logb = logb / self.temperature
                logb -= logb.max(axis=1, keepdims=True)
                b = np.exp(logb)
                b /= b.sum(axis=1, keepdims=True)
            self._answer = b
            self._answer_cdf = None
        return self._answer

    @property
    def answer_cdf(self) -> np.ndarray:
        """Row-wise cumulative :attr:`answer_probs` (what ``sample`` inverts), cached with them."""
        probs = self.answer_probs
        if self._answer_cdf is None:
            self._answer_cdf = np.cumsum(probs, axis=1)
        return self._answer_cdf

    def correct_probability(self, true_values: np.ndarray) -> np.ndarray:
        """P(an answer to each fact is the true value), hallucination and abstention included.

        Abstentions count as not correct.
        """
        idx = np.arange(self.n_facts)
        p_true = self.answer_probs[idx, true_values]
        mode = self.modal_value
        h = self.hallucination_rate
        # A hallucination picks uniformly among the V-1 values other than the mode.
        p_hall_true = np.where(mode == true_values, 0.0, 1.0 / (self.n_values - 1))
        seen = (1 - h) * p_true + h * p_hall_true
        unseen = self.unseen_hallucination_rate / self.n_values
        return np.where(self.seen_, seen, unseen)

    def sample(self, facts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Answer each queried fact. Returns ``(values, answered)``; abstentions have value -1."""
        facts = np.asarray(facts, dtype=np.int64)
        n = facts.size
        cdf = self.answer_cdf.take(facts, axis=0)  # (take is several times faster on rows)
        u = rng.random(n)[:, None] * cdf[:, -1:]
        values = _count_true_per_row(u > cdf)
        values = np.minimum(values, self.n_values - 1)
        mode = self.modal_value[facts]
        hall = rng.random(n) < self.hallucination_rate
        other = rng.integers(0, self.n_values - 1, size=n)
        other = other + (other >= mode)  # uniform over values != mode
        values = np.where(hall, other, values)
        seen = self.seen_[facts]
        unseen_answer = rng.integers(0, self.n_values, size=n)
        answered = seen | (rng.random(n) < self.unseen_hallucination_rate)
        values = np.where(seen, values, unseen_answer)
        values = np.where(answered, values, -1)
        return values.astype(np.int32), answered

    def set_decoding(
        self, *, temperature: float | None = None, hallucination_rate: float | None = None
    ) -> None:
        """Change decoding settings (an intervention); the fit is kept."""
        if temperature is not None:
            _check_range("temperature", temperature, 0.0, 100.0, open_low=True)
            self.temperature = float(temperature)
        if hallucination_rate is not None:
            _check_range("hallucination_rate", hallucination_rate, 0.0, 1.0)
            self.hallucination_rate = float(hallucination_rate)
        self._answer = self._answer_cdf = None


def _count_true_per_row(flags: np.ndarray) -> np.ndarray:
    """``flags.sum(axis=1)`` for a 2-d boolean array. Rows of a multiple of 8 flags are counted
    as 64-bit words (a popcount of 0/1 bytes is their number of ones); otherwise as one
    contraction over the bytes (a sum along a short last axis is numpy's slow case)."""
    width = flags.shape[1]
    if width % 8 == 0 and width and flags.flags.c_contiguous:
        words = flags.view(np.uint64)
        if _BITWISE_COUNT is not None:
            counts = _BITWISE_COUNT(words)
        else:
            counts = (words * np.uint64(0x0101010101010101)) >> np.uint64(56)
        return counts.astype(np.int64).sum(axis=1) if width > 8 else counts[:, 0].astype(np.int64)
    if width < 256:
        return np.einsum("ij->i", flags.view(np.uint8)).astype(np.int64)
    return flags.sum(axis=1)


_BITWISE_COUNT = getattr(np, "bitwise_count", None)  # numpy >= 2.0


class StyleLearner:
    """Gaussian fit of d-dimensional style vectors; samples ``N(μ, τΣ)``.

    Temperature follows the project's one convention, density ``p^(1/τ)``: a Gaussian raised to
    the power 1/τ and renormalised is ``N(μ, τΣ)``, so τ scales the covariance (the standard
    deviation by √τ), exactly as it sharpens concepts and facts. ``estimator='unbiased'``
    divides the scatter by M−1, ``'mle'`` by M. Recursive refitting with either shrinks the variance to zero almost surely (Shumailov et al. 2024, Thm 3.1); τ < 1 is the
    sampling bias of Alemohammad et al. 2024 that keeps quality but loses diversity faster.
    """

    ESTIMATORS = ("unbiased", "mle")

    def __init__(self, dim: int, *, temperature: float = 1.0, estimator: str = "unbiased") -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        _check_range("temperature", temperature, 0.0, 100.0, open_low=True)
        if estimator not in self.ESTIMATORS:
            raise ValueError(f"estimator must be one of {self.ESTIMATORS}, got {estimator!r}")
        self.dim = int(dim)
        self.temperature = float(temperature)
        self.estimator = estimator
        self.mean_ = np.zeros(self.dim)
        self.cov_ = np.eye(self.dim)
        self._factor: tuple[np.ndarray, np.ndarray] | None = None  # (sampling_cov, its factor)

    @property
    def ddof(self) -> int:
        """Delta degrees of freedom of the covariance: 1 for ``unbiased``, 0 for ``mle``."""
        return 1 if self.estimator == "unbiased" else 0

    def fit(self, X: np.ndarray, overwrite_input: bool = False) -> StyleLearner:
        """Fit mean and covariance of an (M, d) array (or (M,) when d = 1).

        ``overwrite_input``: a float64 ``X`` is centred in place instead of copied (the same
        fit, without a second array of its size); its values are then meaningless."""
        X = np.asarray(X, dtype=np.float64).reshape(-1, self.dim)
        self.mean_, self.cov_ = self._fit_gaussian(X, overwrite_input)
        return self

    def fit_batch(self, X: np.ndarray) -> StyleLearner:
        """Fit R independent Gaussians at once from an (R, M, d) array, each exactly as ``fit``
        fits one; ``mean_`` becomes (R, d), ``cov_`` (R, d, d) and ``sample`` draws (R, n, d).

        The validation suite runs its Monte Carlo replicates this way (``habsburg validate``).
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[2] != self.dim:
            raise ValueError(f"X must have shape (R, M, {self.dim}), got {X.shape}")
        self.mean_, self.cov_ = self._fit_gaussian(X)
        return self

    def _fit_gaussian(
        self, X: np.ndarray, overwrite_input: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and scatter / (M − ddof) over the sample axis of an (..., M, d) array
        (``overwrite_input``: centred in place)."""
        m = X.shape[-2]
        ddof = self.ddof
        if m - ddof < 1:
            raise ValueError(f"need at least {ddof + 1} samples to fit a StyleLearner, got {m}")
        mean = X.mean(axis=-2)
        if overwrite_input:
            centred = X
            centred -= mean[..., None, :]
        else:
            centred = X - mean[..., None, :]
        return mean, np.swapaxes(centred, -1, -2) @ centred / (m - ddof)

    @property
    def sampling_cov(self) -> np.ndarray:
        """Covariance samples are drawn with: ``τΣ`` (density ``N(μ, Σ)^(1/τ)``)."""
        return self.temperature * self.cov_

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` style vectors, shape (n, d) (or (R, n, d) after ``fit_batch``)."""
        chol = self._sampling_factor()
        z = rng.standard_normal((*self.mean_.shape[:-1], int(n), self.dim))
        out = z @ np.swapaxes(chol, -1, -2)
        out += self.mean_[..., None, :]
        return out

    def __setstate__(self, state: dict) -> None:
        # checkpoints pickled before the factor cache existed load with an empty cache
        self.__dict__.update({"_factor": None, **state})

    def _sampling_factor(self) -> np.ndarray:
        """Cholesky factor of :attr:`sampling_cov`, kept while that covariance is unchanged (a
        model samples every month from a fit that changes only when it retrains)."""
        cov = self.sampling_cov
        if self._factor is None or not np.array_equal(self._factor[0], cov):
            self._factor = (cov, _safe_cholesky(cov))
        return self._factor[1]


def _safe_cholesky(cov: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(cov)
        return vecs * np.sqrt(np.clip(vals, 0, None))[..., None, :]


@dataclass
class Learners:
    """The fitted state of one model generation (what is retrained)."""

    concepts: ConceptLearner
    facts: FactLearner
    style: StyleLearner
