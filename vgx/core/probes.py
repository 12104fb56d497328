"""Measurements of a network: numbers from model and data; never a step, a gradient change, a log.

Layer i counts from 1 (nearest the input) to depth (the output layer), as docs/metrics.md says.
Every measure works on a stack of K runs: every tensor has a leading run axis, K = 1 for a single
`vgx train`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from vgx.core.data import Splits
from vgx.core.jacobian import JACOBIAN_EXAMPLES, JACOBIAN_METRICS, hidden_jacobian, spectrum
from vgx.core.network import Activation, Network
from vgx.core.objective import Loss, example_hits, example_losses, run_losses

# A weight counts as "near zero" (seed 000's L1 sparsity) below this magnitude.
NEAR_ZERO = 0.01

# A hidden unit counts as saturated where φ′ is below this share of φ′'s maximum (docs/metrics.md).
SATURATION_SHARE = 0.01
# No source text fixes the cut, so the share is also recorded, over all hidden layers, at wider
# cuts: a claim about saturation can be read at each (`saturation_at/5pct`, `…/10pct`).
WIDER_SATURATION_CUTS = (0.05, 0.10)

# The per-layer measures, in the order each layer's metrics are recorded (docs/metrics.md).
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


def segment_sums(flat: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """[..., segments]: the sum of each segment of a flat row made of segments of these sizes,
    one reduction a segment."""
    return torch.stack([part.sum(dim=-1) for part in flat.split(sizes, dim=-1)], dim=-1)


def segment_index(sizes: list[int], device: torch.device) -> torch.Tensor:
    """For a flat row made of segments of these sizes, the segment of each entry (for
    `index_add_`: one call sums every segment of every run)."""
    segments = torch.arange(len(sizes), device=device)
    return torch.repeat_interleave(segments, torch.tensor(sizes, device=device))


# Below this many gradient entries in a stack, one `index_add_` over them all is the fastest
# way to sum the segments (7 µs against 90 µs for the default net alone); above it, adding
# entry by entry costs more than a reduction a segment (3.7 ms against 0.25 ms for three
# 6×256 nets). Measured on the CPU; this runs after every training step.
INDEX_ADD_BELOW = 20_000


class GradientNorms:
    """‖∂J/∂W_i‖ and ‖∂J/∂b_i‖ of every run from the flat gradient [K, P], read before clipping:
    a handful of torch calls whatever the depth and K, and no host sync (this runs after every
    training step)."""

    def __init__(self, network: Network) -> None:
        self.count = network.gradient_segments  # e.g. not the norms' scales γ
        self.sizes = network.arch.sizes()
        self.segment_of = None
        if network.k * sum(self.sizes) < INDEX_ADD_BELOW:
            self.segment_of = segment_index(self.sizes, network.params.device)

    def __call__(self, grad: torch.Tensor) -> torch.Tensor:
        """[K, count]: a feed-forward net's weights' norms, then its biases'; a recurrent
        net's weight matrices'."""
        if self.segment_of is None:
            squares = segment_sums(grad * grad, self.sizes)
        else:
            squares = grad.new_zeros(grad.shape[0], len(self.sizes))
            squares.index_add_(1, self.segment_of, grad * grad)
        return squares[:, : self.count].sqrt()


@contextmanager
def evaluating(network: Network) -> Iterator[None]:
    """Eval mode for a measuring pass, put back afterwards; skipped when no layer behaves
    differently in training (no dropout, no batch norm)."""
    if not network.mode_matters:
        yield
        return
    was_training = network.training
    network.train(False)
    try:
        yield
    finally:
        network.train(was_training)


@torch.no_grad()
def evaluate(
    network: Network, x: torch.Tensor, y: torch.Tensor, loss: Loss | None = None
) -> tuple[list, list]:
    """(mean data loss, accuracy) of each run in eval mode (squared error instead of accuracy
    on a regression task); NaN on an empty set."""
    if len(y) == 0:
        return [math.nan] * network.k, [math.nan] * network.k
    with evaluating(network):
        logits = network.forward(x.expand(network.k, *x.shape))
    hits = example_hits(logits, y, loss).sum(dim=1).tolist()  # counts: exact, so 0 errors read 0
    return run_losses(logits, y, loss).tolist(), [count / len(y) for count in hits]


def max_derivative(activation: Activation) -> float:
    """max φ′ found on a fine grid over [-10, 10] (¼ for sigmoid, 1 for tanh and ReLU)."""
    s = torch.linspace(-10, 10, 20001, requires_grad=True)
    (derivative,) = torch.autograd.grad(activation(s).sum(), s)
    return float(derivative.max())


def derivative_and_dead(
    activation: Activation, s: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For pre-activations s [..., examples, units]: φ′(s), and which units output exactly 0 on
    every example (reduced over the examples axis, -2)."""
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
    return derivative, (a == 0).all(dim=-2)


