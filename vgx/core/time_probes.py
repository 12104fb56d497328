"""Measurements of a recurrent network through time: numbers from model and data, never a step.

Time step t counts from 1 (the first input) to T (the step the read-out reads); the distance
k = T − t says how far back from the read-out a step lies, as docs/metrics.md says.
"""

from __future__ import annotations

import math

import torch

from vgx.core.data import Splits
from vgx.core.objective import Loss, example_losses
from vgx.core.probes import SetMeans
from vgx.core.recurrent import RecurrentNetwork, singular_max, spectral_radius
from vgx.results import CURVE_PREFIX

# ∂J/∂h_t is measured on this many training examples (the first ones, the same every epoch):
# the whole set's graph through T steps would hold T times the activations of a training batch.
DELTA_EXAMPLES = 256


def distance_grid(steps: int) -> list[int]:
    """k = 0, 1, 2, 4, … and T − 1: distances from the read-out on a log-spaced grid."""
    grid = [0] + [2**i for i in range(steps.bit_length()) if 2**i < steps - 1]
    return sorted({*grid, steps - 1})


def per_step_norms(
    network: RecurrentNetwork, x: torch.Tensor, y: torch.Tensor, loss: Loss
) -> torch.Tensor:
    """[K, T]: ‖∂ℓ/∂h_t‖ of the top layer's hidden state at each step, the root mean square over
    the examples, with ℓ the data loss (each run's own, the stack's sum). Squared in float64:
    a vanishing gradient of 1e-30 squares below float32's range."""
    states: list[torch.Tensor] = []
    with torch.enable_grad():
        logits = network.forward(x, states)
        total = example_losses(logits, y, loss).sum()
        grads = torch.autograd.grad(total, states)
    squares = torch.stack([g.double().square().sum(dim=-1) for g in grads], dim=-1)  # [K, B, T]
    return squares.mean(dim=1).sqrt()


class TimeProbe:
    """Everything measured after an epoch of a recurrent stack:

    the data loss and accuracy (squared error for regression) on the training and validation
    sets; ‖∂J/∂W‖ of every weight matrix (the loop's means over the epoch's steps);
    ‖W(t) − W(0)‖/‖W(0)‖ of each; W_h's spectral radius and largest singular value; and
    ‖∂ℓ/∂h_t‖ at every step t, on the first `DELTA_EXAMPLES` training examples.
    """

    def __init__(self, splits: Splits, network: RecurrentNetwork, loss: Loss) -> None:
        self.loss = loss
        self.sets = SetMeans(splits, loss)
        self.delta_x = splits.x_train[:DELTA_EXAMPLES]
        self.delta_y = splits.y_train[:DELTA_EXAMPLES]
        self.steps = splits.steps
        self.gates = network.arch.gates
        self.weight_names = network.arch.weight_names()
        self.initial = [w.detach().clone() for w in network.weights()]
        self.initial_norms = [
            torch.linalg.vector_norm(w.flatten(1), dim=1).clamp_min(1e-30) for w in self.initial
        ]
        self.grid = distance_grid(self.steps)
        self._names = self._metric_names()

    def _metric_names(self) -> list[str]:
        head = [*self.sets.names(), "loss/penalty"]
        grads = [f"grad_norm/{name}" for name in self.weight_names]
        change = [f"weight_change/{name}" for name in self.weight_names]
        recurrent = [name for name in self.weight_names if name.startswith("W_h")]
        radii = [f"{m}/{name}" for name in recurrent for m in ("spectral_radius", "singular_max")]
        distances = [f"delta_norm/step_{k}" for k in self.grid]
        curve = [f"{CURVE_PREFIX}{t}" for t in range(1, self.steps + 1)]
        return head + grads + change + radii + distances + curve

    @staticmethod
    def snapshot(network: RecurrentNetwork) -> None:
        """No update ratio is reported through time: nothing to keep."""
        return None

    @torch.no_grad()
    def measure_network(
        self,
        network: RecurrentNetwork,
        grad_means: torch.Tensor,
        penalty: torch.Tensor,
        before: torch.Tensor | None,
    ) -> tuple[list[dict[str, float]], list[bool]]:
        """Rows of metrics per run, and per run whether they and its parameters are finite."""
        set_means = self.sets(network.forward(self.sets.inputs))  # [K, 4]
        weights = network.weights()
        change = [
            torch.linalg.vector_norm((w.detach() - w0).flatten(1), dim=1) / n0
            for w, w0, n0 in zip(weights, self.initial, self.initial_norms, strict=True)
        ]
        radii = []
        for w_h in network.recurrent_weights():
            radii.append(spectral_radius(w_h, self.gates))
            radii.append(singular_max(w_h, self.gates))
        deltas = per_step_norms(network, self.delta_x, self.delta_y, self.loss)  # [K, T]
        distances = deltas[:, [self.steps - 1 - k for k in self.grid]]
        columns = [
            set_means,
            penalty.unsqueeze(-1),
            grad_means,
            torch.stack(change, dim=1),
            torch.stack(radii, dim=1),
            distances,
            deltas,
            network.bias_rows().detach().abs().amax(dim=-1, keepdim=True),
        ]
        values = torch.cat([c.double() for c in columns], dim=-1).tolist()
        rows = [dict(zip(self._names, row[:-1], strict=True)) for row in values]
        # a run diverged when its losses, gradients or parameters are not finite; an overflow
        # of ∂ℓ/∂h_t on the probe's examples is a measurement (an exploding gradient), kept
        measured = len(self.grid) + self.steps
        kept = slice(0, -1 - measured)
        finite = [all(map(math.isfinite, row[kept] + row[-1:])) for row in values]
        self.sets.round(rows)
        return rows, finite
