"""A pyabc sampler whose generations do not depend on where or in what order they run.

pyabc's own samplers draw each particle's proposal from numpy's global generator: the serial
one from the generator the caller seeded, the Dask one from a generator each job seeds again
from the operating system's entropy, so a calibration on Dask workers could never be repeated.
:class:`SeededSampler` numbers the proposals of a generation 0, 1, 2, ... (pyabc's jobs, one
proposal each) and runs proposal ``j`` of generation ``t`` with numpy's and Python's global
generators seeded from ``(seed, j, t + 1)``; the particle's simulation has its own seed, from its
settings (:func:`~habsburg.experiments.calibration.simulator.seed_of`). A generation keeps the
proposals in their numbers' order up to the ``n``-th accepted one, as pyabc's first-started rule
does for its Dask sampler, so it holds the same particles however many workers ran it, serially
or on Dask, and whether later-numbered proposals finished first. Its count of simulations (the
acceptance rate pyabc reports) is of those kept: a Dask generation may have started a few more,
which it cancels or drops.
"""

from __future__ import annotations

import bisect
import random
from typing import TYPE_CHECKING, Any

import cloudpickle
import numpy as np
from pyabc.sampler import Sampler
from tqdm.auto import tqdm

from habsburg.experiments.files import stop_if_interrupted

if TYPE_CHECKING:
    from collections.abc import Callable

    from distributed import Client, Future
    from pyabc.population import Sample


def proposal_seed(seed: int, t: int, job: int) -> np.ndarray:
    """The words that seed proposal ``job`` of generation ``t`` (pyabc's ``t = -1``: the sample
    that sets the first threshold when it is taken from the prior)."""
    return np.random.SeedSequence([seed, job, t + 1]).generate_state(4)


def run_proposal(simulate_one: bytes | Callable[[], Any], seed: int, t: int, job: int) -> Any:
    """pyabc's ``simulate_one`` (pickled with cloudpickle, or the function itself) for proposal
    ``job`` of generation ``t``, with the global generators seeded for it and restored after."""
    numpy_state, python_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    words = proposal_seed(seed, t, job)
    np.random.seed(words)  # noqa: NPY002  (pyabc proposes from the global generator)
    random.seed(int.from_bytes(words.tobytes(), "little"))
    try:
        call = cloudpickle.loads(simulate_one) if isinstance(simulate_one, bytes) else simulate_one
        return call()
    finally:
        np.random.set_state(numpy_state)  # noqa: NPY002
        random.setstate(python_state)


class SeededSampler(Sampler):
    """Runs each generation's numbered proposals serially (``client`` None) or on a Dask client,
    at most as many at once as its workers have threads, and keeps the same ones either way."""

    def __init__(self, seed: int, client: Client | None = None) -> None:
        super().__init__()
        self.seed = seed
        self.client = client

    def sample_until_n_accepted(
        self,
        n: int,
        simulate_one: Callable[[], Any],
        t: int,
        *,
        max_eval: float = np.inf,
        all_accepted: bool = False,
        ana_vars: Any = None,
    ) -> Sample:
        # (max_eval, all_accepted and ana_vars are hints pyabc's dynamic samplers may ignore)
        label = f"generation {t}" if t >= 0 else "sample from the prior"
        with tqdm(total=n, desc=label, disable=not self.show_progress, leave=False) as bar:
            if self.client is None:
                results = self._serial(n, simulate_one, t, bar)
            else:
                results = self._dask(n, simulate_one, t, bar)
        sample = self._create_empty_sample()
        for particle in results:
            sample.append(particle)
        self.nr_evaluations_ = len(results)
        return sample

    def _serial(self, n: int, simulate_one: Callable[[], Any], t: int, bar: tqdm) -> list:
        results: list[Any] = []
        accepted = 0
        while accepted < n:
            stop_if_interrupted()  # (a Ctrl-C lost in a finalizer: raised here again)
            results.append(particle := run_proposal(simulate_one, self.seed, t, len(results)))
            if particle.accepted:
                accepted += 1
                bar.update()
        return results

    def _dask(self, n: int, simulate_one: Callable[[], Any], t: int, bar: tqdm) -> list:
        """Proposals in flight on the client until the ``n``-th accepted one by number is known
        and every proposal numbered before it has finished; the results up to it, in order."""
        from distributed import as_completed

        assert self.client is not None
        client = self.client
        payload = cloudpickle.dumps(simulate_one)
        slots = max(1, sum(client.nthreads().values()))
        results: dict[int, Any] = {}
        accepted: list[int] = []  # numbers of the accepted proposals, sorted
        running: dict[Future, int] = {}
        done = as_completed()
        submitted = 0

        def last() -> float:  # the number of the n-th accepted proposal, if there are n
            return accepted[n - 1] if len(accepted) >= n else np.inf

        try:
            while True:
                while len(running) < slots and submitted < last():
                    future = client.submit(
                        run_proposal, payload, self.seed, t, submitted, pure=False
                    )
                    running[future] = submitted
                    done.add(future)
                    submitted += 1
                bound = last()
                if not any(job < bound for job in running.values()):
                    break
                future = next(done)
                stop_if_interrupted()
                job = running.pop(future, None)
                if job is None or job > last():  # (cancelled, or no longer needed)
                    continue
                particle = future.result()
                results[job] = particle
                if particle.accepted:
                    bisect.insort(accepted, job)
                    bar.update(1 if len(accepted) <= n else 0)  # (one after n replaces one)
                    for other, number in list(running.items()):
                        if number > last():
                            other.cancel()
                            running.pop(other)
        finally:
            for future in running:
                future.cancel()
        end = last()
        assert end < np.inf
        return [results[job] for job in range(int(end) + 1)]
