"""Which network and which probe a stack trains with: the `model` key, mapped to code here."""

from __future__ import annotations

import torch

from vgx.config import TrainConfig
from vgx.core import probes
from vgx.core.data import Splits
from vgx.core.network import Architecture, Network
from vgx.core.objective import Loss
from vgx.core.recurrent import RecurrentArchitecture, RecurrentNetwork
from vgx.core.stacking import is_recurrent
from vgx.core.time_probes import TimeProbe


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
