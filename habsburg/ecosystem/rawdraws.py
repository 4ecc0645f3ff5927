"""numpy's own draws, made from PCG64's raw outputs: the same values and the same stream after them.

Two of numpy's samplers cost more than their draws need:

- **float32 uniforms** (``rng.random(n, dtype=np.float32)``) make each value through a function
  call per draw; :func:`draws32` takes the 32-bit halves of PCG64's raw 64-bit outputs at once
  (about 2.5× faster), the integers those uniforms are made of.
- **sampling without replacement** (``rng.choice(ids, k, replace=False)``) shuffles the tail of
  an ``arange`` of the whole population once ``k`` is more than a fiftieth of it: 8 bytes per
  candidate. :func:`sorted_sample` finds the same sample from the shuffle's own draws in memory
  proportional to ``k``: for a training set of 0.5 M documents from the 5.8 M of a model's pool
  at the end of a 10× run, 17 MB instead of 50 (and 0.07 s, as numpy); at 100× (5 M of 58 M),
  166 MB instead of 504 (1.3 s instead of 1.6).

Each fast path is compared with numpy once, at import: a numpy whose draws differ, or another bit
generator, takes numpy's own way, so a run's results never depend on which path ran.
"""

from __future__ import annotations

from typing import cast

import numpy as np


def draws32(rng: np.random.Generator, n: int) -> tuple[int | None, np.ndarray]:
    """The next ``n`` 32-bit draws numpy's float32 uniforms are made of (``rng`` ends where
    ``rng.random(n, dtype=np.float32)`` leaves it): the half-output PCG64 kept in its state, if it
    had one, and an array of the rest (only the top 24 bits of a draw matter to a uniform).

    PCG64 hands out the low then the high half of each 64-bit output: taking the raw outputs at
    once skips numpy's per-draw function call. Other bit generators, or a numpy whose float32
    draws differ (checked once at import), take the plain way.
    """
    bits = rng.bit_generator
    if n > 0 and RAW_DRAWS32 and type(bits) is np.random.PCG64:
        return raw_draws32(bits, n)
    k = (rng.random(max(n, 0), dtype=np.float32) * np.float32(2.0**24)).astype(np.uint32)
    return None, k << np.uint32(8)


