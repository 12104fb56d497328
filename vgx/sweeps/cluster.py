"""Stacks as cluster jobs through submitit: one SLURM job a stack (a job array), each training
its stack on its node and recording its runs to the sweep's tracking store, which the nodes
must reach (a tracking server, or an SQLite file on a shared disk). submitit's `local` cluster
runs the same jobs as processes of this machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vgx.sweeps.stacks import Stack, StackOutcome, failed_outcome

POLL_S = 1.0  # how often the sweep asks the cluster about its jobs
CANCEL_GRACE_S = 120.0  # how long cancelled jobs get to record their runs as interrupted
CLUSTERS = ("slurm", "local", "debug")


@dataclass
class ClusterSettings:
    """`hydra.launcher.submitit.*`: what each stack's job asks the cluster for."""

    cluster: str = "slurm"  # slurm; local (processes here, for trying it out); debug (in-process)
    folder: str = ".submitit"  # submitit's job files and logs (under the sweep's folder)
    partition: str | None = None
    timeout_min: int = 60
    cpus_per_task: int = 2
    mem_gb: int = 4
    gpus_per_node: int = 0
    additional: dict = field(default_factory=dict)  # sbatch options: {constraint: ..., qos: ...}


def job_parameters(settings: ClusterSettings) -> dict:
    """submitit's AutoExecutor parameters (those of another cluster than the chosen one are
    ignored by submitit)."""
    parameters = {
        "timeout_min": settings.timeout_min,
        "cpus_per_task": settings.cpus_per_task,
        "mem_gb": settings.mem_gb,
        "name": "vgx-stack",
    }
    if settings.cluster == "slurm":
        if settings.gpus_per_node:
            parameters["gpus_per_node"] = settings.gpus_per_node
        if settings.partition:
            parameters["slurm_partition"] = settings.partition
        if settings.additional:
            parameters["slurm_additional_parameters"] = dict(settings.additional)
    return parameters


def run_stack_job(stack: Stack) -> StackOutcome:
    """A cluster job's work: SIGTERM (scancel, the end of its time) stops the stack at its next
    step, its runs recorded as interrupted."""
    from vgx.sweeps.signals import stop_on_signal
    from vgx.sweeps.stacks import train_and_record

    with stop_on_signal() as stop:
        return train_and_record(stack, should_stop=stop.is_set)


class ClusterJobs:
    """The sweep's stacks as submitit jobs; waits for them and hears each outcome."""

    def __init__(self, settings: ClusterSettings, sweep_dir: Path) -> None:
        import submitit

        folder = Path(settings.folder)
        folder = folder if folder.is_absolute() else sweep_dir / folder
        self.settings = settings
        self._executor = submitit.AutoExecutor(folder=folder / "%j", cluster=settings.cluster)
        self._executor.update_parameters(**job_parameters(settings))

    def run(
        self,
        stacks: list[Stack],
        on_outcome: Callable[[StackOutcome], None],
        stop_requested: Callable[[], bool] = lambda: False,
        say: Callable[[str], None] = print,
    ) -> list[StackOutcome]:
        """Submit every stack, then wait; a stop request cancels the jobs (each stops its stack
        at the next step and records its runs as interrupted)."""
        with self._executor.batch():  # one job array on SLURM
            submitted = [self._executor.submit(run_stack_job, stack) for stack in stacks]
        jobs = dict(zip(submitted, stacks, strict=True))
        for job, stack in jobs.items():
            say(
                f"[batched] stack {stack.number}/{stack.of} ({len(stack.runs)} runs) submitted "
                f"as {self.settings.cluster} job {job.job_id}"
            )
        try:
            return self._wait(jobs, on_outcome, stop_requested)
        except BaseException:  # a second signal: the jobs are not left running for nobody
            for job in jobs:
                job.cancel(check=False)
            raise

    def _wait(self, jobs: dict, on_outcome, stop_requested) -> list[StackOutcome]:  # noqa: ANN001
        outcomes: list[StackOutcome] = []
        cancelled_at: float | None = None
        while jobs:
            if stop_requested() and cancelled_at is None:
                cancelled_at = time.monotonic()
                for job in jobs:
                    job.cancel(check=False)
            for job, stack in list(jobs.items()):
                late = cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_GRACE_S
                if not (job.done() or late):
                    continue
                del jobs[job]
                outcome = self._outcome(job, stack)
                outcomes.append(outcome)
                on_outcome(outcome)
            if jobs:
                time.sleep(POLL_S)
        return outcomes

    def _outcome(self, job, stack: Stack) -> StackOutcome:  # noqa: ANN001 - a submitit Job
        if not job.done():
            error = f"cluster job {job.job_id} did not end {CANCEL_GRACE_S:.0f} s after its cancel"
        else:
            try:
                return job.result()
            except Exception as exc:  # noqa: BLE001 - the job failed, was killed or timed out
                lines = [line for line in str(exc).splitlines() if line.strip()]
                last = lines[-1] if lines else type(exc).__name__
                error = f"cluster job {job.job_id} failed: {last}"
        return failed_outcome(stack, error)