def activity(
    activation: Activation, preactivations: torch.Tensor, phi_prime_max: float
) -> torch.Tensor:
    """[K, hidden layers × (saturation, dead) + wider cuts] from the hidden layers'
    pre-activations [K, layers, examples, units] (all hidden layers have the same width):
    saturation, the share of (unit, example) pairs where φ′(s) < 1% of max φ′; dead, the share of
    units whose output is exactly zero on every example; then the share over all hidden layers
    below each of WIDER_SATURATION_CUTS."""
    derivative, dead_units = derivative_and_dead(activation, preactivations)
    saturated = derivative < SATURATION_SHARE * phi_prime_max
    per_unit = torch.stack([saturated.float().mean(dim=-2), dead_units.float()], dim=-1)
    per_layer = per_unit.mean(dim=-2).flatten(1)  # equal examples per unit: mean of the means
    wider = [
        (derivative < cut * phi_prime_max).float().flatten(1).mean(dim=1)
        for cut in WIDER_SATURATION_CUTS
    ]
    return torch.cat([per_layer, torch.stack(wider, dim=1)], dim=1)


class LayerSums:
    """Per-layer sums over one flat copy of all weights ([K, P], layer after layer), so that an
    epoch's weight measures take a few dozen torch calls whatever the depth and K."""

    def __init__(self, weights: list[torch.Tensor]) -> None:
        sizes = [w.shape[-2] * w.shape[-1] for w in weights]
        device = weights[0].device
        self.sizes = sizes
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
        return segment_sums((flat.abs() < bound).to(flat.dtype), self.sizes) / self.counts


class SetMeans:
    """The data loss and the accuracy (a regression's squared error) on the training and the
    validation set, from one forward pass over both: every probe's first four numbers."""

    def __init__(self, splits: Splits, loss: Loss | None) -> None:
        self.loss = loss
        self.score = "acc" if loss is None else loss.score
        self.inputs = torch.cat([splits.x_train, splits.x_val])  # one pass: train, then val
        self.targets = torch.cat([splits.y_train, splits.y_val])
        self.n_train = len(splits.y_train)
        self.n_val = len(splits.y_val)  # ≥ 1, as config.validate demands
        # [(train, val), examples]: one product gives both sets' mean loss and score
        self.averages = torch.zeros(2, self.n_train + self.n_val, device=self.inputs.device)
        self.averages[0, : self.n_train] = 1 / self.n_train
        self.averages[1, self.n_train :] = 1 / self.n_val

    def names(self) -> list[str]:
        score = self.score
        return ["loss/train", f"{score}/train", "loss/val", f"{score}/val"]

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """[K, 4] from the logits of the pass over `inputs`, in the order of `names`."""
        per_example = torch.stack(
            [
                example_losses(logits, self.targets, self.loss),
                example_hits(logits, self.targets, self.loss),
            ],
            dim=-1,
        )  # [K, examples, (loss, hit)]
        return (self.averages @ per_example).flatten(1)  # [K, (train, val) × (loss, hit)]

    def round(self, rows: list[dict[str, float]]) -> None:
        """A share of examples is a count over n: 0 errors read 0, not 4e-07."""
        if self.score != "acc":
            return
        for row in rows:
            for name, n in (("acc/train", self.n_train), ("acc/val", self.n_val)):
                if math.isfinite(row[name]):
                    row[name] = round(row[name] * n) / n


