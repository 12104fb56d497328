"""What mean-field theory predicts for the back-propagated gradient at initialisation.

Schoenholz, Gilmer, Ganguli & Sohl-Dickstein (2017), "Deep Information Propagation": in a wide
network with weights of variance σ_w²/fan_in and biases of variance σ_b², the pre-activation of
layer l is Gaussian with variance q_l, and  q_{l+1} = σ_w² E[φ(√q_l z)²] + σ_b²  (z ~ N(0,1)).
Going back through layer l multiplies the squared error signal by  σ_w² E[φ′(√q_l z)²], so the
gradient norm changes by that factor's root there. Deep in the network q_l settles at the fixed
point q*, where the factor is √χ₁: the gradient vanishes for χ₁ < 1 and explodes for χ₁ > 1.

A net of a few layers is not at q*: the first layer's variance comes from the data (q_1 =
Var(W₁) Σ_j E[x_j²] + σ_b²) and some activations approach q* only as 1/l (GELU under He init:
q* = 0, but the layers that exist see q_l far from it). So each layer's factor is predicted from
its own q_l, and q* is kept for the asymptote. A constant bias b (vgx's `init.bias`) is the mean of
every pre-activation: h ~ N(b, q).
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache

import numpy as np
import torch

from vgx.config import ActivationConfig, DatasetConfig, TrainConfig
from vgx.core.network import activation_fn

# E over N(0,1) by two-point Gauss–Legendre on cells of [−Z_MAX, Z_MAX] whose edges fall on the
# activation's kink (h = 0): each cell's integrand is smooth, so ReLU, SELU and softsign's φ′ are
# exact to ~1e-7, where Gauss–Hermite nodes across the kink were off by several %.
Z_MAX = 10.0
CELLS = 4000
FIXED_POINT_ITERATIONS = 1000
Q_LIMIT = 1e12  # beyond this the variance is exploding: stop iterating
_LEGENDRE = np.array([-1.0, 1.0]) / math.sqrt(3)


def _nodes(kink: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights (the normal density folded in) for E[f(z)], z ~ N(0,1)."""
    h = 2 * Z_MAX / CELLS
    offset = (kink + Z_MAX) % h if abs(kink) < Z_MAX else 0.0
    edges = -Z_MAX + offset + h * np.arange(-1, CELLS + 1)
    centres = edges[:-1] + h / 2
    z = (centres[:, None] + _LEGENDRE[None, :] * h / 2).ravel()
    weights = np.full(z.shape, h / 2) * np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    return z, weights


