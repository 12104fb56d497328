"""The singular values of a feed-forward net's input-output Jacobian at initialisation (Saxe et al.
2014, Pennington et al. 2017: "dynamical isometry" is all of them near 1).

The Jacobian is taken across the net's equal-width part, from the first hidden layer's output a₁
to the last one's a_{L−1}: J = D_{L−1} W_{L−1} ⋯ D₂ W₂ with D_l = diag(φ′(s_l)) (plus the identity
of each skip connection), an N × N matrix for N hidden units; the input and output layers, whose
sizes are the data's, are left out.
"""

from __future__ import annotations

import math

import torch

# Validation examples whose Jacobians are taken: their singular values are pooled per run.
JACOBIAN_EXAMPLES = 8
JACOBIAN_METRICS = ("jacobian/sv_max", "jacobian/sv_min", "jacobian/sv_spread")


@torch.no_grad()
def hidden_jacobian(
    weights: list[torch.Tensor], slopes: torch.Tensor, residual: bool = False
) -> torch.Tensor:
    """[K, E, N, N]: ∂a_{L−1}/∂a₁ for each run and example, from the hidden layers' weights
    (W₂ … W_{L−1}, each [K, N, N]) and slopes φ′(s₁) … φ′(s_{L−1}) ([K, layers, E, N])."""
    k, layers, examples, units = slopes.shape
    slopes = slopes.double()  # a product of many layers: float64 throughout
    weights = [w.double() for w in weights]
    jacobian = torch.eye(units, dtype=torch.float64, device=slopes.device)
    jacobian = jacobian.expand(k, examples, units, units)
    for layer in range(1, layers):
        slope = slopes[:, layer]  # [K, E, N]
        step = slope.unsqueeze(-1) * (weights[layer - 1].unsqueeze(1) @ jacobian)
        jacobian = jacobian + step if residual else step
    return jacobian


def spectrum(jacobian: torch.Tensor) -> torch.Tensor:
    """[K, 3]: the largest and smallest singular value over a run's examples, and their spread:
    the standard deviation of log10 σ over the nonzero ones (decades).

    A singular value below N·ε·σ_max of its own Jacobian is rounding, not a measurement (the
    tolerance numpy's matrix_rank uses): it counts as 0. A 32-layer linear net's smallest ones
    came out anywhere from 1e-4 to 1e-13 with the threads' summation order."""
    values = torch.linalg.svdvals(jacobian.detach().double())  # [K, E, N]
    units = values.shape[-1]
    resolution = values.amax(dim=-1, keepdim=True) * units * torch.finfo(values.dtype).eps
    values = torch.where(values > resolution, values, torch.zeros_like(values)).flatten(1)
    logs = torch.where(values > 0, values.log10(), torch.full_like(values, math.nan))
    spread = torch.tensor(
        [float(row[row.isfinite()].std()) if row.isfinite().sum() > 1 else 0.0 for row in logs],
        dtype=values.dtype,
    )
    return torch.stack([values.amax(dim=1), values.amin(dim=1), spread], dim=1)
