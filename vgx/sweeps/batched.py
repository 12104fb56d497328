"""The batched launcher's work: load each job's config as Hydra would, group the jobs that can
share a stack, split groups to fit the memory budget, train, and record every job as its own run."""

from __future__ import annotations

import copy
import dataclasses
import gc
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vgx.config import TrainConfig
from vgx.errors import Interrupted, StacksFailed
from vgx.helper_processes import starting_helpers
from vgx.sweeps.signals import stop_on_signal
from vgx.sweeps.stacks import Stack, StackExecutor, StackOutcome, StackRun

if TYPE_CHECKING:
    from vgx.sweeps.workers import LocalWorkers

# Recording (MLflow's SQL writes of ~7,600 values per run, three figures) costs more than training
# a stack; a worker process records beside the recording process. Below this many runs the
# worker's start-up (imports, ~2 s) is not worth it.
PARALLEL_RECORDING_FROM = 8
WORKER_STOPPED = "[batched] a recording worker stopped: the sweep records its runs itself"
# Trained runs a recording task at most: written to the store in one transaction (a third
# faster a run than one each); a stack gives each recorder at least two tasks, so that they end
# together (`recording_groups`).
RUNS_A_RECORDING = 16
# A worker's first stack is made smaller than the one before it (`_staggered`) from this size on
# (on two workers both halves still record in their worker).
STAGGER_FROM = 64
# A lone stack is split across idle workers only when each half has this much training work
# (forward multiply-adds, ~5 s on a core): below it, starting the workers costs more than it
# wins (a 64-run sweep of the default network, 1e9, was slower split in two).
SPLIT_FROM = 4e9


@dataclass
class Job:
    index: int
    overrides: list[str]
    hydra_cfg: object  # the job's full config (DictConfig), hydra node included
    task_cfg: object  # the same without the hydra node: what a task function receives
    cfg: TrainConfig
    resolved: dict
    output_dir: Path
    name: str | None  # the MLflow run name: what differs between the sweep's jobs
    uri: str  # the tracking store


