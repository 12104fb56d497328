"""Stacks on worker processes of this machine, one per core: the sweep hands each idle worker
the next stack; the worker trains it and records its runs (or sends a small stack's training
back to be recorded). A worker that dies (kill -9, out of memory) fails only the stack it held;
a replacement takes the stacks still waiting.

concurrent.futures' process pool does not fit: one dead worker breaks the whole pool and
terminates the others, stacks and all."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import NoReturn

from vgx.helper_processes import ignore_stop_signals, starting_helpers
from vgx.sweeps.stacks import Stack, StackOutcome, TrainedStack, failed_outcome, record_stack

PARENT_CHECK_S = 1.0  # how often a worker looks whether its sweep's process is still there
POLL_S = 0.5  # how often the sweep looks at its workers while it waits
# A worker records a stack of this many runs itself; a smaller one goes back to the sweep's
# recording process, which has imported MLflow already: importing it in each worker (~4 s of a
# core) cost a study of small stacks more than recording its runs.
RECORD_IN_WORKER_FROM = 32


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class _Worker:
    process: multiprocessing.Process
    connection: Connection  # the sweep's end of the worker's own pipe
    stack: int | None = None  # the stack it was handed and has not answered for


class LocalWorkers:
    """`count` worker processes sharing the cores: each trains with cores // count threads.

    Each worker has a pipe of its own: the sweep hands it a stack when it is idle and reads
    its answer. A shared queue does not fit either: its lock is held by whichever process is
    writing or waiting, and a worker killed at that moment leaves every other one stuck."""

    def __init__(
        self, count: int, record_in_worker_from: int = RECORD_IN_WORKER_FROM, kept: bool = False
    ) -> None:
        self.count = max(1, count)
        self.record_in_worker_from = record_in_worker_from
        self.kept = kept  # the workers wait for the next sweep's stacks until `close`
        self.threads = max(1, default_workers() // self.count)
        self._context = multiprocessing.get_context("spawn")  # no fork after torch's threads
        self._stop = self._context.Event()
        self._workers: list[_Worker] = []

    def start(self) -> LocalWorkers:
        """Start every worker now: each imports torch and vgx (~3 s) while the sweep's process
        still loads its jobs."""
        while len(self._workers) < self.count:
            self._workers.append(self._start())
        return self

    def run(
        self,
        stacks: list[Stack],
        on_outcome: Callable[[StackOutcome], None],
        stop_requested: Callable[[], bool] = lambda: False,
        say: Callable[[str], None] = print,
    ) -> list[StackOutcome]:
        """Every stack's outcome, in the order they ended; `on_outcome` hears each as it ends.
        Stacks are handed out in the order given. Once `stop_requested()`, the stacks in
        training end at their next step (their runs recorded as interrupted) and the waiting
        ones do not start."""
        by_number = {stack.number: stack for stack in stacks}
        unhanded = list(stacks)
        waiting = set(by_number)
        outcomes: list[StackOutcome] = []
        workers = self._workers
        starts_left = self.count + len(stacks)  # replacements for dead workers, not forever
        recorder = _StackRecorder()  # stacks trained, recorded here

        def finish(outcome: StackOutcome) -> None:
            recorder.pending.discard(outcome.number)
            if outcome.number in waiting:
                waiting.discard(outcome.number)
                outcomes.append(outcome)
                on_outcome(outcome)

        def answer(worker: _Worker, kind: str, payload: object) -> None:
            worker.stack = None
            if kind == "trained":
                recorder.record(by_number[payload.number], payload)
            elif kind == "skipped":
                finish(StackOutcome(payload, skipped=True))
            else:
                finish(payload)

        def hand_out() -> None:
            for worker in workers:
                if not unhanded:
                    return
                if worker.stack is not None or not worker.process.is_alive():
                    continue
                stack = unhanded.pop(0)
                try:
                    worker.connection.send(stack)
                except OSError:  # it died: its sentinel says so below
                    unhanded.insert(0, stack)
                    continue
                worker.stack = stack.number
                say(
                    f"[batched] stack {stack.number}/{stack.of} ({len(stack.runs)} runs) "
                    f"training in worker pid {worker.process.pid}"
                )

        try:
            while len(workers) < min(self.count, len(stacks)):
                workers.append(self._start())
            while waiting:
                if stop_requested():
                    self._stop.set()
                if self._stop.is_set():  # the stacks not handed out do not start
                    for stack in unhanded:
                        finish(StackOutcome(stack.number, skipped=True))
                    unhanded.clear()
                hand_out()
                if not waiting:
                    break
                sources = [w.connection for w in workers if w.stack is not None]
                sources += [w.process.sentinel for w in workers] + [recorder.connection]
                for ready in wait(sources, timeout=POLL_S):
                    if ready is recorder.connection:
                        finish(recorder.connection.recv())
                        continue
                    for worker in workers:
                        if ready is worker.connection:
                            with contextlib.suppress(EOFError, OSError):  # died: seen below
                                answer(worker, *worker.connection.recv())
                for worker in [w for w in workers if not w.process.is_alive()]:
                    with contextlib.suppress(EOFError, OSError):  # what it said before dying
                        while worker.stack is not None and worker.connection.poll():
                            answer(worker, *worker.connection.recv())
                    workers.remove(worker)
                    worker.connection.close()
                    if worker.stack is not None:
                        code = worker.process.exitcode
                        error = f"its worker (pid {worker.process.pid}) died, exit code {code}"
                        finish(failed_outcome(by_number[worker.stack], error))
                while unhanded and len(workers) < self.count and starts_left > 0:
                    workers.append(self._start())  # a replacement takes the waiting stacks
                    starts_left -= 1
                if unhanded and not workers:  # nothing left to train them
                    for stack in unhanded:
                        finish(failed_outcome(stack, "no worker was left to train it"))
                    unhanded.clear()
        except BaseException:
            self._stop.set()
            for worker in workers:
                worker.process.kill()
            raise
        finally:
            recorder.close()
            if not self.kept:
                self.close()
        return outcomes

    def reusable(self) -> bool:
        """Whether a kept pool may take another sweep's stacks: no stop was asked of it."""
        return self.kept and not self._stop.is_set()

    def close(self) -> None:
        """End the workers (an end-of-work mark each) and wait for them."""
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.connection.send(None)
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.connection.close()
        self._workers.clear()

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_work,
            args=(theirs, self._stop, os.getpid(), self.threads, self.record_in_worker_from),
            name="vgx-stack-worker",
            daemon=True,
        )
        with starting_helpers():
            process.start()
        theirs.close()
        return _Worker(process, ours)