def raw_draws32(bits: np.random.PCG64, n: int) -> tuple[int | None, np.ndarray]:
    """The next ``n`` halves of ``bits``' raw outputs, as PCG64's own ``next_uint32`` hands them
    out (a spare half kept in the state first; a half left over kept there for the next call)."""
    state = bits.state
    spare = int(state["uinteger"]) if state["has_uint32"] else None
    need = n - (spare is not None)
    halves = bits.random_raw((need + 1) // 2).astype("<u8", copy=False).view("<u4")
    state = bits.state
    state["has_uint32"] = need % 2
    state["uinteger"] = int(halves[need]) if need % 2 else 0
    bits.state = state
    return spare, halves[:need]


def _next_draws(bits: np.random.PCG64, n: int) -> np.ndarray:
    """:func:`raw_draws32`'s ``n`` draws in one array (the spare half first)."""
    spare, draws = raw_draws32(bits, n)
    return draws if spare is None else np.append(np.uint32(spare), draws)


def _raw_draws32_match() -> bool:
    """Whether PCG64's raw outputs give numpy's float32 uniforms and the stream after them."""
    plain, fast = np.random.default_rng(7), np.random.default_rng(7)
    for n in (1, 2, 3, 1, 1, 4, 5):
        k = _next_draws(cast("np.random.PCG64", fast.bit_generator), n) >> np.uint32(8)
        if not np.array_equal(k * np.float32(2.0**-24), plain.random(n, dtype=np.float32)):
            return False
    return fast.random(3).tolist() == plain.random(3).tolist()


RAW_DRAWS32 = _raw_draws32_match()

# --- sampling without replacement ----------------------------------------------------------------

#: numpy shuffles an arange's tail when the population is larger than this ...
_TAIL_FROM_POPULATION = 10_000
#: ... and the sample more than this fraction of it (``Generator.choice`` with ``shuffle=True``)
_TAIL_FROM_SHARE = 50
#: the most shuffle draws checked per pass for a rejection (:func:`_shuffle_targets`)
_WINDOW = 1 << 13
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO32 = np.uint64(1 << 32)


def sorted_sample(ids: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``np.sort(rng.choice(ids, size=k, replace=False))``, the same array and the same stream
    after it, in memory proportional to ``k`` rather than to ``len(ids)``.

    Where numpy draws the sample by a partial Fisher–Yates shuffle of ``arange(len(ids))``, the
    shuffle's draws are made here (:func:`_shuffle_targets`) and the set of positions its tail
    ends with is found from them alone (:func:`_shuffle_tail`); sorted, the sample does not
    depend on the order the shuffle left it in. Elsewhere (a small sample, another bit
    generator, a numpy whose choice differs) numpy's own ``choice`` runs.
    """
    n = int(ids.shape[0])
    bits = rng.bit_generator
    if not (
        TAIL_SHUFFLE
        and type(bits) is np.random.PCG64
        and _TAIL_FROM_POPULATION < n < 2**31
        and n // _TAIL_FROM_SHARE < k < n
    ):
        return np.sort(rng.choice(ids, size=k, replace=False))
    return np.sort(ids.take(_shuffle_tail(n, k, bits)))


def _shuffle_targets(n: int, k: int, bits: np.random.PCG64) -> np.ndarray:
    """The swap partners numpy's tail shuffle draws: for its steps ``i = n - 1, n - 2, ..., n - k``
    a uniform ``j`` in ``0 .. i`` (int64, in step order), and ``bits`` left where it leaves it.

    numpy draws each by Lemire's method from one 32-bit draw: ``m = x · (i + 1)``, ``j = m >> 32``,
    unless the low half of ``m`` falls below ``2³² mod (i + 1)`` (on average a chance of
    ``(i + 1)/2³³``), when it draws again. The draws are checked a window at a time (about four
    expected rejections long, at most :data:`_WINDOW`), the threshold only where the low half is
    below ``i + 1`` at all; a rejected step draws again one draw at a time, and the next window
    starts after it. Exactly the draws used are taken from ``bits``.
    """
    out = np.empty(k, dtype=np.int64)
    window = int(min(_WINDOW, max(256, 4 * 2**33 // n)))
    steps = np.arange(window, dtype=np.uint64)
    pending, at = np.zeros(0, dtype=np.uint32), 0  # taken from the generator; the next to use
    s = 0
    while s < k:
        if at == pending.size:  # never more than the steps left: each step uses one draw or more
            pending, at = _next_draws(bits, k - s), 0
        w = min(window, pending.size - at)
        bound = np.uint64(n - s) - steps[:w]  # i + 1
        m = pending[at : at + w].astype(np.uint64) * bound
        low = m & _LOW32
        ok = w
        maybe = np.flatnonzero(low < bound)
        if maybe.size:
            b = bound[maybe]
            rejected = low[maybe] < (_TWO32 - b) % b
            if rejected.any():
                ok = int(maybe[np.argmax(rejected)])
        out[s : s + ok] = m[:ok] >> np.uint64(32)
        s, at = s + ok, at + ok
        if ok < w:  # step s draws again, one draw at a time, until one is accepted
            bound_s = n - s
            threshold = (2**32 - bound_s) % bound_s
            at += 1
            while True:
                if at == pending.size:
                    pending, at = _next_draws(bits, k - s), 0
                x = int(pending[at]) * bound_s
                at += 1
                if x & 0xFFFFFFFF >= threshold:
                    out[s] = x >> 32
                    s += 1
                    break
    return out


def _shuffle_tail(n: int, k: int, bits: np.random.PCG64) -> np.ndarray:
    """The positions (in no particular order) that the last ``k`` places of ``arange(n)`` hold
    after numpy's tail shuffle: for ``i = n - 1`` down to ``n - k``, swap places ``i`` and ``j_i``.

    Place ``i`` is final once step ``i`` is done, and takes what place ``j_i`` holds then. A place
    holds its own position until a step writes into it; the step with partner ``j = q`` writes
    into place ``q`` what place ``i`` held before it. So with, for each step, ``V(i)`` what place
    ``i`` holds before step ``i`` and ``W`` the latest earlier step with the same partner:

    - step ``i`` takes ``V(W)`` if there is such a ``W``, else ``j_i`` itself;
    - ``V(i) = V(w)`` with ``w`` the latest earlier step whose partner is place ``i``, else ``i``.

    Steps are grouped by partner with one sort of ``j · k + step``; ``V`` follows its chains
    (each to a larger place) by pointer doubling. About 20 bytes per step, none per candidate.
    """
    key = _shuffle_targets(n, k, bits)  # j, in step order (step s is place n - 1 - s)
    key *= k
    key += np.arange(k, dtype=np.int64)
    key.sort()  # by partner, then step: a partner's steps in the order they ran
    partner = key // k
    step = (key - partner * k).astype(np.int32)  # (k < n < 2³¹)
    del key
    later = partner[1:] == partner[:-1]  # the step before ran earlier with the same partner
    # V's pointers: what place n - 1 - s holds before step s was written there by the last
    # earlier step whose partner it is, the last of that partner's group (unless that is step s
    # itself, swapping a place with itself: then no later step has that partner, and its V is
    # never read)
    ptr = np.arange(k, dtype=step.dtype)
    last = np.flatnonzero(np.append(~later, True))  # each partner's last step
    last = last[partner[last] >= n - k]  # partners that are places of steps
    ptr[n - 1 - partner[last]] = step[last]
    while True:  # pointer doubling: each chain ends at a place no earlier step wrote into
        further = ptr[ptr]
        if np.array_equal(further, ptr):
            break
        ptr = further
    taken = partner  # (reused) steps that nothing wrote into before take their partner
    taken[1:][later] = n - 1 - ptr[step[:-1][later]]
    return taken


def _tail_shuffle_match() -> bool:
    """Whether :func:`sorted_sample` gives numpy's sample and stream (a spare half-output or not,
    samples of a few and of most of the population)."""
    ids = np.arange(20_000, dtype=np.int64) * 3
    for seed, k in ((1, 401), (2, 5_000), (3, 19_999)):
        plain, fast = np.random.default_rng(seed), np.random.default_rng(seed)
        if seed % 2:
            plain.random(1, dtype=np.float32), fast.random(1, dtype=np.float32)
        expected = np.sort(plain.choice(ids, size=k, replace=False))
        bits = cast("np.random.PCG64", fast.bit_generator)
        if not np.array_equal(np.sort(ids.take(_shuffle_tail(ids.size, k, bits))), expected):
            return False
        if plain.random(3).tolist() != fast.random(3).tolist():
            return False
    return True


TAIL_SHUFFLE = RAW_DRAWS32 and _tail_shuffle_match()
