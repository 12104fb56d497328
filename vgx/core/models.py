"""Which network and which probe a stack trains with: the `model` key, mapped to code here."""

from __future__ import annotations

import torch

from vgx.config import RECURRENT_MODELS, TrainConfig
from vgx.core import probes
from vgx.core.data import Splits
from vgx.core.network import Architecture, Network, layer_sizes
from vgx.core.objective import Loss
from vgx.core.recurrent import RecurrentArchitecture, RecurrentNetwork
from vgx.core.time_probes import TimeProbe


def is_recurrent(cfg: TrainConfig) -> bool:
    return cfg.model.name in RECURRENT_MODELS


def model_inputs(cfg: TrainConfig, splits: Splits) -> Splits:
    """What the model reads: a sequence step by step, or flat for a feed-forward net."""
    return splits if is_recurrent(cfg) else splits.flat()


def build(
    cfgs: list[TrainConfig], splits: Splits, loss: Loss, device: torch.device
) -> tuple[Network | RecurrentNetwork, probes.EpochProbe | TimeProbe]:
    """The stack's network, each run's weights drawn under its own seed, and its epoch probe."""
    cfg = cfgs[0]
    if is_recurrent(cfg):
        arch = RecurrentArchitecture.of(cfg, splits.n_features, splits.n_classes)
        recurrent = RecurrentNetwork.build(cfgs, arch, device)
        return recurrent, TimeProbe(splits, recurrent, loss)
    network = Network.build(cfgs, Architecture.of(cfg, splits.n_features, splits.n_classes), device)
    return network, probes.EpochProbe(splits, network.weights(), network.activation, loss)


def step_multiply_adds(cfg: TrainConfig, n_features: int, n_outputs: int, runs: int = 1) -> int:
    """Multiply-adds of one training step's forward pass (the loop's choice of CPU threads)."""
    if is_recurrent(cfg):
        arch = RecurrentArchitecture(cfg.model.name, n_features, n_outputs, cfg.depth, cfg.width)
        per_step = sum(arch.sizes()[: 2 * cfg.depth])
        return runs * cfg.batch_size * (cfg.dataset.length * per_step + cfg.width * n_outputs)
    sizes = layer_sizes(n_features, n_outputs, cfg.depth, cfg.width)
    return runs * cfg.batch_size * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
