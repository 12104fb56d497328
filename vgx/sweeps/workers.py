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

from vgx.sweeps.stacks import Stack, StackOutcome, failed_outcome

PARENT_CHECK_S = 1.0  # how often a worker looks whether its sweep's process is still there
POLL_S = 0.5  # how often the sweep looks at its workers while it waits


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class LocalWorkers:
    """`count` worker processes sharing the cores: each trains with cores // count threads."""

    def __init__(self, count: int) -> None:
        self.count = max(1, count)
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
                    if len(processes) < len(waiting) - len(held):  # stacks wait: a new worker
                        processes.append(self._start(tasks, results))
                if not processes and waiting:  # nothing left to take the queue: it stalled
                    for number in sorted(waiting):
                        error = "no worker was left to train it"
                        take(("done", failed_outcome(by_number[number], error), 0))
        except BaseException:
            self._stop.set()
            for process in processes:
                process.kill()
            raise
        finally:
            for process in processes:
                process.join(timeout=5)
        return outcomes

    def _start(self, tasks, results) -> multiprocessing.Process:  # noqa: ANN001 - mp queues
        process = self._context.Process(
            target=_work,
            args=(tasks, results, self._stop, os.getpid(), self.threads),
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


def _work(tasks, results, stop, parent: int, threads: int) -> None:  # noqa: ANN001 - mp objects
    """A worker's life: stacks until the end-of-work mark; a stop request is the sweep's (it
    sets `stop`)."""
    follow_parent(parent)
    import torch

    torch.set_num_threads(threads)
    from vgx.sweeps.stacks import train_and_record

    while True:
        stack = tasks.get()
        if stack is None:
            return
        if stop.is_set():  # a stop request: the stacks still waiting do not start
            results.put(("skipped", stack.number, os.getpid()))
            continue
        results.put(("took", stack.number, os.getpid()))
        outcome = train_and_record(stack, should_stop=stop.is_set)
        results.put(("done", outcome, os.getpid()))