def plan_chunks(
    cfgs: list[TrainConfig], max_batch: int, budget_bytes: int, workers: int = 1
) -> list[list[int]]:
    """Indices of the jobs trained together: one chunk per stack (equal `stack_key`, at most
    `max_batch` runs, estimated memory under the budget), the most work first. Workers take
    stacks in this order: a long stack started last would leave the other cores idle while it
    trains (a recurrent study's 50-step stacks after its 10-step ones took 1.6× as long).
    Fewer stacks than `workers`: the largest are halved while each half has `SPLIT_FROM`
    multiply-adds of work, so that no core waits."""
    from vgx.config import model_features, split_sizes
    from vgx.core.stacking import bytes_per_run, stack_key

    groups: dict[str, list[int]] = {}
    chunks: list[tuple[float, list[int]]] = []
    for i, cfg in enumerate(cfgs):
        groups.setdefault(stack_key(cfg), []).append(i)
    for members in groups.values():
        cfg = cfgs[members[0]]
        per_run = bytes_per_run(cfg, model_features(cfg), max(split_sizes(cfg.dataset)))
        size = max(1, min(max_batch, budget_bytes // per_run))
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            chunks.append((_training_work(cfg, len(chunk)), chunk))
    while len(chunks) < workers:
        work, largest = max(chunks, key=lambda pair: pair[0], default=(0.0, []))
        if len(largest) < 2 or work / 2 < SPLIT_FROM:
            break
        chunks.remove((work, largest))
        half = (len(largest) + 1) // 2
        chunks += [(work * half / len(largest), largest[:half])]
        chunks += [(work * (len(largest) - half) / len(largest), largest[half:])]
    chunks.sort(key=lambda pair: -pair[0])  # stable: equal work keeps the jobs' order
    return _staggered([chunk for _, chunk in chunks], workers)


def _staggered(chunks: list[list[int]], workers: int) -> list[list[int]]:
    """The first stack of worker i (of n) keeps (n - i) / n of its runs; the rest go last.
    Equal stacks started together end together: every worker then records at once, one
    writing the store while the others wait for it, and all train at once while the store
    sits idle. Staggered, one records while another trains. The 1,000-run sweep (four stacks
    of 256 on two workers) took 65 s this way against 70 s, alternated."""
    if workers < 2 or len(chunks) < workers:
        return chunks
    firsts, tails = [], []
    for i, chunk in enumerate(chunks[:workers]):
        keep = len(chunk) * (workers - i) // workers
        if len(chunk) < STAGGER_FROM or keep == len(chunk):
            firsts.append(chunk)
            continue
        firsts.append(chunk[:keep])
        tails.append(chunk[keep:])
    tails.sort(key=len, reverse=True)  # the smallest last: the workers end close together
    return firsts + chunks[workers:] + tails


def _training_work(cfg: TrainConfig, runs: int) -> float:
    """The forward multiply-adds of a stack of `runs` runs like `cfg` (the stack shares its
    epochs) over its training: enough to order stacks by cost."""
    from vgx.config import dataset_classes, model_features, split_sizes
    from vgx.core.stacking import output_units, step_multiply_adds

    outputs = output_units(dataset_classes(cfg.dataset))
    step = step_multiply_adds(cfg, model_features(cfg), outputs, runs=runs)
    steps_per_epoch = -(-split_sizes(cfg.dataset)[0] // cfg.batch_size)
    return step * steps_per_epoch * cfg.epochs


def _load_jobs(config, hydra_context, job_overrides, initial_job_idx: int) -> list[Job]:  # noqa: ANN001
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    from vgx.store.tracking import tracking_uri
    from vgx.sweeps.composition import (
        SweepComposer,
        refers_to_hydra,
        return_to_collection,
        task_part,
    )
    from vgx.sweeps.identity import sweep_run_name

    loader = hydra_context.config_loader
    jobs = []
    handed_out: set[int] = set()
    folders: dict[str, Path] = {}
    collecting = gc.isenabled()
    gc.disable()  # jobs' configs, which live on: see composition.set_aside_from_collection
    try:
        for i, overrides in enumerate(job_overrides):
            index = initial_job_idx + i
            sweep_config = loader.load_sweep_config(config, list(overrides))
            if id(sweep_config) in handed_out:  # a repeated job: the composer gave it twice
                sweep_config = copy.deepcopy(sweep_config)
                OmegaConf.set_readonly(sweep_config.hydra, None)  # set_config froze the first
            handed_out.add(id(sweep_config))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = f"batched_{index}"
                sweep_config.hydra.job.num = index
            task_cfg = refers = None
            if isinstance(loader, SweepComposer):
                task_cfg = loader.task_config(overrides)
                refers = loader.task_refers_to_hydra(overrides)
            if task_cfg is None:
                task_cfg = task_part(sweep_config)
            if refers is None:
                refers = refers_to_hydra(task_cfg)
            if i == len(job_overrides) - 1 or refers:
                # Hydra's own config as each job sees it; a copy of its large node for every
                # job was half of loading 64 jobs, so only where `${hydra:…}` needs it, and at
                # the end
                HydraConfig.instance().set_config(sweep_config)
            output_dir = _job_folder(sweep_config, folders)
            cfg = OmegaConf.to_object(task_cfg)
            resolved = OmegaConf.to_container(task_cfg, resolve=True)
            name = sweep_run_name(cfg.tracking.sweep_keys, list(overrides))
            uri = tracking_uri(cfg.tracking.uri)
            jobs.append(
                Job(
                    index,
                    list(overrides),
                    sweep_config,
                    task_cfg,
                    cfg,
                    resolved,
                    output_dir,
                    name,
                    uri,
                )
            )
    finally:
        return_to_collection()
        if collecting:
            gc.enable()
    return jobs


def _job_folder(sweep_config, folders: dict[str, Path]) -> Path:  # noqa: ANN001 - a DictConfig
    """hydra.sweep.dir / hydra.sweep.subdir of a job, absolute: other processes record it, and
    their working folder may differ. OmegaConf parses an interpolation on every read (~3 ms a
    job for these two): a folder made of `${now:…}` alone (the same for every job: the resolver
    keeps its value) is resolved once, and the default subdir is the job's number."""
    import re

    sweep = sweep_config.hydra.sweep
    written = str(sweep._get_node("dir")._value())
    per_job = "${" in re.sub(r"\$\{now:[^}]*\}", "", written)  # e.g. ${hydra.job.name}
    if per_job or written not in folders:
        folders[written] = Path(str(sweep.dir)).absolute()
    subdir = sweep._get_node("subdir")._value()
    if subdir == "${hydra.job.num}":
        return folders[written] / str(sweep_config.hydra.job.num)
    return folders[written] / str(sweep.subdir)


@dataclass
class LauncherSettings:
    """`hydra.launcher.*` of the batched launcher."""

    max_batch: int
    budget_bytes: int
    executor: str = "local"  # local: this machine (workers when there are stacks to share)
    workers: int | None = None  # local worker processes; None: one per core
    cluster: object = None  # vgx.sweeps.cluster.ClusterSettings, for executor=submitit


EXECUTORS = ("local", "submitit")


def launch_batched(
    config,  # noqa: ANN001 - the sweep's DictConfig
    hydra_context,  # noqa: ANN001
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    settings: LauncherSettings,
) -> list:
    from hydra.core.utils import JobReturn, JobStatus, configure_log, setup_globals

    from vgx.store.recording import call
    from vgx.sweeps.progress import sweep
    from vgx.sweeps.summary import summary

    setup_globals()
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    workers = None
    if settings.executor == "local" and len(job_overrides) > settings.max_batch:
        workers = _local_workers(settings, stacks=2)  # at least two stacks: start them now
        if workers is not None:
            workers.start()
    jobs = _load_jobs(config, hydra_context, job_overrides, initial_job_idx)

    def parent_made() -> None:
        """Before anything is recorded: the sweep's parent exists, and every job has its id."""
        _confirm_parent(jobs)

    # MLflow's work goes to the recording process where there is one: this process trains, and
    # never imports MLflow
    reused_runs = [None] * len(jobs)
    if any(job.cfg.resume and job.cfg.tracking.parent_run_id for job in jobs):
        parent_made()  # a reused run joins the parent
        checks = [(job.cfg, job.uri, job.cfg.tracking.parent_run_id) for job in jobs]
        reused_runs = call(_reused, checks)
    returns: dict[int, float] = {}
    to_train = []
    for job, reused in zip(jobs, reused_runs, strict=True):
        job.output_dir.mkdir(parents=True, exist_ok=True)
        if reused is not None:
            sweep().write(summary(reused, job.cfg))
            returns[job.index] = reused.val_loss
            sweep().done()
        else:
            to_train.append(job)
    spread = _local_worker_count(settings) if settings.executor == "local" else 1
    cfgs = [j.cfg for j in to_train]
    chunks = plan_chunks(cfgs, settings.max_batch, settings.budget_bytes, spread)
    executor = workers or _executor(settings, len(chunks), sweep_dir)
    if executor is None:
        returns |= _train_here(to_train, chunks, parent_made)
    else:
        parent_made()  # a worker records its stack as soon as it trained
        stacks = [
            Stack(number, len(chunks), [_stack_run(to_train[i]) for i in chunk])
            for number, chunk in enumerate(chunks, start=1)
        ]
        returns |= _train_elsewhere(executor, stacks)
    out = []
    for job in jobs:
        ret = JobReturn(
            overrides=job.overrides,
            cfg=job.task_cfg,
            hydra_cfg=job.hydra_cfg,
            working_dir=str(job.output_dir),
            task_name=str(job.hydra_cfg.hydra.job.name),
        )
        ret.return_value = returns[job.index]
        ret.status = JobStatus.COMPLETED
        out.append(ret)
    return out


def _stack_run(job: Job) -> StackRun:
    from vgx.sweeps.identity import run_name

    name = job.name or run_name(job.cfg)
    return StackRun(
        job.index, job.cfg, job.resolved, job.output_dir, job.uri, name, list(job.overrides)
    )


def _executor(settings: LauncherSettings, stacks: int, sweep_dir: Path) -> StackExecutor | None:
    """Where the stacks train: cluster jobs, local workers (more than one stack and more than
    one core), or None: this process, recording beside it."""
    if settings.executor == "submitit":
        from vgx.sweeps.cluster import ClusterJobs

        return ClusterJobs(settings.cluster, sweep_dir)
    return _local_workers(settings, stacks)


def _local_workers(settings: LauncherSettings, stacks: int) -> LocalWorkers | None:
    from vgx.sweeps.workers import local_workers

    workers = min(_local_worker_count(settings), stacks)
    return local_workers(workers) if workers > 1 else None


def _local_worker_count(settings: LauncherSettings) -> int:
    from vgx.sweeps.workers import default_workers

    return settings.workers or default_workers()


def _train_elsewhere(executor: StackExecutor, stacks: list[Stack]) -> dict[int, float]:
    """Hand the stacks to the executor; say each one's end as it comes; a signal asks them all
    to stop (a second stops at once). Failed stacks are named once the others have ended."""
    from vgx.sweeps.progress import sweep

    def heard(outcome: StackOutcome) -> None:
        stack = by_number[outcome.number]
        size = len(stack.runs)
        if outcome.skipped:
            return
        sweep().done(size)
        where = f" on {outcome.where}" if outcome.where else ""
        if outcome.failed:
            sweep().write(
                f"[batched] stack {stack.number}/{stack.of} failed{where}: {outcome.error}; "
                f"its {size} runs are recorded as failed"
            )
        else:
            sweep().write(
                f"[batched] stack {stack.number}/{stack.of}: {size} runs trained and recorded "
                f"in {outcome.seconds:.1f} s{where}"
            )

    by_number = {stack.number: stack for stack in stacks}
    with stop_on_signal() as stop:
        outcomes = executor.run(stacks, heard, stop.is_set, sweep().write)
    interrupted = [name for outcome in outcomes for name in outcome.interrupted]
    if interrupted or any(outcome.skipped for outcome in outcomes):
        raise Interrupted(f"{len(interrupted)} runs of the stacks, recorded as interrupted")
    failed = sorted((o for o in outcomes if o.failed), key=lambda o: o.number)
    if failed:
        runs = sum(len(by_number[o.number].runs) for o in failed)
        named = "; ".join(
            f"stack {o.number} ({_names(by_number[o.number])}): {o.error}" for o in failed
        )
        raise StacksFailed(
            f"{len(failed)} of {len(stacks)} stacks failed, their {runs} runs recorded as failed "
            f"(the other stacks' runs are recorded): {named}"
        )
    return {index: loss for outcome in outcomes for index, loss in outcome.losses.items()}


def _names(stack: Stack, shown: int = 3) -> str:
    names = [run.name for run in stack.runs]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _train_here(
    to_train: list[Job], chunks: list[list[int]], parent_made: Callable[[], None]
) -> dict[int, float]:
    """The stacks trained one after the other in this process; their runs recorded by the
    recording process and, for larger sweeps, worker processes beside it (once the sweep's
    parent is made: `parent_made`, called after the first stack trained)."""
    from vgx.core.loop import train
    from vgx.sweeps.progress import sweep

    # the recording process (or this one, once its stacks are trained) records too
    workers = max(1, (os.cpu_count() or 2) - 1) if len(to_train) >= PARALLEL_RECORDING_FROM else 0
    recording = _Recording(workers)
    interrupted: list[str] = []  # runs a signal stopped: recorded as such, then the sweep stops
    # A signal ends the stack's epoch; one that comes while trained runs are recorded lets them
    # be recorded, and the sweep stops after. A second stops at once.
    with stop_on_signal() as stop:
        try:
            for number, chunk in enumerate(chunks, start=1):
                if stop.is_set():
                    break
                members = [to_train[i] for i in chunk]
                started = time.perf_counter()
                sweep().stack(number, len(chunks), len(members))
                results = train([j.cfg for j in members], should_stop=stop.is_set)
                interrupted += [
                    job.name or str(job.index)
                    for job, result in zip(members, results, strict=True)
                    if result.status == "interrupted"
                ]
                sweep().done(len(members))
                sweep().write(
                    f"[batched] stack {number}/{len(chunks)}: {len(members)} runs trained in "
                    f"{time.perf_counter() - started:.1f} s"
                )
                parent_made()
                recording.hand_out(members, results)
            returns = recording.wait()
        except BaseException:
            recording.abandon()
            raise
    if interrupted:
        raise Interrupted(f"{len(interrupted)} runs of the stack, recorded as interrupted")
    if stop.is_set():
        raise Interrupted(f"stopped with {len(returns)} of {len(to_train)} runs recorded")
    return returns


class _Recording:
    """Where a stack's trained runs are recorded: the recording process (or this one) and
    `workers` processes of a pool beside it, in even groups (`recording_groups`). A worker
    killed (out of memory, or by hand) breaks the pool: the groups it held and those still
    queued are recorded by the sweep, from the trained results this process holds. On SQLite a
    group reaches the store in one transaction, so one cut short wrote nothing; on a tracking
    server, runs it had opened are closed as interrupted by the next command (their owner is
    gone)."""

    def __init__(self, workers: int) -> None:
        self.pool = recording_pool(workers) if workers else None
        self.recorders = 1 + workers  # the recording process (or this one), and the pool's
        self.returns: dict[int, float] = {}  # job index: validation loss
        self.pending: list[tuple[list[Job], Future, list]] = []  # jobs, recording, arguments

    def hand_out(self, members: list[Job], results: list) -> None:
        """A stack's runs: groups to the workers, or recorded now where there is no pool."""
        from vgx.store.recording import call

        recordings = [
            (job.cfg, job.resolved, job.output_dir, job.uri, job.name, result, job.overrides)
            for job, result in zip(members, results, strict=True)
        ]
        for start, end in recording_groups(len(members), self.recorders):
            group, arguments = members[start:end], recordings[start:end]
            future = submit_to(self.pool, _record_group, arguments) if self.pool else None
            if future is None and self.pool is not None:
                self._lose_pool()
            if future is None:
                self.returns |= _returned(group, call(_record_group, arguments))
            else:
                self.pending.append((group, future, arguments))

    def wait(self) -> dict[int, float]:
        """Every run handed out recorded: the groups no worker has taken yet are recorded by the
        recording process meanwhile. The workers' exit (~1 s) overlaps the report."""
        from vgx.store.recording import call

        for group, future, arguments in reversed(self.pending):  # the workers take the front
            if future.cancel():
                self.returns |= _returned(group, call(_record_group, arguments))
        left: list[tuple[list[Job], list]] = []
        for group, future, arguments in self.pending:
            if future.cancelled():
                continue
            try:
                self.returns |= _returned(group, future.result())
            except BrokenProcessPool:
                left.append((group, arguments))
        if left and self.pool is not None:
            self._lose_pool()
        for group, arguments in left:
            self.returns |= _returned(group, call(_record_group, arguments))
        if self.pool is not None:
            self.pool.shutdown(wait=False)
        return self.returns

    def abandon(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def _lose_pool(self) -> None:
        """A worker died: the pool is broken, and the sweep records the rest itself."""
        from vgx.sweeps.progress import sweep

        sweep().write(WORKER_STOPPED)
        self.pool.shutdown(wait=False)
        self.pool = None


def recording_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes that record a stack's runs beside the recording process; they import
    MLflow and matplotlib while the first stack trains."""
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),  # no fork after torch started threads
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    for _ in range(workers):
        submit_to(pool, _warm_up_worker)
    return pool


def submit_to(pool: ProcessPoolExecutor, function: Callable, *args: object) -> Future | None:
    """The task's future; None where the pool broke (a worker was killed). The pool starts its
    workers as tasks come: a signal must not end one while it starts."""
    with starting_helpers():
        try:
            return pool.submit(function, *args)
        except BrokenProcessPool:
            return None


def recording_groups(runs: int, recorders: int) -> list[tuple[int, int]]:
    """(start, end) of each recording task of a stack's runs: at most RUNS_A_RECORDING runs,
    at least two tasks a recorder where there are runs enough, sizes within one of each other
    (20 runs in a 16 and a 4 kept one recorder busy four times as long as the other)."""
    shared = min(runs, 2 * recorders) if recorders > 1 else 1
    tasks = max(-(-runs // RUNS_A_RECORDING), shared) if runs else 0
    bounds = [round(i * runs / tasks) for i in range(tasks + 1)] if tasks else [0]
    return list(zip(bounds, bounds[1:], strict=False))


def _confirm_parent(jobs: list[Job]) -> None:
    """Wait for the sweep's parent where the sweep chose its id and went on; should the store
    have given it another id, the jobs get that one."""
    from vgx.sweeps.parent import pending_parent

    pending = pending_parent()
    if pending is None:
        return
    made = pending.confirmed()
    for job in jobs:
        if job.cfg.tracking.parent_run_id == pending.chosen and made != pending.chosen:
            tracking = dataclasses.replace(job.cfg.tracking, parent_run_id=made)
            job.cfg = dataclasses.replace(job.cfg, tracking=tracking)


def _reused(checks: list[tuple]) -> list:
    """For each (cfg, uri, parent): the finished run it reuses (a RunOutcome), or None."""
    from vgx.sweeps.job import reuse_finished_many

    return reuse_finished_many(checks)


def _record_group(recordings: list[tuple]) -> list[float]:
    """Record trained runs (each `record_trained`'s arguments), written to the store together;
    their validation losses."""
    from vgx.store.tracking import runs_written_together
    from vgx.sweeps.job import record_trained

    with runs_written_together(len(recordings)):
        return [record_trained(*arguments).val_loss for arguments in recordings]


def _returned(jobs: list[Job], losses: list[float]) -> dict[int, float]:
    return {job.index: loss for job, loss in zip(jobs, losses, strict=True)}


def _start_worker(parent: int) -> None:
    """A recording worker leaves signals to the sweep's process and ends with it."""
    from vgx.sweeps.workers import follow_parent

    follow_parent(parent)


def _warm_up_worker() -> None:
    import vgx.sweeps.job  # noqa: F401 - without torch: a recorder unpickles no tensor
    from vgx.store import run_figures, tracking

    tracking.warm_up()
    run_figures.warm_up()
    time.sleep(0.5)  # held a moment, so that each warm-up task starts a worker of its own