def gaussian_moments(activation: str, slope: float, mean: float, q: float) -> tuple[float, float]:
    """(E[φ(h)²], E[φ′(h)²]) for h ~ N(mean, q)."""
    spread = math.sqrt(q)
    z, weights = _nodes(-mean / spread if spread > 0 else 0.0)
    x = torch.tensor(mean + spread * z, dtype=torch.float64, requires_grad=True)
    y = activation_fn(activation, slope)(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    phi, derivative = y.detach().numpy(), dy.numpy()
    return float(weights @ phi**2), float(weights @ derivative**2)


# E over two correlated N(0,1) by a Gauss–Hermite product grid (smooth integrands: the correlation
# map is only evaluated for it; the kinks of ReLU and friends cost it a little accuracy).
PAIR_NODES = 80


@lru_cache(maxsize=1)
def _pair_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(PAIR_NODES)
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    return z1, z2, np.outer(w, w) / (2 * math.pi)


def pair_moments(
    activation: str, slope: float, mean: float, q: float, c: float
) -> tuple[float, float]:
    """(E[φ(u₁)φ(u₂)], E[φ′(u₁)φ′(u₂)]) for u₁ = b + √q z₁, u₂ = b + √q (c z₁ + √(1 − c²) z₂)."""
    z1, z2, weights = _pair_grid()
    spread = math.sqrt(q)
    u1 = mean + spread * z1
    u2 = mean + spread * (c * z1 + math.sqrt(max(0.0, 1 - c * c)) * z2)
    x = torch.tensor(np.stack([u1, u2]), dtype=torch.float64, requires_grad=True)
    y = activation_fn(activation, slope)(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    phi, derivative = y.detach().numpy(), dy.numpy()
    return float((weights * phi[0] * phi[1]).sum()), float(
        (weights * derivative[0] * derivative[1]).sum()
    )


class Prediction:
    """The pre-activation variance of each hidden layer, each layer's factor on the
    back-propagated gradient, and the deep network's asymptote (q*, χ₁)."""

    def __init__(
        self,
        activation: str,
        sigma_w2: float,
        sigma_b2: float = 0.0,
        bias: float = 0.0,
        slope: float = ActivationConfig.slope,
        q1: float | None = None,
        hidden_layers: int = 0,
    ) -> None:
        self.activation, self.slope = activation, slope
        self.sigma_w2, self.sigma_b2, self.bias = sigma_w2, sigma_b2, bias
        self.layer_q: list[float] = []  # q_1 … q_hidden
        self.layer_factors: list[float] = []  # ‖δ_l‖/‖δ_{l+1}‖ for l = 1 … hidden − 1
        q = q1
        for layer in range(hidden_layers if q1 is not None else 0):
            self.layer_q.append(q)
            second_moment, derivative = self._moments(q)
            if layer < hidden_layers - 1:
                self.layer_factors.append(math.sqrt(sigma_w2 * derivative))
            q = min(sigma_w2 * second_moment + sigma_b2, Q_LIMIT)

    def _moments(self, q: float) -> tuple[float, float]:
        return gaussian_moments(self.activation, self.slope, self.bias, q)

    @cached_property
    def q_star(self) -> float:
        """The fixed point of the variance map (inf when the variance explodes)."""
        q = 1.0
        for _ in range(FIXED_POINT_ITERATIONS):
            new_q = self.sigma_w2 * self._moments(q)[0] + self.sigma_b2
            if not math.isfinite(new_q) or new_q > Q_LIMIT:
                return math.inf
            if abs(new_q - q) < 1e-12 * max(1.0, q):
                return new_q
            q = new_q
        return q

    @cached_property
    def chi1(self) -> float:
        """χ₁ = σ_w² E[φ′(h)²] at q*: the squared per-layer factor deep in the network."""
        q = self.q_star if math.isfinite(self.q_star) else Q_LIMIT
        return self.sigma_w2 * self._moments(q)[1]

    def _pair_moments(self, q: float, c: float) -> tuple[float, float]:
        return pair_moments(self.activation, self.slope, self.bias, q, c)

    @cached_property
    def c_star(self) -> float:
        """The fixed point of the correlation map c → (σ_w² E[φ(u₁)φ(u₂)] + σ_b²) / q* of two
        inputs' pre-activations: 1 in the ordered phase (χ₁ < 1), below 1 in the chaotic one."""
        q = self.q_star
        if not math.isfinite(q) or q <= 0:
            return math.nan
        if self.chi1 < 1:  # c = 1 is the stable fixed point exactly when χ₁ < 1
            return 1.0
        from scipy.optimize import brentq

        # chaotic: the map pulls c toward c* < 1 from below and pushes it away from 1, so
        # map(c) − c changes sign once on [0, 1)
        def excess(c: float) -> float:
            return (self.sigma_w2 * self._pair_moments(q, c)[0] + self.sigma_b2) / q - c

        top = 1.0 - 1e-3
        if excess(top) >= 0:  # c* within 0.001 of 1: at the critical line
            return 1.0
        return float(brentq(excess, 0.0, top, xtol=1e-10))

    @cached_property
    def chi_c(self) -> float:
        """χ_c = σ_w² E[φ′(u₁)φ′(u₂)] at (q*, c*): how fast the correlation approaches c*."""
        if not math.isfinite(self.c_star):
            return math.nan
        if self.c_star >= 1.0 - 1e-9:
            return self.chi1
        return self.sigma_w2 * self._pair_moments(self.q_star, self.c_star)[1]

    @property
    def xi_c(self) -> float:
        """ξ_c = −1/ln χ_c, the depth scale over which two inputs' correlation is forgotten:
        Schoenholz et al. 2017 find nets trainable to a depth of about 6 ξ_c."""
        chi = self.chi_c
        if not (chi > 0) or chi >= 1:
            return math.inf
        return -1.0 / math.log(chi)

    @property
    def phase(self) -> str:
        return "ordered" if self.chi1 < 1 else "chaotic"

    @property
    def factor(self) -> float:
        """The predicted ratio ‖δ_l‖ / ‖δ_{l+1}‖ of consecutive hidden layers: the geometric mean
        of the layers' own factors where the depth is known, else the asymptote √χ₁."""
        if self.layer_factors:
            return float(np.exp(np.mean(np.log(np.maximum(self.layer_factors, 1e-300)))))
        return math.sqrt(self.chi1)

    @property
    def asymptotic_factor(self) -> float:
        return math.sqrt(self.chi1)

    def ratio_over(self, layers: int) -> float:
        """Predicted change of the gradient norm across `layers` hidden-to-hidden steps."""
        if self.layer_factors and layers <= len(self.layer_factors):
            return float(np.prod(self.layer_factors[:layers]))
        return self.factor**layers


predict = Prediction  # predict("tanh", sigma_w2=1.0).chi1 reads as what it does


def weight_variance(
    init: str, fan_in: int, fan_out: int, std: float, scale: float, gain: float
) -> float:
    """Var(W_ij) of a fan_out × fan_in weight under each of vgx's initializers."""
    variances = {
        "xavier_uniform": gain**2 * 2 / (fan_in + fan_out),
        "xavier_normal": gain**2 * 2 / (fan_in + fan_out),
        "he_normal": 2 / fan_in,
        "he_uniform": 2 / fan_in,
        "lecun_normal": 1 / fan_in,
        "orthogonal": gain**2 / max(fan_in, fan_out),  # orthonormal rows or columns, × gain
        "normal": std**2,
        "uniform": scale**2 / 3,
        "torch_default": 1 / (3 * fan_in),  # kaiming_uniform(a=√5): U(±1/√fan_in)
    }
    return variances[init]


def bias_variance(init: str, fan_in: int, bias_std: float = 0.0) -> float:
    """PyTorch's own biases are U(±1/√fan_in); every other init sets the constant `init.bias`
    plus N(0, `init.bias_std`²)."""
    return 1 / (3 * fan_in) if init == "torch_default" else bias_std**2


def hidden_sigma_w2(init: str, width: int, std: float, scale: float, gain: float) -> float:
    """σ_w² = Var(W_ij) × fan_in of a width → width hidden layer."""
    return weight_variance(init, width, width, std, scale, gain) * width


def input_moments(dataset: DatasetConfig) -> tuple[int, float]:
    """(features, Σ_j E[x_j²] over the training examples): the first layer's variance starts
    from the data's own scale."""
    from vgx.core.data import load

    x = load(dataset).x_train.double()
    return x.shape[1], float((x**2).sum(dim=1).mean())


def predict_for_run(
    activation: str,
    slope: float,
    init: str,
    width: int,
    depth: int,
    n_features: int,
    input_moment: float,
    std: float,
    scale: float,
    gain: float,
    bias: float,
    bias_std: float = 0.0,
) -> Prediction:
    """Layer by layer for a plain MLP: q_1 from the data, then the variance map."""
    first = weight_variance(init, n_features, width, std, scale, gain)
    q1 = first * input_moment + bias_variance(init, n_features, bias_std)
    return predict(
        activation,
        hidden_sigma_w2(init, width, std, scale, gain),
        bias_variance(init, width, bias_std),
        0.0 if init == "torch_default" else bias,
        slope,
        q1=q1,
        hidden_layers=max(depth - 1, 0),
    )


def unsupported(cfg: TrainConfig) -> str | None:
    """Why the theory does not speak for a config, or None: it is for the plain MLP."""
    if cfg.norm != "none":
        return f"norm={cfg.norm}"
    if cfg.residual:
        return "residual=true"
    return None


def predict_for_config(cfg: TrainConfig) -> Prediction:
    return predict_for_run(
        cfg.activation.name,
        cfg.activation.slope,
        cfg.init.name,
        cfg.width,
        cfg.depth,
        *input_moments(cfg.dataset),
        cfg.init.std,
        cfg.init.scale,
        cfg.init.gain,
        cfg.init.bias,
        cfg.init.bias_std,
    )


def describe(prediction: Prediction, depth: int) -> str:
    hidden_steps = max(depth - 2, 0)
    chi1 = prediction.chi1
    regime = "vanishes" if chi1 < 0.95 else "explodes" if chi1 > 1.05 else "stays level"
    q = prediction.q_star
    q_text = f"{q:.4g}" if math.isfinite(q) else "∞ (variance explodes)"
    lines = [
        f"σ_w² = {prediction.sigma_w2:.4g}   σ_b² = {prediction.sigma_b2:.4g}   "
        f"bias = {prediction.bias:g}",
    ]
    if prediction.layer_q:
        shown = ", ".join(f"{v:.3g}" for v in prediction.layer_q[:6])
        more = ", …" if len(prediction.layer_q) > 6 else ""
        lines.append(f"pre-activation variance q_l of hidden layers 1…: {shown}{more}")
    if hidden_steps:
        lines += [
            f"per-layer factor of the back-propagated gradient in this net (from each q_l): "
            f"{prediction.factor:.4g}",
            f"across its {hidden_steps} hidden-to-hidden steps: "
            f"×{prediction.ratio_over(hidden_steps):.3g}",
        ]
    lines += [
        f"deep-network asymptote: q* = {q_text}   χ₁ = σ_w² E[φ′(h)²] = {chi1:.4g}   "
        f"√χ₁ = {prediction.asymptotic_factor:.4g} a layer — the gradient {regime} with depth",
    ]
    xi = prediction.xi_c
    xi_text = (
        f"{xi:.3g} layers, trainable to about 6 ξ_c = {6 * xi:.3g}"
        if math.isfinite(xi)
        else ("∞ (at the critical line)")
    )
    lines.append(
        f"{prediction.phase} phase (χ₁ {'<' if chi1 < 1 else '>'} 1): correlation fixed point "
        f"c* = {prediction.c_star:.4g}, χ_c = {prediction.chi_c:.4g}, depth scale ξ_c = {xi_text} "
        f"(this net: depth {depth})"
    )
    return "\n".join(lines)
