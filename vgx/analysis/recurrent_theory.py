"""Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural networks":
for h_t = φ(W_h h_{t−1} + W_x x_t + b), going back one step multiplies ∂ℓ/∂h_t by
W_hᵀ diag(φ′), whose norm is at most γ·λ₁, with γ the bound on |φ′| (1 for tanh and ReLU, ¼ for
sigmoid) and λ₁ the largest singular value of W_h. So λ₁ < 1/γ is sufficient for the gradient to
vanish as (γλ₁)^k over k steps, and λ₁ > 1/γ is necessary (not sufficient) for it to explode.

Beside the bound, the factor actually measured on the untrained network: the k-th root of
‖∂ℓ/∂h_{T−k}‖ / ‖∂ℓ/∂h_T‖ over the whole sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vgx.config import TrainConfig
from vgx.core import models
from vgx.core.data import load
from vgx.core.network import activation_fn
from vgx.core.objective import Loss
from vgx.core.probes import max_derivative
from vgx.core.recurrent import singular_max, spectral_radius
from vgx.core.time_probes import per_step_norms

BOUNDARY = 0.01  # γλ₁ within 1% of 1 (an orthogonal W_h under tanh): neither condition holds


@dataclass(frozen=True)
class RecurrentPrediction:
    gamma: float  # the bound on |φ′|
    singular_max: float  # λ₁ of W_h at initialisation
    radius: float  # W_h's spectral radius at initialisation
    steps: int  # T
    measured_factor: float  # per-step factor of ‖∂ℓ/∂h_t‖ on the untrained network

    @property
    def bound(self) -> float:
        """γλ₁: no step back through time can grow ‖∂ℓ/∂h‖ by more."""
        return self.gamma * self.singular_max

    @property
    def regime(self) -> str:
        if self.bound < 1 - BOUNDARY:
            return "vanishes: λ₁ < 1/γ is sufficient"
        if self.bound > 1 + BOUNDARY:
            return "may explode: λ₁ > 1/γ is necessary for it, not sufficient"
        return "is on the boundary λ₁ = 1/γ: the bound neither vanishes nor grows, φ′ < γ decides"


def pascanu_gamma(cfg: TrainConfig) -> float:
    """max |φ′| of a plain cell's non-linearity (found on a fine grid)."""
    return max_derivative(activation_fn(cfg.activation.name, cfg.activation.slope))


def predict_recurrent(cfg: TrainConfig) -> RecurrentPrediction:
    """The bound for the config's first layer's W_h as its seed draws it, and the factor measured
    on the same untrained network over the first training examples."""
    splits = load(cfg.dataset)
    loss = Loss.of(cfg.loss, splits.n_classes)
    network, probe = models.build([cfg], splits, loss, torch.device("cpu"))
    w_h = network.recurrent_weights()[0].detach()
    norms = per_step_norms(network, probe.delta_x, probe.delta_y, loss)[0]
    steps = norms.shape[0]
    ratio = float(norms[0] / norms[-1]) if float(norms[-1]) > 0 else math.nan
    factor = ratio ** (1 / (steps - 1)) if ratio > 0 else 0.0 if ratio == 0 else math.nan
    return RecurrentPrediction(
        gamma=pascanu_gamma(cfg) if cfg.model.name == "rnn" else 1.0,
        singular_max=float(singular_max(w_h[0], network.arch.gates)),
        radius=float(spectral_radius(w_h[0], network.arch.gates)),
        steps=steps,
        measured_factor=factor,
    )


def describe_recurrent(prediction: RecurrentPrediction, cfg: TrainConfig) -> str:
    p = prediction
    k = p.steps - 1
    lines = [
        f"W_h at initialisation: λ₁ (largest singular value) = {p.singular_max:.4g}   "
        f"spectral radius = {p.radius:.4g}",
    ]
    if cfg.model.name != "rnn":
        lines.append(
            f"model={cfg.model.name}: the conditions below are for a plain cell φ(W_h h + …); "
            "an LSTM's or GRU's gates carry the gradient past W_h, so read them as a reference"
        )
    lines += [
        f"γ = max |φ′| = {p.gamma:.4g}   1/γ = {1 / p.gamma:.4g}   bound on the per-step factor "
        f"γλ₁ = {p.bound:.4g}",
        f"the gradient through time {p.regime}",
        f"over the {k} steps from h_{p.steps} back to h_1: at most ×{p.bound**k:.3g}",
        f"measured on the untrained network: ×{p.measured_factor:.4g} a step, "
        f"×{p.measured_factor**k:.3g} over the {k} steps",
    ]
    return "\n".join(lines)
