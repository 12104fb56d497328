"""Turns that vgx's processes take on one SQLite store: a lock file per database and purpose,
outside the store's folder (nothing is left beside the store)."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def store_lock(database: Path, purpose: str) -> Iterator[None]:
    """Exclusive while held, per database file and purpose ("store": creating its tables,
    "write": a bulk write). Where there is no fcntl (not POSIX), SQLite's own waiting is all."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    key = hashlib.sha256(str(database.absolute().resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"vgx-{purpose}-{key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
