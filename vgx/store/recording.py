"""Tracking in a second process, beside the training instead of before and after it.

Importing MLflow and opening its store take ~2.5 s, more than the default run's training; in the
training process they would double a run's wall time (README, Performance). A recording process
started with the run imports them while the run trains, receives each epoch's metrics as it is
measured, renders the figures, and closes the run. It ignores Ctrl-C: the training process
decides how a run ends, and if that process dies, the recorder still closes the run with every
epoch it was sent. Set VGX_BACKGROUND_RECORDING=0 to record in the training process instead.

Only the process a person started (the `vgx` command) records this way: a parallel launcher's
workers already keep every core busy, and record in their own process. A sweep also hands the
recording process its other MLflow work as functions to call (`call`): the parent run, the resume
check, a batched sweep's recordings and the report, so that the launcher's process never imports
MLflow. What crosses between the processes is typed: `vgx.store.messages`.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import multiprocessing
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from vgx.helper_processes import ignore_stop_signals, starting_helpers
from vgx.results import tracked
from vgx.store.messages import (
    Call,
    Failed,
    Finished,
    FinishRun,
    LogEpoch,
    Message,
    RecordingFailed,
    Reply,
    Returned,
    Started,
    StartRun,
)

_process: RecordingProcess | None = None
_enabled = False


class Recorder(Protocol):
    """One run's recording, in this process (`vgx.store.tracking.RunRecorder`) or in the
    recording process (`BackgroundRecorder`): the same calls, in the same order."""

    run_id: str | None

    def start(
        self,
        run_name: str,
        params: dict[str, str],
        tags: dict[str, str],
        parent: str | None = None,
        started_ms: int | None = None,
    ) -> object: ...

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None: ...

    def finish(
        self,
        status: str,
        tags: dict[str, str],
        artifacts: Path | None,
        figures: object = None,
        ended_ms: int | None = None,
    ) -> dict[str, float]: ...


def start_background() -> None:
    """Runs of this process record in a recording process, started now so that it imports
    MLflow while this one imports torch (unless $VGX_BACKGROUND_RECORDING=0)."""
    global _enabled
    _enabled = True
    background()


def background() -> RecordingProcess | None:
    """The recording process where this process records in one (one, reused by every run of a
    sweep), else None: record here."""
    global _process
    wanted = os.environ.get("VGX_BACKGROUND_RECORDING", "1") not in ("0", "false", "no")
    if not (_enabled and wanted):
        return None
    if _process is not None and _process.alive():
        return _process
    try:
        _process = RecordingProcess()
    except Exception:  # noqa: BLE001 - e.g. a daemonic worker may not have children: record inline
        _process = None
    return _process


def open_recorder(uri: str, experiment: str) -> Recorder:
    """A recorder for one run: in the recording process where one can run, else in this one."""
    from vgx.store.tracking import RunRecorder

    process = background()
    if process is None:
        return RunRecorder(uri, experiment)
    return BackgroundRecorder(process, uri, experiment)


def call(function: Callable[..., Any], *args: object) -> Any:
    """`function(*args)`, run by the recording process where this process records in one
    (MLflow is imported there already), else here. `function` must be a module-level function:
    it travels by reference."""
    process = background()
    if process is None:
        return function(*args)
    return process.call(function, *args)()


class RecordingProcess:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process that runs torch
        self._connection, theirs = context.Pipe()
        self._tokens = itertools.count(1)
        self._replies: dict[int, list[Reply]] = {}
        self._lock = threading.Lock()
        self._used = False
        self.process = context.Process(target=serve, args=(theirs,), daemon=True, name="vgx-rec")
        with starting_helpers():  # a terminal's Ctrl-C leaves it running, from its start
            self.process.start()
        theirs.close()
        atexit.register(self.close)

    def close(self, timeout: float = 60.0) -> None:
        """Let the recorder finish what it was sent and stop (at exit: before multiprocessing
        would terminate it). One that was never sent anything is not waited for (a command
        line refused before any run: its one line should not wait for MLflow's import)."""
        self._connection.close()
        if self._used:
            self.process.join(timeout)
        if self.process.is_alive():  # it ignores SIGTERM, multiprocessing's way to end it
            self.process.kill()
            self.process.join(5)

    def alive(self) -> bool:
        return self.process.is_alive()

    def token(self) -> int:
        return next(self._tokens)

    def send(self, message: Message) -> None:
        self._used = True
        try:
            with self._lock:
                self._connection.send(message)
        except (BrokenPipeError, EOFError, OSError) as exc:
            raise RecordingFailed("the recording process stopped") from exc

    def call(self, function: Callable[..., Any], *args: object) -> Callable[[], Any]:
        """Start `function(*args)` in the recording process, where MLflow is imported already;
        returns what waits for its value (and raises its error). One at a time, in the order
        sent, between the runs it records."""
        token = self.token()
        self.send(Call(token, function, args))

        def value() -> Any:
            reply = self.reply(token, wait=True)
            if isinstance(reply, Failed):
                raise reply.error()
            assert isinstance(reply, Returned)
            return reply.value

        return value

    def reply(self, token: int, wait: bool) -> Reply | None:
        """The next reply for `token`; None when none has come and `wait` is false."""
        while True:
            waiting = self._replies.get(token)
            if waiting:
                return waiting.pop(0)
            if not wait and not self._connection.poll():
                return None
            try:
                message = self._connection.recv()
            except (EOFError, OSError) as exc:
                raise RecordingFailed("the recording process stopped") from exc
            self._replies.setdefault(message.token, []).append(message)


class BackgroundRecorder:
    """RunRecorder's calls, carried out by the recording process."""

    def __init__(self, process: RecordingProcess, uri: str, experiment: str) -> None:
        self._process = process
        self._token = process.token()
        self.uri, self.experiment = uri, experiment
        self.run_id: str | None = None
        self._error: BaseException | None = None
        self._raised = False

    def start(
        self,
        run_name: str,
        params: dict[str, str],
        tags: dict[str, str],
        parent: str | None = None,
        started_ms: int | None = None,
    ) -> None:
        message = StartRun(
            self._token, self.uri, self.experiment, run_name, params, tags, parent, started_ms
        )
        self._process.send(message)

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self._take_replies(wait=False)
        self._raise_once()
        self._process.send(LogEpoch(self._token, epoch, tracked(metrics)))

    def finish(
        self,
        status: str,
        tags: dict[str, str],
        artifacts: Path | None,
        figures: object = None,
        ended_ms: int | None = None,
    ) -> dict[str, float]:
        """Close the run; waits until it is closed. Raises the recording's error if this run has
        not raised it yet (the run may have trained before the store answered)."""
        if self._error is None:
            message = FinishRun(self._token, status, tags, artifacts, figures, ended_ms)
            self._process.send(message)
            seconds = self._take_replies(wait=True)
            if seconds is not None:
                return seconds
        self._raise_once()
        return {}

    def _take_replies(self, wait: bool) -> dict[str, float] | None:
        """Read this run's replies; with `wait`, until it is finished (its seconds) or failed."""
        while self._error is None:
            reply = self._process.reply(self._token, wait)
            if reply is None:
                return None
            if isinstance(reply, Started):
                self.run_id = reply.run_id
            elif isinstance(reply, Finished):
                return reply.seconds
            elif isinstance(reply, Failed):
                self._error = reply.error()
        return None

    def _raise_once(self) -> None:
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error


def serve(connection) -> None:  # noqa: ANN001 - a multiprocessing Connection
    """The recording process: runs open, closed, and failed as the training process says."""
    ignore_stop_signals()  # the trainer decides how its runs end; its exit ends this process
    inbox: queue.Queue = queue.Queue()

    def read() -> None:  # drains the pipe while MLflow imports, so the trainer never waits
        while True:
            try:
                inbox.put(connection.recv())
            except (EOFError, OSError):
                inbox.put(None)
                return

    threading.Thread(target=read, daemon=True).start()
    from vgx.store import tracking  # MLflow's import starts here, beside the training

    tracking.warm_up()
    runs: dict[int, tracking.RunRecorder] = {}
    failed: set[int] = set()
    warmed = False
    while True:
        try:
            message = inbox.get(timeout=None if warmed else 0.05)
        except queue.Empty:
            from vgx.store.run_figures import warm_up  # matplotlib, while the run trains

            warm_up()
            warmed = True
            continue
        if message is None:  # the training process is gone: keep what it sent
            for recorder in runs.values():
                _close_quietly(recorder)
            connection.close()
            os._exit(0)
        token = message.token
        if token in failed:
            continue
        try:
            _handle(message, runs, connection)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the trainer
            from vgx.errors import one_line, server_gone

            failed.add(token)
            recorder = runs.pop(token, None)
            if recorder is not None and not server_gone(exc):  # a full disk: close the run
                _close_quietly(recorder, "failed")  # (a server gone: the next command will)
            _reply(connection, Failed(token, one_line(exc), traceback.format_exc()))


def _handle(message: Message, runs: dict, connection) -> None:  # noqa: ANN001
    from vgx.store.tracking import RunRecorder

    token = message.token
    if isinstance(message, StartRun):
        recorder = RunRecorder(message.uri, message.experiment)
        runs[token] = recorder
        run_id = recorder.start(
            message.run_name, message.params, message.tags, message.parent, message.started_ms
        )
        _reply(connection, Started(token, run_id))
    elif isinstance(message, LogEpoch):
        runs[token].log_epoch(message.epoch, message.metrics)
    elif isinstance(message, FinishRun):
        recorder = runs.pop(token)
        seconds = recorder.finish(
            message.status, message.tags, message.artifacts, message.figures, message.ended_ms
        )
        _reply(connection, Finished(token, seconds))
    elif isinstance(message, Call):
        _reply(connection, Returned(token, message.function(*message.args)))


def _reply(connection, message: Reply) -> None:  # noqa: ANN001
    """A reply the trainer may no longer be there to read: the runs it sent are still closed."""
    with contextlib.suppress(OSError):
        connection.send(message)


def _close_quietly(recorder, status: str = "interrupted") -> None:  # noqa: ANN001 - a RunRecorder
    """Close a run whatever the store says; a full disk may refuse the first try (SQLite's
    journal of the failed write is still there) and take the second."""
    attempts = 3 if recorder.uri.startswith("sqlite") else 1
    for attempt in range(attempts):
        try:
            recorder.finish(status, {}, None)
            return
        except Exception:  # noqa: BLE001 - the store may be what failed; no one left to tell
            time.sleep(0.2 * (attempt + 1))
