"""A stack as a unit of work: train its runs together, then record each as its own MLflow run,
wherever it runs (the sweep's process, a local worker, a cluster node). What it needs travels
with it, pickled; what comes back says which runs were recorded and how the stack ended."""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vgx.config import TrainConfig


@dataclass
class StackRun:
    """One job of the sweep as its stack carries it."""

    index: int  # the job's number in the sweep
    cfg: TrainConfig
    resolved: dict
    output_dir: Path
    uri: str
    name: str  # its MLflow run name
    overrides: list[str]


@dataclass
class Stack:
    number: int  # 1-based, as the sweep's output counts them
    of: int  # how many stacks the sweep has
    runs: list[StackRun]


@dataclass
class StackOutcome:
    number: int
    losses: dict[int, float] = field(default_factory=dict)  # job index → final validation loss
    interrupted: list[str] = field(default_factory=list)  # runs a stop request ended early
    error: str | None = None  # why the stack failed: its runs are recorded as failed
    where: str = ""  # host:pid that trained it
    seconds: float = 0.0  # training and recording
    skipped: bool = False  # never started: a stop request came first (nothing recorded)

    @property
    def failed(self) -> bool:
        return self.error is not None


class StackExecutor(Protocol):
    """Where stacks train: local worker processes (vgx/sweeps/workers.py) or cluster jobs
    (vgx/sweeps/cluster.py)."""

    def run(
        self,
        stacks: list[Stack],
        on_outcome: Callable[[StackOutcome], None],
        stop_requested: Callable[[], bool] = ...,
        say: Callable[[str], None] = ...,
    ) -> list[StackOutcome]:
        """Every stack's outcome; `on_outcome` hears each as it ends; once `stop_requested()`,
        stacks in training stop at their next step and waiting ones do not start; `say` gets
        a line as each stack starts."""
        ...


def train_and_record(stack: Stack, should_stop: Callable[[], bool] | None = None) -> StackOutcome:
    """Train the stack, record every run; an error in training records them all as failed
    (the sweep goes on with its other stacks and says which failed)."""
    trained = train_stack(stack, should_stop)
    if isinstance(trained, StackOutcome):
        return trained
    return record_stack(stack, trained)


@dataclass
class TrainedStack:
    """A stack's training, before its runs are recorded (they may be recorded elsewhere)."""

    number: int
    results: list  # vgx.core.loop.TrainResult, one a run
    where: str
    seconds: float


def train_stack(
    stack: Stack, should_stop: Callable[[], bool] | None = None
) -> TrainedStack | StackOutcome:
    """The stack's training; a failed outcome (its runs recorded as failed) on an error."""
    from vgx.core.loop import train

    started = time.perf_counter()
    where = f"{socket.gethostname()}:{os.getpid()}"
    try:
        results = train([run.cfg for run in stack.runs], should_stop=should_stop)
    except Exception as exc:  # the stack's own failure: its runs say so, the others go on
        failed = failed_outcome(stack, f"{type(exc).__name__}: {exc}".splitlines()[0])
        failed.where, failed.seconds = where, time.perf_counter() - started
        return failed
    return TrainedStack(stack.number, results, where, time.perf_counter() - started)


def record_stack(stack: Stack, trained: TrainedStack) -> StackOutcome:
    """Record every run of a trained stack, each as its own MLflow run."""
    from vgx.store.tracking import runs_written_together
    from vgx.sweeps.job import record_trained

    started = time.perf_counter()
    outcome = StackOutcome(stack.number, where=trained.where)
    with runs_written_together():
        for run, result in zip(stack.runs, trained.results, strict=True):
            recorded = record_trained(
                run.cfg, run.resolved, run.output_dir, run.uri, run.name, result, run.overrides
            )
            outcome.losses[run.index] = recorded.val_loss
            if result.status == "interrupted":
                outcome.interrupted.append(run.name)
    outcome.seconds = trained.seconds + time.perf_counter() - started
    return outcome


def failed_outcome(stack: Stack, error: str) -> StackOutcome:
    """The outcome of a stack that failed, its runs recorded as failed (`fail_runs`)."""
    fail_runs(stack.runs, error)
    return StackOutcome(stack.number, {run.index: math.nan for run in stack.runs}, error=error)


def fail_runs(runs: list[StackRun], error: str) -> None:
    """Record as failed the runs of a stack that did not finish: a run already recorded as
    finished by the stack's worker before it died stays; one it left half-recorded is closed."""
    from vgx.store.tracking import close_failed, sweep_children
    from vgx.sweeps.job import record_failed

    first = runs[0].cfg
    recorded = sweep_children(
        runs[0].uri, first.tracking.experiment, first.tracking.parent_run_id, [r.name for r in runs]
    )
    for run in runs:
        found = recorded.get(run.name)
        if found is None:
            record_failed(
                run.cfg, run.resolved, run.output_dir, run.uri, run.name, error, run.overrides
            )
        elif found[1] == "RUNNING":
            close_failed(run.uri, found[0], error)
