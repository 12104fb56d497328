"""The network the documents study, for K runs at once: a stack of Linear layers whose parameters
live in one flat tensor [K, P], one row per run.

A single `vgx train` is a stack of one. Every product is a batched one (`baddbmm`), so K runs of
one shape train in one pass; each run keeps its own weights, biases, norm statistics and dropout
masks. Names map to code here: a config never names a class to build.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from vgx.config import ActivationConfig, InitConfig, TrainConfig
from vgx.core.stacking import layer_sizes, output_units

Activation = Callable[[torch.Tensor], torch.Tensor]

NORM_EPS = 1e-5  # torch's BatchNorm1d and LayerNorm default
BATCH_NORM_MOMENTUM = 0.1  # share of a batch's statistics in the running ones (torch's default)


def activation_fn(name: str, slope: float) -> Activation:
    """The element-wise non-linearity φ of the hidden layers; `slope` is leaky ReLU's."""
    functions: dict[str, Activation] = {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda s: nn.functional.leaky_relu(s, slope),
        "elu": nn.functional.elu,
        "gelu": nn.functional.gelu,
        "selu": nn.functional.selu,
        "softsign": nn.functional.softsign,
        "linear": lambda s: s,
    }
    return functions[name]


def _normal(std: float) -> Callable[[torch.Tensor], object]:
    return lambda w: nn.init.normal_(w, 0.0, std)


def init_weight(weight: torch.Tensor, name: str, std: float, scale: float, gain: float) -> None:
    """Fill a Linear weight (out × in) in place; He: std √(2/fan_in), LeCun: √(1/fan_in),
    Glorot & Bengio's normalized init for xavier."""
    fan_in = weight.shape[1]
    initializers: dict[str, Callable[[torch.Tensor], object]] = {
        "xavier_uniform": lambda w: nn.init.xavier_uniform_(w, gain=gain),
        "xavier_normal": lambda w: nn.init.xavier_normal_(w, gain=gain),
        "he_normal": _normal(math.sqrt(2.0 / fan_in)),
        "he_uniform": lambda w: nn.init.uniform_(w, -math.sqrt(6 / fan_in), math.sqrt(6 / fan_in)),
        "lecun_normal": _normal(math.sqrt(1.0 / fan_in)),
        "orthogonal": lambda w: nn.init.orthogonal_(w, gain=gain),
        "normal": _normal(std),
        "uniform": lambda w: nn.init.uniform_(w, -scale, scale),
    }
    with torch.no_grad():
        initializers[name](weight)


def fill_bias(bias: torch.Tensor, init: InitConfig) -> None:
    """A bias at its start: the constant `init.bias`, plus N(0, `init.bias_std`²) when set."""
    with torch.no_grad():
        bias.fill_(init.bias)
        if init.bias_std > 0:
            bias.add_(torch.randn_like(bias), alpha=init.bias_std)


