"""What crosses between a process that trains and the recording process: one dataclass per
kind of message, each carrying the token of the run (or call) it belongs to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vgx.errors import UsageError


class RecordingFailed(RuntimeError):
    """A bug in the recording process (its traceback attached); user mistakes are UsageErrors."""


@dataclass(frozen=True)
class StartRun:
    token: int
    uri: str
    experiment: str
    run_name: str
    params: dict[str, str]
    tags: dict[str, str]
    parent: str | None
    started_ms: int | None = None  # when the training began: the run's start in MLflow


@dataclass(frozen=True)
class LogEpoch:
    token: int
    epoch: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class FinishRun:
    token: int
    status: str
    tags: dict[str, str]
    artifacts: Path | None
    figures: object  # a vgx.store.run_figures.RunFigures, drawn where the run is recorded
    ended_ms: int | None = None  # when the training ended: the run's end in MLflow


@dataclass(frozen=True)
class Call:
    """Run a module-level function there (pickled by reference) and send back its value."""

    token: int
    function: Callable[..., Any]
    args: tuple


@dataclass(frozen=True)
class Started:
    token: int
    run_id: str


@dataclass(frozen=True)
class Finished:
    token: int
    seconds: dict[str, float]  # what the closing took: the figures' time


@dataclass(frozen=True)
class Returned:
    token: int
    value: Any


@dataclass(frozen=True)
class Failed:
    """A run or call that failed there: a user's mistake as one line, else a bug's traceback."""

    token: int
    line: str | None
    trace: str

    def error(self) -> Exception:
        return UsageError(self.line) if self.line else RecordingFailed(self.trace)


Message = StartRun | LogEpoch | FinishRun | Call
Reply = Started | Finished | Returned | Failed
