"""Ctrl-C, SIGTERM and SIGHUP as a request to stop: at the next step inside the training loop,
as Ctrl-C anywhere else."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from vgx.errors import STOP_SIGNALS


def _as_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def signals_as_ctrl_c() -> Iterator[None]:
    """SIGTERM and SIGHUP stop a command as Ctrl-C does: its runs end `interrupted` with what
    was measured, exit code 130 (Python's default would end the process where it stands)."""
    try:
        previous = {sig: signal.signal(sig, _as_ctrl_c) for sig in STOP_SIGNALS[1:]}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def stop_on_signal() -> Iterator[threading.Event]:
    """Ctrl-C, SIGTERM or SIGHUP asks the loop to stop at the next step, so that no write to the
    store is cut in half; a second signal stops at once."""
    requested = threading.Event()

    def handler(signum, frame):  # noqa: ANN001
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    try:
        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    except ValueError:  # not the main thread: leave signals alone
        yield requested
        return
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
