"""The cost J that training minimises: data loss plus the documents' weight penalty."""

from __future__ import annotations

import torch
from torch import nn

from vgx.config import RegularizerConfig


def data_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(1/m) Σ ℓ: binary cross-entropy on one logit (the sigmoid output unit of seed 002, applied
    inside the loss for numerical safety), softmax cross-entropy for several classes."""
    if logits.shape[1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(logits.squeeze(1), targets)
    return nn.functional.cross_entropy(logits, targets)


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if logits.shape[1] == 1:
        predicted = (logits.squeeze(1) > 0).to(targets.dtype)
    else:
        predicted = logits.argmax(dim=1)
    return (predicted == targets).float().mean()


def example_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """ℓ of each example of each run of a stack: logits [K, B, outputs], targets [K, B] or [B]."""
    targets = targets.expand(logits.shape[:2])
    if logits.shape[-1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(
            logits.squeeze(-1), targets, reduction="none"
        )
    k, b, c = logits.shape
    return nn.functional.cross_entropy(
        logits.reshape(k * b, c), targets.reshape(k * b), reduction="none"
    ).view(k, b)


def example_hits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1.0 where a run predicts an example's class, else 0.0, [K, B]."""
    targets = targets.expand(logits.shape[:2])
    if logits.shape[-1] == 1:
        predicted = (logits.squeeze(-1) > 0).to(targets.dtype)
    else:
        predicted = logits.argmax(dim=-1)
    return (predicted == targets).float()


def run_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`data_loss` of each run of a stack, [K]."""
    return example_losses(logits, targets).mean(dim=1)


def run_accuracies(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`accuracy` of each run of a stack, [K]."""
    return example_hits(logits, targets).mean(dim=1)


def penalty(
    weights: list[torch.Tensor], cfg: RegularizerConfig, m: int, lam: torch.Tensor | None = None
) -> torch.Tensor:
    """Seed 003: (λ/2m) Σ_l ‖W_l‖²_F for L2, (λ/2m) Σ_l ‖W_l‖₁ for L1; biases are not penalised.

    Elastic mixes the two sums: l1_ratio·L1 + (1 − l1_ratio)·L2, under the same λ/2m.
    With `lam` given per run ([K]), the weights are stacks [K, out, in] and so is the result.
    """
    per_run = lam is not None
    dims = tuple(range(1, weights[0].dim())) if per_run else ()
    zero = torch.zeros_like(lam) if per_run else weights[0].new_zeros(())
    if cfg.kind == "none" or (not per_run and cfg.lam == 0):
        return zero

    def total(t: torch.Tensor) -> torch.Tensor:
        return t.sum(dim=dims) if per_run else t.sum()

    l1 = sum((total(w.abs()) for w in weights), zero) if cfg.kind in ("l1", "elastic") else zero
    l2 = sum((total(w.pow(2)) for w in weights), zero) if cfg.kind in ("l2", "elastic") else zero
    mix = {"l1": (1.0, 0.0), "l2": (0.0, 1.0), "elastic": (cfg.l1_ratio, 1 - cfg.l1_ratio)}
    a, b = mix[cfg.kind]
    return (lam if per_run else cfg.lam) / (2 * m) * (a * l1 + b * l2)
