"""Measurements of a network: numbers from model and data; never a step, a gradient change, a log.

Layer i counts from 1 (nearest the input) to depth (the output layer), as in DESIGN §3. The
per-epoch measures work on one network or a stack of K (`vgx.batched`) alike: every tensor has a
leading run axis, K = 1 for `vgx train`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import torch

from vgx.data import Splits
from vgx.model import MLP, Activation
from vgx.objective import accuracy, data_loss, example_hits, example_losses

# A weight counts as "near zero" (seed 000's L1 sparsity) below this magnitude.
NEAR_ZERO = 0.01

# A hidden unit counts as saturated where φ′ is below this share of φ′'s maximum (DESIGN §3).
SATURATION_SHARE = 0.01

# The per-layer measures, in the order each layer's metrics are recorded (DESIGN §3).
LAYER_MEASURES = (
    "weight_norm",
    "near_zero",
    "grad_norm",
    "delta_norm",
    "weight_change",
    "update_ratio",
)
HIDDEN_MEASURES = ("saturation", "dead")

# φ′ written as autograd's own backward formula for these φ (bit for bit the same on the CPU; a
# test compares): the probes need it every epoch and an autograd call costs more than all of it.
DERIVATIVE_FROM_OUTPUT: dict[object, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    torch.sigmoid: lambda s, a: (1 - a) * a,
    torch.tanh: lambda s, a: torch.addcmul(torch.ones_like(a), a, a, value=-1),  # fused, as torch
    torch.relu: lambda s, a: (a <= 0).logical_not().to(s.dtype),  # as threshold_backward: NaN → 1
}


class Switchable(Protocol):
    """A network with a training flag: an `MLP` or a `vgx.batched.Stack`."""

    training: bool
    mode_matters: bool

    def train(self, mode: bool = True) -> object: ...


def gradient_norms(model: MLP) -> torch.Tensor:
    """[‖∂J/∂W_1‖ … ‖∂J/∂W_L‖, ‖∂J/∂b_1‖ … ‖∂J/∂b_L‖] from the `.grad` fields, read before clipping.

    One fused call, no host sync: this runs after every training step.
    """
    grads = [p.grad for p in model.weights() + model.biases()]
    grads = [g if g is not None else torch.zeros(1) for g in grads]
    return torch.stack(torch._foreach_norm(grads))


@contextmanager
def evaluating(model: Switchable) -> Iterator[None]:
    """Eval mode for a measuring pass, put back afterwards. Skipped when no layer behaves
    differently in training (no dropout, no batch norm): `nn.Module.train` walks every submodule
    through `__setattr__`, ~0.2 ms for seed 002's net, twice an epoch."""
    if not model.mode_matters:
        yield
        return
    was_training = model.training
    model.train(False)
    try:
        yield
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate(model: MLP, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean data loss, accuracy) in eval mode; NaN on an empty set."""
    if len(y) == 0:
        return float("nan"), float("nan")
    with evaluating(model):
        logits = model(x)
    return float(data_loss(logits, y)), float(accuracy(logits, y))


def max_derivative(activation: Activation) -> float:
    """max φ′ found on a fine grid over [-10, 10] (¼ for sigmoid, 1 for tanh and ReLU)."""
    s = torch.linspace(-10, 10, 20001, requires_grad=True)
    (derivative,) = torch.autograd.grad(activation(s).sum(), s)
    return float(derivative.max())


def saturated_and_dead_masks(
    activation: Activation, s: torch.Tensor, phi_prime_max: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """For pre-activations s [..., examples, units]: where φ′(s) < 1% of max φ′, and which units
    output exactly 0 on every example (reduced over the examples axis, -2)."""
    closed_form = DERIVATIVE_FROM_OUTPUT.get(activation)
    if closed_form is not None:
        a = activation(s.detach())
        derivative = closed_form(s, a)
    else:
        s = s.detach().requires_grad_(True)
        with torch.enable_grad():
            a = activation(s)
            (derivative,) = torch.autograd.grad(a.sum(), s)
        a = a.detach()
    return derivative < SATURATION_SHARE * phi_prime_max, (a == 0).all(dim=-2)


def activity(
    activation: Activation, preactivations: torch.Tensor, phi_prime_max: float
) -> torch.Tensor:
    """[K, hidden layers, (saturation, dead)] from the hidden layers' pre-activations
    [K, layers, examples, units] (all hidden layers have the same width): saturation, the share of
    (unit, example) pairs where φ′(s) < 1% of max φ′; dead, the share of units whose output is
    exactly zero on every example."""
    saturated, dead_units = saturated_and_dead_masks(activation, preactivations, phi_prime_max)
    per_unit = torch.stack([saturated.float().mean(dim=-2), dead_units.float()], dim=-1)
    return per_unit.mean(dim=-2)  # every unit has as many examples: the mean of the means


class LayerSums:
    """Per-layer sums over one flat copy of all weights ([K, P], layer after layer), so that an
    epoch's weight measures take a few dozen torch calls whatever the depth and K."""

    def __init__(self, weights: list[torch.Tensor]) -> None:
        sizes = [w.shape[-2] * w.shape[-1] for w in weights]
        device = weights[0].device
        self.sizes = sizes
        self.layer_of = torch.repeat_interleave(
            torch.arange(len(sizes), device=device), torch.tensor(sizes, device=device)
        )
        self.counts = torch.tensor(sizes, dtype=weights[0].dtype, device=device)

    @staticmethod
    def flatten(weights: list[torch.Tensor]) -> torch.Tensor:
        """[K, P], a copy: safe to keep while the weights change."""
        return torch.cat([w.detach().flatten(-2) for w in weights], dim=-1)

    def norms(self, *flats: torch.Tensor) -> list[torch.Tensor]:
        """‖·‖_F per layer of each flat copy, [K, depth] each, by torch's own norm of each layer
        (its summation order). One run: one fused call over every layer of every copy."""
        if flats[0].shape[0] == 1:
            parts = [part for flat in flats for part in flat[0].split(self.sizes)]
            norms = torch.stack(torch._foreach_norm(parts)).view(len(flats), 1, len(self.sizes))
            return list(norms)
        return [
            torch.stack(
                [torch.linalg.vector_norm(part, dim=-1) for part in flat.split(self.sizes, -1)],
                dim=-1,
            )
            for flat in flats
        ]

    def share_below(self, flat: torch.Tensor, bound: float) -> torch.Tensor:
        """Share of each layer's entries with |w| < bound, [K, depth]; counts add exactly."""
        below = (flat.abs() < bound).to(flat.dtype)
        totals = below.new_zeros(*flat.shape[:-1], len(self.sizes))
        return totals.index_add_(-1, self.layer_of, below) / self.counts


