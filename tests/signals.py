"""Sending a real signal to a habsburg command running as a child process, once it is ready
(a plain module, as ``tinyscenario``: shared by the interruption tests of several folders)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any


def signal_when_ready(
    command: list[str],
    ready: Callable[[], bool],
    signum: int,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, str]:
    """Start ``command``, send it ``signum`` as soon as ``ready()`` (or once it has exited, or
    after ``timeout`` s), and return its exit status and stderr.

    A shell without job control starts background jobs with SIGINT ignored, which a child
    inherits (and Python then keeps ignoring it: no KeyboardInterrupt). A handled signal is reset
    to the default by exec, so the child starts with Python's own SIGINT handling."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.005)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def interrupt_after_writes(monkeypatch: Any, runs: int) -> None:
    """Ctrl-C right after the ``runs``-th run of a sweep, a sensitivity analysis or a
    comparison has its files written (in this process: with the serial executor, or the
    orchestrator of any)."""
    from habsburg.experiments.sweep import orchestration

    real = orchestration.write_run_output
    written = []

    def write(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        written.append(1)
        if len(written) == runs:
            raise KeyboardInterrupt

    monkeypatch.setattr(orchestration, "write_run_output", write)
