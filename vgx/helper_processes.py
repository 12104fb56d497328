"""Helper processes (the recorder, recording and stack workers) leave stop signals to the
command's process, which decides how its runs end. A signal to the whole group reaches them
too, and one that came while a helper was still starting (a second or more under load: Python,
then the imports its task needs) ended it before it could ignore the signal, with the runs it
was to record."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import resource_tracker

from vgx.errors import STOP_SIGNALS


@contextmanager
def starting_helpers() -> Iterator[None]:
    """Processes started within it begin with the stop signals blocked (a thread's mask is
    inherited through fork and exec) until `ignore_stop_signals`. In this process a signal
    meanwhile waits, blocked in this thread only: it is not lost, as it would be ignored."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    # multiprocessing starts its resource tracker with the first process it spawns, and then
    # unblocks SIGINT and SIGTERM in the starting thread, whatever the mask was before
    resource_tracker.ensure_running()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def ignore_stop_signals() -> None:
    """A helper's first step: ignore the stop signals, which discards one that came while it
    started, then take them off the mask `starting_helpers` left it."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
