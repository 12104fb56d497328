"""The cost J that training minimises, per run of a stack: data loss plus the documents' weight
penalty. Logits are [K, B, outputs]; every result keeps the run axis K."""

from __future__ import annotations

import torch
from torch import nn

from vgx.config import RegularizerConfig


def example_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """ℓ of each example of each run, [K, B]: binary cross-entropy on one logit (the sigmoid
    output unit of seed 002, applied inside the loss for numerical safety), softmax
    cross-entropy for several classes. Targets are [K, B] or [B]."""
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
    """(1/m) Σ ℓ of each run, [K]."""
    return example_losses(logits, targets).mean(dim=1)


def constant_loss(targets: torch.Tensor, n_classes: int) -> float:
    """The training loss of the best constant predictor, the label entropy −Σ p_c ln p_c (ln 2
    for balanced binary classes): a net that ends here learned the class prior and nothing else."""
    counts = torch.bincount(targets.long(), minlength=n_classes).double()
    shares = counts[counts > 0] / counts.sum()
    return float(-(shares * shares.log()).sum())


def penalty(
    weights: torch.Tensor, cfg: RegularizerConfig, m: int, lam: torch.Tensor
) -> torch.Tensor:
    """Seed 003: (λ/2m) Σ_l ‖W_l‖²_F for L2, (λ/2m) Σ_l ‖W_l‖₁ for L1; biases are not
    penalised. Elastic mixes the two sums: l1_ratio·L1 + (1 − l1_ratio)·L2, under the same λ/2m.

    `weights` holds every run's weights as one row ([K, entries], all layers), `lam` [K]."""
    if cfg.kind == "none":
        return torch.zeros_like(lam)
    l1 = weights.abs().sum(dim=1) if cfg.kind in ("l1", "elastic") else 0.0
    l2 = weights.pow(2).sum(dim=1) if cfg.kind in ("l2", "elastic") else 0.0
    mix = {"l1": (1.0, 0.0), "l2": (0.0, 1.0), "elastic": (cfg.l1_ratio, 1 - cfg.l1_ratio)}
    a, b = mix[cfg.kind]
    return lam / (2 * m) * (a * l1 + b * l2)