class EpochProbe:
    """Everything measured after an epoch, for one network (K = 1) or a stack of K:

    the data loss and accuracy on the training and validation sets, from one forward pass over
    both; saturation and dead units on the validation set, from the same pass; ‖W_i‖, the share
    of near-zero weights, ‖W_i(t) − W_i(0)‖/‖W_i(0)‖ and the last step's ‖ΔW_i‖/‖W_i‖; the mean
    gradient norms the loop collected. All of it reaches the host in one transfer.
    """

    def __init__(
        self,
        splits: Splits,
        initial_weights: list[torch.Tensor],
        activation: Activation,
        loss: Loss | None = None,
    ) -> None:
        self.sets = SetMeans(splits, loss)
        self.activation = activation
        self.phi_prime_max = max_derivative(activation)
        self.layers = LayerSums(initial_weights)
        self.initial = self.layers.flatten(initial_weights)
        (initial_norms,) = self.layers.norms(self.initial)
        self.initial_norms = initial_norms.clamp_min(1e-30)
        self.depth = len(initial_weights)
        self._names = self._metric_names()

    def _metric_names(self) -> list[str]:
        head = [*self.sets.names(), "loss/penalty"]
        per_layer = [f"{m}/layer_{i + 1}" for i in range(self.depth) for m in LAYER_MEASURES]
        hidden = [f"{m}/layer_{i + 1}" for i in range(self.depth - 1) for m in HIDDEN_MEASURES]
        if self.depth > 1:
            hidden += [f"saturation_at/{round(cut * 100)}pct" for cut in WIDER_SATURATION_CUTS]
        return head + per_layer + hidden

    def measure_network(
        self,
        network: Network,
        grad_means: torch.Tensor,
        penalty: torch.Tensor,
        before: torch.Tensor | None,
    ) -> tuple[list[dict[str, float]], list[bool]]:
        """`measure` for a network's runs, from one eval-mode pass over the sets' inputs; at epoch
        0 (no `before`) also the singular values of the hidden stack's Jacobian."""
        preactivations: list[torch.Tensor] = []
        with evaluating(network), torch.no_grad():
            logits = network.forward(
                self.sets.inputs.expand(network.k, *self.sets.inputs.shape), preactivations
            )
            hidden = self.validation_part(preactivations)
        rows, finite = self.measure(
            logits,
            hidden,
            network.weight_rows().detach(),
            network.bias_rows().detach(),
            grad_means,
            penalty,
            before,
        )
        if before is None and hidden is not None and network.arch.norm == "none":
            slopes, _ = derivative_and_dead(self.activation, hidden[:, :, :JACOBIAN_EXAMPLES])
            jacobian = hidden_jacobian(
                [w.detach() for w in network.weights()[1:-1]], slopes, network.arch.residual
            )
            for row, values in zip(rows, spectrum(jacobian).tolist(), strict=True):
                row.update(zip(JACOBIAN_METRICS, values, strict=True))
        return rows, finite

    def validation_part(self, preactivations: list[torch.Tensor]) -> torch.Tensor | None:
        """The hidden layers' pre-activations on the validation examples, [K, layers, n_val,
        units], from those of the whole pass (each [K, n, units]); None at depth 1."""
        if not preactivations:
            return None
        return torch.stack([s[:, self.sets.n_train :] for s in preactivations], dim=1)

    @staticmethod
    def snapshot(network: Network) -> torch.Tensor:
        """The weights before the epoch's last step, for its update ratio: a copy."""
        return network.weight_rows().detach().clone()

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
        `self.sets.inputs`; weights [K, P] as `LayerSums.flatten` lays them out, biases [K, B],
        grad_means [K, 2·depth] (weights' then biases'), penalty [K], before [K, P] or None.
        """
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
            self.sets(logits),
            penalty.unsqueeze(-1),
            torch.stack(per_layer, dim=-1).flatten(1),
        ]
        if preactivations is not None:  # depth 1 has no hidden layer
            columns.append(activity(self.activation, preactivations, self.phi_prime_max))
        # finite weights show in their norms; the biases' largest |b| is finite iff they all are
        columns.append(biases.abs().amax(dim=-1, keepdim=True))
        values = torch.cat(columns, dim=-1).tolist()
        rows = [dict(zip(self._names, row[:-1], strict=True)) for row in values]
        finite = [all(map(math.isfinite, row)) for row in values]
        self.sets.round(rows)
        return rows, finite
