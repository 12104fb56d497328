"""Stacks on worker processes of this machine, one per core: each worker takes the next stack
from a queue, trains it and records its runs. A worker that dies (kill -9, out of memory)
fails only the stack it held; a replacement takes the stacks still waiting.

concurrent.futures' process pool does not fit: one dead worker breaks the whole pool and
terminates the others, stacks and all."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable

from vgx.sweeps.stacks import Stack, StackOutcome, TrainedStack, failed_outcome, record_stack

PARENT_CHECK_S = 1.0  # how often a worker looks whether its sweep's process is still there
POLL_S = 0.5  # how often the sweep looks at its workers while it waits
# A worker records a stack of this many runs itself; a smaller one goes back to the sweep's
# recording process, which has imported MLflow already: importing it in each worker (~4 s of a
# core) cost a study of small stacks more than recording its runs.
RECORD_IN_WORKER_FROM = 32


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class LocalWorkers:
    """`count` worker processes sharing the cores: each trains with cores // count threads."""

    def __init__(self, count: int, record_in_worker_from: int = RECORD_IN_WORKER_FROM) -> None:
        self.count = max(1, count)
        self.record_in_worker_from = record_in_worker_from
        self.threads = max(1, default_workers() // self.count)
        self._context = multiprocessing.get_context("spawn")  # no fork after torch's threads
        self._stop = self._context.Event()
        self._tasks, self._results = self._context.Queue(), self._context.Queue()
        self._processes: list[multiprocessing.Process] = []

    def start(self) -> LocalWorkers:
        """Start every worker now: each imports torch and vgx (~3 s) while the sweep's process
        still loads its jobs."""
        while len(self._processes) < self.count:
            self._processes.append(self._start(self._tasks, self._results))
        return self

    def run(
        self,
        stacks: list[Stack],
        on_outcome: Callable[[StackOutcome], None],
        stop_requested: Callable[[], bool] = lambda: False,
        say: Callable[[str], None] = print,
    ) -> list[StackOutcome]:
        """Every stack's outcome, in the order they ended; `on_outcome` hears each as it ends.
        Once `stop_requested()`, the stacks in training end at their next step (their runs
        recorded as interrupted) and the waiting ones do not start."""
        tasks, results = self._tasks, self._results
        for stack in stacks:
            tasks.put(stack)
        processes = self._processes
        while len(processes) < min(self.count, len(stacks)):
            processes.append(self._start(tasks, results))
        for _ in processes:
            tasks.put(None)  # one end-of-work mark a worker
        by_number = {stack.number: stack for stack in stacks}
        held: dict[int, int] = {}  # worker pid → the stack it trains
        outcomes: list[StackOutcome] = []
        waiting = set(by_number)
        recorder = _StackRecorder(results)  # stacks trained, recorded here

        def take(message: tuple) -> None:
            kind, payload, pid = message
            if kind == "took":
                held[pid] = payload
                stack = by_number[payload]
                say(
                    f"[batched] stack {stack.number}/{stack.of} ({len(stack.runs)} runs) "
                    f"training in worker pid {pid}"
                )
                return
            held.pop(pid, None)
            if kind == "trained":
                recorder.record(by_number[payload.number], payload)
                return
            recorder.pending.discard(outcome_number(payload))
            outcome = payload if kind == "done" else StackOutcome(payload, skipped=True)
            waiting.discard(outcome.number)
            outcomes.append(outcome)
            on_outcome(outcome)

        try:
            while waiting:
                if stop_requested():
                    self._stop.set()
                try:
                    take(results.get(timeout=POLL_S))
                    continue
                except queue.Empty:
                    pass
                for process in [p for p in processes if not p.is_alive()]:
                    self._drain(results, take)  # what it said before it died comes first
                    processes.remove(process)
                    number = held.pop(process.pid, None)
                    if number is not None and number in waiting:
                        error = f"its worker (pid {process.pid}) died, exit code {process.exitcode}"
                        take(("done", failed_outcome(by_number[number], error), process.pid))
                    untaken = len(waiting) - len(held) - len(recorder.pending)
                    if len(processes) < untaken:  # stacks wait: a new worker
                        processes.append(self._start(tasks, results))
                if not processes and waiting - recorder.pending:  # nothing takes the queue
                    for number in sorted(waiting - recorder.pending):
                        error = "no worker was left to train it"
                        take(("done", failed_outcome(by_number[number], error), 0))
        except BaseException:
            self._stop.set()
            for process in processes:
                process.kill()
            raise
        finally:
            recorder.close()
            for process in processes:
                process.join(timeout=5)
        return outcomes

    def _start(self, tasks, results) -> multiprocessing.Process:  # noqa: ANN001 - mp queues
        process = self._context.Process(
            target=_work,
            args=(
                tasks,
                results,
                self._stop,
                os.getpid(),
                self.threads,
                self.record_in_worker_from,
            ),
            name="vgx-stack-worker",
            daemon=True,
        )
        process.start()
        return process

    @staticmethod
    def _drain(results, take: Callable[[tuple], None]) -> None:  # noqa: ANN001 - an mp queue
        while True:
            try:
                take(results.get(timeout=0.05))
            except queue.Empty:
                return


def outcome_number(payload: object) -> int:
    """The stack a "done" or "skipped" message is about."""
    return payload.number if isinstance(payload, StackOutcome) else int(payload)


class _StackRecorder:
    """Records trained stacks one after the other on a thread of the sweep's process, through
    its recording process where it has one; each outcome joins the workers' messages."""

    def __init__(self, results) -> None:  # noqa: ANN001 - the workers' mp queue
        self.pending: set[int] = set()  # stacks trained, not yet recorded
        self._results = results
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
            self._results.put(("done", outcome, os.getpid()))

    def close(self) -> None:
        if self._thread is not None:
            self._work.put(None)


def follow_parent(parent: int) -> None:
    """A worker process leaves signals to the sweep's process, which decides how its runs end,
    and exits within a second or two of that process's death (kill -9 included): it would
    otherwise stay, reparented, holding its memory."""
    from vgx.errors import STOP_SIGNALS

    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="vgx-parent-watch").start()


def _work(tasks, results, stop, parent: int, threads: int, record_from: int) -> None:  # noqa: ANN001
    """A worker's life: stacks until the end-of-work mark; a stop request is the sweep's (it
    sets `stop`). A stack of `record_from` runs or more it records itself."""
    follow_parent(parent)
    import torch

    torch.set_num_threads(threads)
    from vgx.sweeps.stacks import StackOutcome, record_stack, train_stack

    while True:
        stack = tasks.get()
        if stack is None:
            return
        if stop.is_set():  # a stop request: the stacks still waiting do not start
            results.put(("skipped", stack.number, os.getpid()))
            continue
        results.put(("took", stack.number, os.getpid()))
        trained = train_stack(stack, should_stop=stop.is_set)
        if isinstance(trained, StackOutcome):  # failed, its runs recorded as such
            results.put(("done", trained, os.getpid()))
        elif len(stack.runs) < record_from:
            results.put(("trained", trained, os.getpid()))
        else:
            results.put(("done", record_stack(stack, trained), os.getpid()))
