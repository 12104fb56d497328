"""The cost J that training minimises, per run of a stack: data loss plus the documents' weight
penalty. Logits are [K, B, outputs]; every result keeps the run axis K."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vgx.config import RegularizerConfig


@dataclass(frozen=True)
class Loss:
    """The data loss ℓ: `bce` (one logit, two classes), `cross_entropy` (a logit a class) or
    `mse`: squared error of the predicted probabilities (the sigmoid's, or the softmax's
    averaged over the classes) on a classification task, of the output itself on a regression
    task (`n_classes` 0)."""

    kind: str
    n_classes: int

    @classmethod
    def of(cls, name: str | None, n_classes: int) -> Loss:
        """The config's `loss`; null picks by the data set: mse, bce or cross_entropy."""
        default = "mse" if n_classes == 0 else "bce" if n_classes == 2 else "cross_entropy"
        return cls(name or default, n_classes)

    @property
    def regression(self) -> bool:
        return self.n_classes == 0

    @property
    def score(self) -> str:
        """The metric family of the second number per set: accuracy, or squared error."""
        return "mse" if self.regression else "acc"


def example_losses(
    logits: torch.Tensor, targets: torch.Tensor, loss: Loss | None = None
) -> torch.Tensor:
    """ℓ of each example of each run, [K, B]: binary cross-entropy on one logit (the sigmoid
    output unit of seed 002, applied inside the loss for numerical safety), softmax
    cross-entropy for several classes, or `loss`'s choice. Targets are [K, B] or [B]."""
    targets = targets.expand(logits.shape[:2])
    if loss is not None and loss.kind == "mse":
        return _squared_errors(logits, targets, loss)
    if logits.shape[-1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(
            logits.squeeze(-1), targets, reduction="none"
        )
    k, b, c = logits.shape
    return nn.functional.cross_entropy(
        logits.reshape(k * b, c), targets.reshape(k * b), reduction="none"
    ).view(k, b)


def _squared_errors(logits: torch.Tensor, targets: torch.Tensor, loss: Loss) -> torch.Tensor:
    if loss.regression:
        return (logits.squeeze(-1) - targets).square()
    if logits.shape[-1] == 1:
        return (torch.sigmoid(logits.squeeze(-1)) - targets).square()
    expected = nn.functional.one_hot(targets, logits.shape[-1]).to(logits.dtype)
    return (torch.softmax(logits, dim=-1) - expected).square().mean(dim=-1)


def example_hits(
    logits: torch.Tensor, targets: torch.Tensor, loss: Loss | None = None
) -> torch.Tensor:
    """1.0 where a run predicts an example's class, else 0.0, [K, B]; on a regression task the
    squared error instead."""
    targets = targets.expand(logits.shape[:2])
    if loss is not None and loss.regression:
        return _squared_errors(logits, targets, loss)
    if logits.shape[-1] == 1:
        predicted = (logits.squeeze(-1) > 0).to(targets.dtype)
    else:
        predicted = logits.argmax(dim=-1)
    return (predicted == targets).float()


def run_losses(
    logits: torch.Tensor, targets: torch.Tensor, loss: Loss | None = None
) -> torch.Tensor:
    """(1/m) Σ ℓ of each run, [K]."""
    return example_losses(logits, targets, loss).mean(dim=1)


def constant_loss(targets: torch.Tensor, n_classes: int, kind: str | None = None) -> float:
    """The training loss of the best constant predictor: a net that ends here learned the class
    prior (or the target's mean) and nothing else. Cross-entropy: the label entropy
    −Σ p_c ln p_c (ln 2 for balanced binary classes); squared error: the target's variance (1/6
    for the adding problem), p(1 − p) for two classes, (1 − Σ p_c²)/C for C."""
    if n_classes == 0:
        return float(targets.double().var(correction=0))
    counts = torch.bincount(targets.long(), minlength=n_classes).double()
    shares = counts / counts.sum()
    if kind == "mse":
        if n_classes == 2:
            return float(shares[1] * (1 - shares[1]))
        return float((1 - shares.square().sum()) / n_classes)
    shares = shares[shares > 0]
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
