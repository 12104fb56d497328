"""The sweep's parent run, made by the recording process while this process goes on.

Every job's config carries the parent's id, so a sweep waited for MLflow's import, a new store's
tables and the parent run (~1.2 s of a 64-run sweep) before composing its first job. A batched
sweep on an SQLite store chooses the id itself instead and goes on composing and training; the
launcher waits for the parent only before it records a run (`confirmed`). Should the store not
take the chosen id (a schema vgx does not know), the launcher hands its jobs MLflow's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable


class PendingParent:
    """A parent run asked for under a chosen id, not yet known to be made."""

    def __init__(self, chosen: str, made: Callable[[], str]) -> None:
        self.chosen = chosen
        self._made: Callable[[], str] | None = made
        self._id = chosen

    def confirmed(self) -> str:
        """The parent's id once it exists (the store's error, should it fail, is raised here)."""
        if self._made is not None:
            made, self._made = self._made, None
            self._id = made()
        return self._id


_pending: PendingParent | None = None


def choose_parent(made_with: Callable[[str], Callable[[], str]]) -> PendingParent:
    """Choose the parent's id and ask for it (`made_with(id)` starts the making and returns what
    waits for the made id); the launcher finds it with `pending_parent`."""
    global _pending
    chosen = uuid.uuid4().hex
    _pending = PendingParent(chosen, made_with(chosen))
    return _pending


def pending_parent() -> PendingParent | None:
    return _pending


def forget_parent() -> None:
    global _pending
    _pending = None
