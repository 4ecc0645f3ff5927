"""The fork server of a local Dask cluster's workers, importable without loading the simulator.

A local cluster's worker processes are forked from one fork server that imported habsburg and
Dask once (:data:`FORKSERVER_PRELOAD`), instead of each worker importing them afresh. This module
imports nothing heavy, so a command can start the fork server *before* it loads the simulator
itself: the two imports (~1.6 s each on this machine) then run side by side on two cores instead of
one after the other (``habsburg sweep``, ``sensitivity``, ``calibrate`` and ``compare --workers``
do).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import signal

#: modules the local cluster's fork server imports once; every worker is forked from it with them
#: loaded, instead of a fresh interpreter importing them again per worker (~1.5 s on 2 cores)
FORKSERVER_PRELOAD = ["distributed", "habsburg.experiments.sweep.executors"]
#: environment the fork server starts with: one thread (OpenBLAS starts no pool and pyarrow's
#: jemalloc no background thread), so forking it is safe and Python 3.12+ has nothing to warn
#: about. Workers inherit it: one BLAS thread each, which is what one single-threaded worker per
#: core wants (a run's steps use one BLAS thread anyway).
FORKSERVER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}


def start_fork_server() -> str:
    """The start method of a local cluster's worker processes: ``forkserver`` where the platform
    has it, with the fork server started now, single-threaded (:data:`FORKSERVER_ENV`) and
    importing habsburg and Dask (:data:`FORKSERVER_PRELOAD`) while this process goes on; ``spawn``
    elsewhere. Returns at once. A fork server already running in this process is used as it is
    (so calling this early, then again when the cluster starts, starts one server). It exits
    with this process."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    multiprocessing.get_context("forkserver").set_forkserver_preload(FORKSERVER_PRELOAD)
    saved = {key: os.environ.get(key) for key in FORKSERVER_ENV}
    os.environ.update(FORKSERVER_ENV)
    try:
        multiprocessing.forkserver.ensure_running()  # inherits this environment; returns at once
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return "forkserver"


def stop_fork_server() -> None:
    """End this process's fork server now, even while it is still importing. (The standard
    library's fork server ends by itself when this process exits, but only once its imports are
    done: a command that fails on bad input right after starting it early would leave it running
    for another second or so.) A no-op without one; workers already forked are not touched."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None:
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    stop = getattr(server, "_stop", None)  # closes its pipe, reaps it, forgets it (3.8+)
    if stop is not None:
        with contextlib.suppress(OSError):
            stop()