_shared: LocalWorkers | None = None  # the kept pool, while `shared_between_sweeps` holds
_sharing = False


@contextmanager
def shared_between_sweeps() -> Iterator[None]:
    """Within it, the sweeps of this process share one pool of workers: several studies in one
    command import torch and generate their data once a worker, not once a study."""
    global _sharing, _shared
    _sharing = True
    try:
        yield
    finally:
        _sharing = False
        if _shared is not None:
            _shared.close()
            _shared = None


def local_workers(count: int) -> LocalWorkers:
    """A pool of `count` workers: the shared one where it fits, else a new one."""
    global _shared
    if not _sharing:
        return LocalWorkers(count)
    if _shared is not None and _shared.count == count and _shared.reusable():
        return _shared
    if _shared is not None:
        _shared.close()
    _shared = LocalWorkers(count, kept=True)
    return _shared


class _StackRecorder:
    """Records trained stacks one after the other on a thread of the sweep's process, through
    its recording process where it has one; each outcome comes back on `connection`."""

    def __init__(self) -> None:
        self.pending: set[int] = set()  # stacks trained, not yet recorded
        self.connection, self._sender = multiprocessing.Pipe(duplex=False)
        self._work: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def record(self, stack: Stack, trained: TrainedStack) -> None:
        self.pending.add(stack.number)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="vgx-stacks-rec")
            self._thread.start()
        self._work.put((stack, trained))

    def _run(self) -> None:
        from vgx.store.recording import call

        while (item := self._work.get()) is not None:
            stack, trained = item
            try:
                outcome = call(record_stack, stack, trained)
            except Exception as exc:  # what a run lacks is closed and said, the sweep goes on
                error = f"recording failed: {type(exc).__name__}: {exc}".splitlines()[0]
                outcome = failed_outcome(stack, error)
            self._sender.send(outcome)

    def close(self) -> None:
        if self._thread is not None:
            self._work.put(None)


def follow_parent(parent: int) -> None:
    """A worker process leaves signals to the sweep's process, which decides how its runs end,
    and exits within a second or two of that process's death (kill -9 included): it would
    otherwise stay, reparented, holding its memory."""
    ignore_stop_signals()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="vgx-parent-watch").start()


def _leave() -> NoReturn:
    """A worker's end once its stacks are recorded (each committed before its answer): without
    the interpreter's teardown of torch and MLflow, which kept the sweep's end waiting ~1 s."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _work(connection, stop, parent: int, threads: int, record_from: int) -> None:  # noqa: ANN001
    """A worker's life: the stacks the sweep hands it, until the end-of-work mark; a stop
    request is the sweep's (it sets `stop`). A stack of `record_from` runs or more it records
    itself; a smaller one's training goes back to the sweep, which records it."""
    follow_parent(parent)
    import torch

    torch.set_num_threads(threads)
    from vgx.sweeps.stacks import StackOutcome, record_stack, train_stack

    while True:
        try:
            stack = connection.recv()
        except EOFError:  # the sweep's process is gone
            _leave()
        if stack is None:
            _leave()
        if stop.is_set():  # a stop request: the stacks still waiting do not start
            connection.send(("skipped", stack.number))
            continue
        trained = train_stack(stack, should_stop=stop.is_set)
        if isinstance(trained, StackOutcome):  # failed, its runs recorded as such
            connection.send(("done", trained))
        elif len(stack.runs) < record_from:
            connection.send(("trained", trained))
        else:
            connection.send(("done", record_stack(stack, trained)))
