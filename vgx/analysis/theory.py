"""What mean-field theory predicts for the back-propagated gradient at initialisation.

Schoenholz, Gilmer, Ganguli & Sohl-Dickstein (2017), "Deep Information Propagation": in a wide
network with weights of variance σ_w²/fan_in and biases of variance σ_b², the pre-activation
variance settles at the fixed point q* of  q = σ_w² E[φ(√q z)²] + σ_b²  (z ~ N(0,1)), and each layer
multiplies the squared back-propagated error by  χ₁ = σ_w² E[φ′(√q* z)²]. The gradient norm thus
changes by √χ₁ per layer: it vanishes for χ₁ < 1 and explodes for χ₁ > 1.

A constant bias b (vgx's `init.bias`) enters as the mean of the pre-activation: q is then the
variance of h ~ N(b, q).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vgx.config import ActivationConfig
from vgx.core.network import activation_fn

# Gauss–Hermite nodes for E over N(0,1); an even count keeps z = 0 (ReLU's kink) off the grid.
QUADRATURE_POINTS = 200
FIXED_POINT_ITERATIONS = 2000
Q_LIMIT = 1e12  # beyond this the variance is exploding: stop iterating


@dataclass
class Prediction:
    sigma_w2: float  # weight variance × fan_in
    sigma_b2: float
    bias: float
    q_star: float  # the pre-activation variance's fixed point (inf when it explodes)
    chi1: float

    @property
    def factor(self) -> float:
        """Predicted ratio ‖δ_i‖ / ‖δ_{i+1}‖ of consecutive hidden layers: √χ₁."""
        return math.sqrt(self.chi1)

    def ratio_over(self, layers: int) -> float:
        """Predicted change of the gradient norm across `layers` hidden layers."""
        return self.factor**layers


def _gauss() -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_POINTS)
    return nodes, weights / math.sqrt(2 * math.pi)


def _phi_and_derivative(name: str, slope: float, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = torch.tensor(h, dtype=torch.float64, requires_grad=True)
    y = activation_fn(name, slope)(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return y.detach().numpy(), dy.numpy()


def predict(
    activation: str,
    sigma_w2: float,
    sigma_b2: float = 0.0,
    bias: float = 0.0,
    slope: float = ActivationConfig.slope,
) -> Prediction:
    """q* and χ₁ for an activation and weight/bias variances (Schoenholz et al. 2017)."""
    z, w = _gauss()
    q = 1.0
    for _ in range(FIXED_POINT_ITERATIONS):
        phi, _ = _phi_and_derivative(activation, slope, bias + math.sqrt(q) * z)
        new_q = sigma_w2 * float(w @ phi**2) + sigma_b2
        if not math.isfinite(new_q) or new_q > Q_LIMIT:
            q = math.inf
            break
        if abs(new_q - q) < 1e-12 * max(1.0, q):
            q = new_q
            break
        q = new_q
    spread = math.sqrt(q) if math.isfinite(q) else math.sqrt(Q_LIMIT)
    _, derivative = _phi_and_derivative(activation, slope, bias + spread * z)
    chi1 = sigma_w2 * float(w @ derivative**2)
    return Prediction(sigma_w2, sigma_b2, bias, q, chi1)


def weight_variance(init: str, width: int, std: float, scale: float, gain: float) -> float:
    """σ_w² = Var(W_ij) × fan_in of a width → width hidden layer under each initializer."""
    variances = {
        "xavier_uniform": gain**2 * 2 / (width + width),
        "xavier_normal": gain**2 * 2 / (width + width),
        "he_normal": 2 / width,
        "he_uniform": 2 / width,
        "lecun_normal": 1 / width,
        "orthogonal": gain**2 / width,
        "normal": std**2,
        "uniform": scale**2 / 3,
        "torch_default": 1 / (3 * width),  # kaiming_uniform(a=√5): bound 1/√fan_in
    }
    return variances[init] * width


def predict_for_config(cfg) -> Prediction:  # noqa: ANN001 - a TrainConfig
    sigma_w2 = weight_variance(
        cfg.init.name, cfg.width, cfg.init.std, cfg.init.scale, cfg.init.gain
    )
    bias = 0.0 if cfg.init.name == "torch_default" else cfg.init.bias
    return predict(cfg.activation.name, sigma_w2, 0.0, bias, cfg.activation.slope)


def describe(prediction: Prediction, depth: int) -> str:
    hidden_steps = max(depth - 2, 0)
    regime = (
        "vanishes"
        if prediction.chi1 < 0.95
        else "explodes"
        if prediction.chi1 > 1.05
        else "stays level"
    )
    q = f"{prediction.q_star:.4g}" if math.isfinite(prediction.q_star) else "∞ (variance explodes)"
    return "\n".join(
        [
            f"σ_w² = {prediction.sigma_w2:.4g}   bias = {prediction.bias:g}   q* = {q}",
            f"χ₁ = σ_w² E[φ′(h)²] = {prediction.chi1:.4g}",
            f"per-layer factor of the back-propagated gradient √χ₁ = {prediction.factor:.4g}",
            f"across the {hidden_steps} hidden-to-hidden steps of depth {depth}: "
            f"×{prediction.ratio_over(hidden_steps):.3g}  — the gradient {regime} with depth",
        ]
    )
