"""`hydra/launcher=batched`: a sweep's jobs with the same network shape train as one stacked model
(see vgx/batched.py); each job is still recorded as its own MLflow run."""

from collections.abc import Sequence
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.vgx_batched_launcher.batched_launcher.BatchedLauncher"
    max_batch: int = 256  # most runs trained in one stack
    memory_budget_mb: int = 2048  # a stack's estimated memory stays under this (MiB)


ConfigStore.instance().store(
    group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="vgx"
)


class BatchedLauncher(Launcher):
    def __init__(
        self,
        max_batch: int = BatchedLauncherConf.max_batch,
        memory_budget_mb: int = BatchedLauncherConf.memory_budget_mb,
    ) -> None:
        self.max_batch = max_batch
        self.memory_budget_mb = memory_budget_mb
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
        from vgx.sweeps.batched import launch_batched

        return launch_batched(
            self.config,
            self.hydra_context,
            job_overrides,
            initial_job_idx,
            self.max_batch,
            self.memory_budget_mb * 2**20,
        )
