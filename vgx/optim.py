"""Optimizers and gradient clipping, by name."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from vgx.config import ClipConfig, OptimizerConfig


class SignDescent(torch.optim.Optimizer):
    """Seed 004's sign-based update, Δw = −lr·sign(g): every weight moves by lr, however small
    its gradient, so a vanishing gradient still carries its direction."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch's signature
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(torch.sign(p.grad), alpha=-group["lr"])


def build_optimizer(params: Iterable[torch.Tensor], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    params = list(params)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.name == "sign":
        return SignDescent(params, lr=cfg.lr)
    return torch.optim.Rprop(params, lr=cfg.lr)


def clip_gradients(params: list[torch.Tensor], cfg: ClipConfig) -> None:
    """Clamp each entry to ±threshold (value), or rescale to total L2 norm ≤ threshold (norm)."""
    if cfg.kind == "value":
        torch.nn.utils.clip_grad_value_(params, cfg.threshold)
    elif cfg.kind == "norm":
        torch.nn.utils.clip_grad_norm_(params, cfg.threshold)
