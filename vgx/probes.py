"""Measurements of a network: pure functions from model and data to numbers.

Probes never step an optimizer, never change a gradient and never log; layer i counts from 1
(nearest the input) to depth (the output layer), as in DESIGN §3.
"""

from __future__ import annotations

import torch

from vgx.model import MLP, Activation
from vgx.objective import accuracy, data_loss

# A weight counts as "near zero" (seed 000's L1 sparsity) below this magnitude.
NEAR_ZERO = 0.01

# A hidden unit counts as saturated where φ′ is below this share of φ′'s maximum (DESIGN §3).
SATURATION_SHARE = 0.01


def gradient_norms(model: MLP) -> torch.Tensor:
    """[‖∂J/∂W_1‖ … ‖∂J/∂W_L‖, ‖∂J/∂b_1‖ … ‖∂J/∂b_L‖] from the `.grad` fields, read before clipping.

    One fused call, no host sync: this runs after every training step.
    """
    grads = [p.grad for p in model.weights() + model.biases()]
    grads = [g if g is not None else torch.zeros(1) for g in grads]
    return torch.stack(torch._foreach_norm(grads))


def snapshot_weights(model: MLP) -> list[torch.Tensor]:
    return [w.detach().clone() for w in model.weights()]


def weight_change(model: MLP, initial: list[torch.Tensor]) -> list[float]:
    """‖W_i(t) − W_i(0)‖_F / ‖W_i(0)‖_F per layer; layer 1 is the documents' first-layer change."""
    out = []
    for w, w0 in zip(model.weights(), initial, strict=True):
        out.append(
            float(torch.linalg.norm(w.detach() - w0) / torch.linalg.norm(w0).clamp_min(1e-30))
        )
    return out


def update_ratio(model: MLP, before: list[torch.Tensor]) -> list[float]:
    """‖ΔW_i‖ / ‖W_i‖ of one step, from the weights saved just before it."""
    out = []
    for w, w_before in zip(model.weights(), before, strict=True):
        delta = torch.linalg.norm(w.detach() - w_before)
        out.append(float(delta / torch.linalg.norm(w_before).clamp_min(1e-30)))
    return out


@torch.no_grad()
def weight_statistics(model: MLP) -> tuple[list[float], list[float]]:
    """Per layer: ‖W_i‖_F (seed 003: λ shrinks it), share of |w| < NEAR_ZERO (seed 000: L1)."""
    norms, near_zero = [], []
    for w in model.weights():
        norms.append(float(torch.linalg.norm(w)))
        near_zero.append(float((w.abs() < NEAR_ZERO).float().mean()))
    return norms, near_zero


@torch.no_grad()
def evaluate(model: MLP, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean data loss, accuracy) in eval mode; NaN on an empty set."""
    if len(y) == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    logits = model(x)
    model.train(was_training)
    return float(data_loss(logits, y)), float(accuracy(logits, y))


def max_derivative(activation: Activation) -> float:
    """max φ′ found on a fine grid over [-10, 10] (¼ for sigmoid, 1 for tanh and ReLU)."""
    s = torch.linspace(-10, 10, 20001, requires_grad=True)
    (derivative,) = torch.autograd.grad(activation(s).sum(), s)
    return float(derivative.max())


def saturation_and_dead(
    model: MLP, x: torch.Tensor, phi_prime_max: float
) -> tuple[list[float], list[float]]:
    """Per hidden layer on the inputs `x` (the validation set), in eval mode:

    saturation: share of (unit, example) pairs where φ′(s) < 1% of max φ′;
    dead: share of units whose output φ(s) is exactly zero on every example.
    """
    was_training = model.training
    model.eval()
    with torch.no_grad():
        preactivations: list[torch.Tensor] = []
        model(x, preactivations)
    model.train(was_training)
    saturation, dead = [], []
    for s in preactivations:
        saturated, dead_units = saturated_and_dead_masks(model.activation, s, phi_prime_max)
        saturation.append(float(saturated.float().mean()))
        dead.append(float(dead_units.float().mean()))
    return saturation, dead


def saturated_and_dead_masks(
    activation: Activation, s: torch.Tensor, phi_prime_max: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """For pre-activations s [..., examples, units]: where φ′(s) < 1% of max φ′, and which units
    output exactly 0 on every example (reduced over the examples axis, -2)."""
    s = s.detach().requires_grad_(True)
    with torch.enable_grad():
        a = activation(s)
        (derivative,) = torch.autograd.grad(a.sum(), s)
    return derivative < SATURATION_SHARE * phi_prime_max, (a.detach() == 0).all(dim=-2)
