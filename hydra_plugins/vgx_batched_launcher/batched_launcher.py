"""`hydra/launcher=batched`: a sweep's jobs with the same network shape train as one stacked model
(see vgx/batched.py); each job is still recorded as its own MLflow run."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher

from vgx.sweeps.cluster import ClusterSettings


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.vgx_batched_launcher.batched_launcher.BatchedLauncher"
    max_batch: int = 256  # most runs trained in one stack
    memory_budget_mb: int = 2048  # a stack's estimated memory stays under this (MiB)
    # where stacks train: local (this machine: worker processes when a sweep has more than one
    # stack) or submitit (a cluster job a stack; see submitit.*)
    executor: str = "local"
    workers: int | None = None  # local worker processes; default: one per core
    submitit: ClusterSettings = field(default_factory=ClusterSettings)


ConfigStore.instance().store(
    group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="vgx"
)


class BatchedLauncher(Launcher):
    def __init__(
        self,
        max_batch: int = BatchedLauncherConf.max_batch,
        memory_budget_mb: int = BatchedLauncherConf.memory_budget_mb,
        executor: str = BatchedLauncherConf.executor,
        workers: int | None = None,
        submitit=None,  # noqa: ANN001 - a DictConfig of ClusterSettings
    ) -> None:
        self.max_batch = max_batch
        self.memory_budget_mb = memory_budget_mb
        self.executor = executor
        self.workers = workers
        self.submitit = submitit
        self.config = None
        self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:  # noqa: ANN001
        # Hydra passes these by keyword; the plugin keeps them for launch(). The sweeper shares
        # hydra_context: its check of every job composes through the same faster loader.
        from vgx.sweeps.composition import SweepComposer

        if not isinstance(hydra_context.config_loader, SweepComposer):
            hydra_context.config_loader = SweepComposer(hydra_context.config_loader)
        self.hydra_context = hydra_context
        self.config = config

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from omegaconf import OmegaConf

        from vgx.sweeps.batched import LauncherSettings, launch_batched

        cluster = ClusterSettings(**OmegaConf.to_container(self.submitit or {}, resolve=True))
        settings = LauncherSettings(
            self.max_batch, self.memory_budget_mb * 2**20, self.executor, self.workers, cluster
        )
        return launch_batched(
            self.config, self.hydra_context, job_overrides, initial_job_idx, settings
        )