class EpochProbe:
    """Everything measured after an epoch, for one network (K = 1) or a stack of K:

    the data loss and accuracy on the training and validation sets, from one forward pass over
    both; saturation and dead units on the validation set, from the same pass; ‖W_i‖, the share
    of near-zero weights, ‖W_i(t) − W_i(0)‖/‖W_i(0)‖ and the last step's ‖ΔW_i‖/‖W_i‖; the mean
    gradient norms the loop collected. All of it reaches the host in one transfer.
    """

    def __init__(
        self, splits: Splits, initial_weights: list[torch.Tensor], activation: Activation
    ) -> None:
        self.inputs = torch.cat([splits.x_train, splits.x_val])  # one pass: train, then val
        self.targets = torch.cat([splits.y_train, splits.y_val])
        self.n_train = len(splits.y_train)
        n_val = len(splits.y_val)  # ≥ 1, as config.validate demands
        # [(train, val), examples]: one product gives both sets' mean loss and accuracy
        self.set_averages = torch.zeros(2, self.n_train + n_val, device=self.inputs.device)
        self.set_averages[0, : self.n_train] = 1 / self.n_train
        self.set_averages[1, self.n_train :] = 1 / n_val
        self.activation = activation
        self.phi_prime_max = max_derivative(activation)
        self.layers = LayerSums(initial_weights)
        self.initial = self.layers.flatten(initial_weights)
        (initial_norms,) = self.layers.norms(self.initial)
        self.initial_norms = initial_norms.clamp_min(1e-30)
        self.depth = len(initial_weights)
        self._names = self._metric_names()

    def _metric_names(self) -> list[str]:
        head = ["loss/train", "acc/train", "loss/val", "acc/val", "loss/penalty"]
        per_layer = [f"{m}/layer_{i + 1}" for i in range(self.depth) for m in LAYER_MEASURES]
        hidden = [f"{m}/layer_{i + 1}" for i in range(self.depth - 1) for m in HIDDEN_MEASURES]
        return head + per_layer + hidden

    def measure_network(
        self,
        model: MLP,
        grad_means: torch.Tensor,
        penalty: torch.Tensor,
        before: torch.Tensor | None,
    ) -> tuple[dict[str, float], bool]:
        """`measure` for one network: its metrics, and whether they and its parameters are all
        finite."""
        preactivations: list[torch.Tensor] = []
        with evaluating(model), torch.no_grad():
            logits = model(self.inputs, preactivations)
            hidden = self.validation_part(preactivations, run_axis=False)
            biases = torch.cat(model.biases())
        rows, finite = self.measure(  # [None]: the K = 1 axis
            logits[None],
            hidden,
            self.layers.flatten(model.weights())[None],
            biases[None],
            grad_means[None],
            penalty.reshape(1),
            None if before is None else before[None],
        )
        return rows[0], finite[0]

    def validation_part(
        self, preactivations: list[torch.Tensor], run_axis: bool = True
    ) -> torch.Tensor | None:
        """The hidden layers' pre-activations on the validation examples, [K, layers, n_val,
        units], from those of the whole pass (each [K, n, units], or [n, units] without the run
        axis); None at depth 1."""
        if not preactivations:
            return None
        n = self.n_train
        if run_axis:
            return torch.stack([s[:, n:] for s in preactivations], dim=1)
        return torch.stack([s[n:] for s in preactivations])[None]

    def snapshot(self, weights: list[torch.Tensor]) -> torch.Tensor:
        """The weights before the epoch's last step, for its update ratio."""
        return self.layers.flatten(weights)

    @torch.no_grad()
    def measure(
        self,
        logits: torch.Tensor,
        preactivations: torch.Tensor | None,
        weights: torch.Tensor,
        biases: torch.Tensor,
        grad_means: torch.Tensor,
        penalty: torch.Tensor,
        before: torch.Tensor | None,
    ) -> tuple[list[dict[str, float]], list[bool]]:
        """Rows of metrics per run, and per run whether all its metrics and parameters are
        finite (False: the run diverged).

        `logits` [K, n_train + n_val, outputs] and the hidden layers' `preactivations` on the
        validation examples (`validation_part`) come from an eval-mode forward pass over
        `self.inputs`; weights [K, P] as `LayerSums.flatten` lays them out, biases [K, B],
        grad_means [K, 2·depth] (weights' then biases'), penalty [K], before [K, P] or None.
        """
        per_example = torch.stack(
            [example_losses(logits, self.targets), example_hits(logits, self.targets)], dim=-1
        )  # [K, examples, (loss, hit)]
        set_means = self.set_averages @ per_example  # [K, (train, val), (loss, hit)]
        now = weights
        if before is None:  # epoch 0: no step yet
            weight_norms, moved = self.layers.norms(now, now - self.initial)
            ratio = torch.zeros_like(weight_norms)
        else:
            weight_norms, moved, step, previous = self.layers.norms(
                now, now - self.initial, now - before, before
            )
            ratio = step / previous.clamp_min(1e-30)
        change = moved / self.initial_norms
        per_layer = [
            weight_norms,
            self.layers.share_below(now, NEAR_ZERO),
            grad_means[:, : self.depth],
            grad_means[:, self.depth :],
            change,
            ratio,
        ]
        columns = [
            set_means.flatten(1),
            penalty.unsqueeze(-1),
            torch.stack(per_layer, dim=-1).flatten(1),
        ]
        if preactivations is not None:  # depth 1 has no hidden layer
            columns.append(activity(self.activation, preactivations, self.phi_prime_max).flatten(1))
        # finite weights show in their norms; the biases' largest |b| is finite iff they all are
        columns.append(biases.abs().amax(dim=-1, keepdim=True))
        values = torch.cat(columns, dim=-1).tolist()
        rows = [dict(zip(self._names, row[:-1], strict=True)) for row in values]
        finite = [all(map(math.isfinite, row)) for row in values]
        return rows, finite