@dataclass(frozen=True)
class Architecture:
    """What the runs of one stack share: the shape and kind of the network."""

    n_in: int
    n_out: int
    depth: int  # Linear layers, the output layer included
    width: int
    activation: str
    slope: float = ActivationConfig.slope
    norm: str = "none"  # none, batch, layer: Linear → norm → φ in the hidden layers
    residual: bool = False

    @classmethod
    def of(cls, cfg: TrainConfig, n_in: int, n_classes: int) -> Architecture:
        return cls(
            n_in=n_in,
            n_out=output_units(n_classes),
            depth=cfg.depth,
            width=cfg.width,
            activation=cfg.activation.name,
            slope=cfg.activation.slope,
            norm=cfg.norm,
            residual=cfg.residual,
        )

    @property
    def dims(self) -> list[int]:
        return layer_sizes(self.n_in, self.n_out, self.depth, self.width)

    @property
    def hidden(self) -> int:
        return self.depth - 1

    def segments(self) -> list[tuple[int, ...]]:
        """The shapes in a run's flat row, in order: W_1 … W_L, b_1 … b_L, then the norms'
        scales γ_1 … γ_{L-1}. With a norm, a hidden layer's bias b_i is the norm's shift β_i
        (the Linear's own bias would be cancelled by the norm)."""
        dims = self.dims
        weights = [(dims[i + 1], dims[i]) for i in range(self.depth)]
        biases = [(dims[i + 1],) for i in range(self.depth)]
        scales = [(dims[i + 1],) for i in range(self.hidden)] if self.norm != "none" else []
        return weights + biases + scales

    def sizes(self) -> list[int]:
        return [math.prod(shape) for shape in self.segments()]

    def weight_count(self) -> int:
        """Entries of W_1 … W_L: the first columns of a flat row."""
        return sum(self.sizes()[: self.depth])

    def pack(
        self,
        weights: list[torch.Tensor],
        biases: list[torch.Tensor],
        scales: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """One run's flat row [P] from its tensors (the layout of `segments`)."""
        parts = [*weights, *biases, *(scales or [])]
        return torch.cat([p.detach().reshape(-1) for p in parts])


def initial_row(cfg: TrainConfig, arch: Architecture) -> torch.Tensor:
    """One run's initial parameters, drawn from torch's random state seeded with `cfg.seed` in
    the order a plain PyTorch script draws them: each `nn.Linear` in turn (PyTorch's default
    init), then the chosen initializer over every weight. `torch_default` keeps PyTorch's own
    weights and biases (U[−1/√fan_in, 1/√fan_in])."""
    torch.manual_seed(cfg.seed)
    dims = arch.dims
    with_norm = arch.norm != "none"
    linears = [
        nn.Linear(dims[i], dims[i + 1], bias=not (with_norm and i < arch.hidden))
        for i in range(arch.depth)
    ]
    weights = [linear.weight.detach() for linear in linears]
    biases = [
        linear.bias.detach() if linear.bias is not None else torch.zeros(dims[i + 1])
        for i, linear in enumerate(linears)
    ]
    if cfg.init.name != "torch_default":
        for weight in weights:
            init_weight(weight, cfg.init.name, cfg.init.std, cfg.init.scale, cfg.init.gain)
        for bias in biases:
            fill_bias(bias, cfg.init)
    scales = [torch.ones(dims[i + 1]) for i in range(arch.hidden)] if with_norm else None
    return arch.pack(weights, biases, scales)


class Network:
    """K runs of one architecture. `params` [K, P] is the one leaf tensor that training updates;
    each forward pass cuts it into per-layer views, so its gradient arrives in one tensor too.

    Dropout draws each run's masks from that run's own generator (seeded with its seed), so a
    run gives the same masks alone and in a stack. Batch norm keeps running statistics per run.
    """

    def __init__(
        self,
        arch: Architecture,
        params: torch.Tensor,
        dropout: torch.Tensor | None = None,
        dropout_seeds: list[int] | None = None,
    ) -> None:
        k = params.shape[0]
        device = params.device
        self.arch = arch
        self.k = k
        self.params = params.detach().clone().requires_grad_(True)
        self.activation = activation_fn(arch.activation, arch.slope)
        self.dropout = dropout if dropout is not None else torch.zeros(k, device=device)
        self.dropout_runs = [j for j, p in enumerate(self.dropout.tolist()) if p > 0]
        seeds = dropout_seeds or [0] * k
        self.generators = {
            j: torch.Generator(device=device).manual_seed(seeds[j]) for j in self.dropout_runs
        }
        self.running = (
            [
                (
                    torch.zeros(k, 1, arch.width, device=device),
                    torch.ones(k, 1, arch.width, device=device),
                )
                for _ in range(arch.hidden)
            ]
            if arch.norm == "batch"
            else []
        )
        self.training = True
        # whether eval mode changes the output (dropout off, batch norm's running statistics)
        self.mode_matters = bool(self.dropout_runs) or arch.norm == "batch"
        self._sizes = arch.sizes()
        self._shapes = arch.segments()
        self._weight_count = arch.weight_count()
        self._bias_count = sum(self._sizes[arch.depth : 2 * arch.depth])
        self.gradient_segments = 2 * arch.depth  # reported gradient norms: weights and biases

    @classmethod
    def build(cls, cfgs: list[TrainConfig], arch: Architecture, device: torch.device) -> Network:
        rows = torch.stack([initial_row(cfg, arch) for cfg in cfgs]).to(device)
        dropout = torch.tensor([c.regularizer.dropout for c in cfgs], device=device)
        return cls(arch, rows, dropout, [c.seed for c in cfgs])

    def train(self, mode: bool = True) -> Network:
        self.training = mode
        return self

    @property
    def depth(self) -> int:
        return self.arch.depth

    def parts(self) -> list[torch.Tensor]:
        """Views of the flat rows, shaped as `Architecture.segments`, each with the run axis."""
        pieces = self.params.split(self._sizes, dim=1)
        return [p.view(self.k, *shape) for p, shape in zip(pieces, self._shapes, strict=True)]

    def weights(self) -> list[torch.Tensor]:
        return self.parts()[: self.depth]

    def biases(self) -> list[torch.Tensor]:
        return self.parts()[self.depth : 2 * self.depth]

    def weight_rows(self) -> torch.Tensor:
        """W_1 … W_L of every run, flat [K, weights]: a view, not a copy."""
        return self.params[:, : self._weight_count]

    def bias_rows(self) -> torch.Tensor:
        """b_1 … b_L of every run, flat [K, biases]: a view."""
        return self.params[:, self._weight_count : self._weight_count + self._bias_count]

    def running_state(self) -> list[torch.Tensor]:
        return [t.clone() for pair in self.running for t in pair]

    def restore_running_state(self, saved: list[torch.Tensor]) -> None:
        flat = [t for pair in self.running for t in pair]
        for t, value in zip(flat, saved, strict=True):
            t.copy_(value)

    def generator_states(self) -> dict[int, torch.Tensor]:
        return {j: g.get_state() for j, g in self.generators.items()}

    def restore_generator_states(self, saved: dict[int, torch.Tensor]) -> None:
        for j, state in saved.items():
            self.generators[j].set_state(state)

    def forward(self, x: torch.Tensor, preactivations: list | None = None) -> torch.Tensor:
        """x [K, B, features] → logits [K, B, outputs]; when `preactivations` is a list, each
        hidden layer's φ input [K, B, units] is appended to it."""
        parts = self.parts()
        depth = self.depth
        weights, biases, scales = parts[:depth], parts[depth : 2 * depth], parts[2 * depth :]
        h = x
        for i in range(self.arch.hidden):
            if self.arch.norm == "none":
                s = torch.baddbmm(biases[i].unsqueeze(1), h, weights[i].transpose(1, 2))
            else:
                s = self._normalise(i, torch.bmm(h, weights[i].transpose(1, 2)))
                s = torch.addcmul(biases[i].unsqueeze(1), s, scales[i].unsqueeze(1))
            if preactivations is not None:
                preactivations.append(s)
            a = self.activation(s)
            if self.arch.residual and i > 0:  # layers 2 … depth-1 map width → width
                a = h + a
            if self.training and self.dropout_runs:
                a = self._drop(a)
            h = a
        return torch.baddbmm(biases[-1].unsqueeze(1), h, weights[-1].transpose(1, 2))

    def _normalise(self, i: int, s: torch.Tensor) -> torch.Tensor:
        """Batch norm over each run's batch (running statistics in eval mode), or layer norm
        over each example's units; the scale and shift are applied by the caller."""
        if self.arch.norm == "layer":
            var, mean = torch.var_mean(s, dim=-1, keepdim=True, correction=0)
        elif self.training:
            var, mean = torch.var_mean(s, dim=1, keepdim=True, correction=0)
            running_mean, running_var = self.running[i]
            n = s.shape[1]
            with torch.no_grad():  # torch keeps the unbiased variance in its running statistic
                running_mean.lerp_(mean, BATCH_NORM_MOMENTUM)
                running_var.lerp_(var * (n / max(n - 1, 1)), BATCH_NORM_MOMENTUM)
        else:
            mean, var = self.running[i]
        return (s - mean) * torch.rsqrt(var + NORM_EPS)

    def _drop(self, a: torch.Tensor) -> torch.Tensor:
        """Inverted dropout, each run's mask from its own generator."""
        keep = 1 - self.dropout
        masks = torch.ones_like(a)
        for j in self.dropout_runs:
            masks[j] = (
                torch.bernoulli(torch.full_like(a[j], float(keep[j])), generator=self.generators[j])
                / keep[j]
            )
        return a * masks
