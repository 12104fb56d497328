"""Ctrl-C and SIGTERM as a request to stop at the next step."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_signal() -> Iterator[threading.Event]:
    """Ctrl-C or SIGTERM asks the loop to stop at the next step, so that no write to the store is
    cut in half; a second signal stops at once."""
    requested = threading.Event()

    def handler(signum, frame):  # noqa: ANN001
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield requested
        return
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
