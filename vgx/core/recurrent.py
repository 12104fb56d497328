"""Recurrent networks for K runs at once: h_t = cell(W_x x_t + b, W_h h_{t−1}), stacked `depth`
layers deep, and a linear read-out of the last step's hidden state.

As in the feed-forward network, every run's parameters are one row of a flat tensor [K, P] and
every product is batched over the runs, so recurrent runs of one shape stack too. Seed 004's
proof sketch is about exactly this product: ∂J/∂h_j is a product of Jacobians diag(σ′)·W_h, one
per step between j and the read-out.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from vgx.config import GATES, ActivationConfig, TrainConfig
from vgx.core.network import activation_fn, fill_bias, init_weight
from vgx.core.stacking import output_units, recurrent_segments


@dataclass(frozen=True)
class RecurrentArchitecture:
    """What the runs of one stack share: cell, sizes and read-out."""

    model: str  # rnn, lstm, gru
    n_in: int  # inputs a time step
    n_out: int
    depth: int  # stacked recurrent layers
    width: int  # hidden units
    activation: str = "tanh"  # a plain cell's φ; LSTM and GRU have their own gates
    slope: float = ActivationConfig.slope

    @classmethod
    def of(cls, cfg: TrainConfig, n_in: int, n_classes: int) -> RecurrentArchitecture:
        return cls(
            model=cfg.model.name,
            n_in=n_in,
            n_out=output_units(n_classes),
            depth=cfg.depth,
            width=cfg.width,
            activation=cfg.activation.name,
            slope=cfg.activation.slope,
        )

    @property
    def gates(self) -> int:
        return GATES[self.model]

    def weight_names(self) -> list[str]:
        """The weight matrices in row order; a layer's suffix only when there are several."""
        suffix = (lambda i: f"/layer_{i + 1}") if self.depth > 1 else (lambda i: "")
        pairs = [(f"W_x{suffix(i)}", f"W_h{suffix(i)}") for i in range(self.depth)]
        return [name for pair in pairs for name in pair] + ["W_out"]

    def segments(self) -> list[tuple[int, ...]]:
        return recurrent_segments(self.gates, self.n_in, self.n_out, self.depth, self.width)

    def sizes(self) -> list[int]:
        return [math.prod(shape) for shape in self.segments()]

    def weight_count(self) -> int:
        return sum(self.sizes()[: 2 * self.depth + 1])


def native_kernel(arch: RecurrentArchitecture) -> Callable | None:
    """torch's own kernel where it is the faster: the LSTM's (oneDNN's fused cell on the CPU),
    2× to 7× a training step of stepping in Python for K = 3 to 64 (2 cores, 32 units, 50
    steps). A plain cell or a GRU stepped in Python, every run in one product, was 1.5× to 3×
    faster than torch's kernel run after run."""
    return torch.lstm if arch.model == "lstm" else None


def recurrent_blocks(w_h: torch.Tensor, gates: int) -> list[torch.Tensor]:
    """W_h's square block of each gate (views): [..., gates·H, H] → gates × [..., H, H]."""
    return list(w_h.chunk(gates, dim=-2))


def _over_blocks(w_h: torch.Tensor, gates: int, measure) -> torch.Tensor:  # noqa: ANN001
    """The largest of `measure` over W_h's gate blocks, [...]; NaN where W_h is not finite (a
    diverged run: LAPACK refuses such a matrix)."""
    blocks = torch.stack(recurrent_blocks(w_h.detach(), gates), dim=-3).cpu().double()
    finite = blocks.isfinite().flatten(-2).all(dim=-1)
    values = measure(torch.where(finite[..., None, None], blocks, torch.zeros_like(blocks)))
    values = torch.where(finite, values, torch.full_like(values, math.nan)).amax(dim=-1)
    return values.to(w_h.dtype).to(w_h.device)


def spectral_radius(w_h: torch.Tensor, gates: int) -> torch.Tensor:
    """The largest |eigenvalue| of W_h, over its gates' blocks for LSTM and GRU: [...]."""
    return _over_blocks(w_h, gates, lambda b: torch.linalg.eigvals(b).abs().amax(dim=-1))


def singular_max(w_h: torch.Tensor, gates: int) -> torch.Tensor:
    """The largest singular value λ₁ of W_h, over its gates' blocks for LSTM and GRU: [...]."""
    return _over_blocks(w_h, gates, lambda b: torch.linalg.matrix_norm(b, ord=2))


def _fill_recurrent(block: torch.Tensor, cfg: TrainConfig) -> None:
    """One H×H block of W_h, by `model.recurrent_init`."""
    how = cfg.model.recurrent_init
    with torch.no_grad():
        if how == "orthogonal":
            nn.init.orthogonal_(block)
        elif how == "identity":
            block.copy_(torch.eye(block.shape[0]))
        elif how == "normal":
            nn.init.normal_(block, 0.0, cfg.init.std)
        elif cfg.init.name != "torch_default":  # "init": the init group's choice
            init_weight(block, cfg.init.name, cfg.init.std, cfg.init.scale, cfg.init.gain)


def initial_row(cfg: TrainConfig, arch: RecurrentArchitecture) -> torch.Tensor:
    """One run's initial parameters, drawn under `cfg.seed`: torch's own RNN/LSTM/GRU and read-out
    Linear first (PyTorch's default init), then the `init` group over W_x and the read-out, then
    W_h by `model.recurrent_init`, rescaled to `model.spectral_radius` when one is given; an
    LSTM's forget gate gets `model.forget_bias` on top of its bias."""
    torch.manual_seed(cfg.seed)
    module = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[arch.model](
        arch.n_in, arch.width, num_layers=arch.depth
    )
    readout = nn.Linear(arch.width, arch.n_out)
    tensor = lambda name: getattr(module, name).detach().clone()  # noqa: E731
    inputs = [tensor(f"weight_ih_l{i}") for i in range(arch.depth)]
    recurrent = [tensor(f"weight_hh_l{i}") for i in range(arch.depth)]
    biases = [tensor(f"bias_ih_l{i}") + tensor(f"bias_hh_l{i}") for i in range(arch.depth)]
    out_weight, out_bias = readout.weight.detach().clone(), readout.bias.detach().clone()
    if cfg.init.name != "torch_default":
        for weight in [*inputs, out_weight]:
            init_weight(weight, cfg.init.name, cfg.init.std, cfg.init.scale, cfg.init.gain)
        for bias in [*biases, out_bias]:
            fill_bias(bias, cfg.init)
    if arch.model == "lstm":
        for bias in biases:  # gates i, f, g, o
            bias[arch.width : 2 * arch.width] += cfg.model.forget_bias
    for w_h in recurrent:
        for block in recurrent_blocks(w_h, arch.gates):
            _fill_recurrent(block, cfg)
            if cfg.model.spectral_radius is not None:
                radius = float(spectral_radius(block, 1))
                if radius > 0:
                    block.mul_(cfg.model.spectral_radius / radius)
    weights = [w for pair in zip(inputs, recurrent, strict=True) for w in pair] + [out_weight]
    return torch.cat([p.reshape(-1) for p in [*weights, *biases, out_bias]])


class RecurrentNetwork:
    """K runs of one recurrent architecture; `params` [K, P] is the one leaf tensor training
    updates, as in the feed-forward `Network`, whose interface the loop and the probes share."""

    mode_matters = False  # no dropout or batch norm: eval mode changes nothing

    def __init__(self, arch: RecurrentArchitecture, params: torch.Tensor) -> None:
        self.arch = arch
        self.k = params.shape[0]
        self.params = params.detach().clone().requires_grad_(True)
        self.activation = activation_fn(arch.activation, arch.slope)
        self.training = True
        self._sizes = arch.sizes()
        self._shapes = arch.segments()
        self._weight_count = arch.weight_count()
        # reported gradient norms: every weight matrix (`weight_names`)
        self.gradient_segments = 2 * arch.depth + 1
        self._native = native_kernel(arch)

    @classmethod
    def build(
        cls, cfgs: list[TrainConfig], arch: RecurrentArchitecture, device: torch.device
    ) -> RecurrentNetwork:
        return cls(arch, torch.stack([initial_row(cfg, arch) for cfg in cfgs]).to(device))

    @property
    def depth(self) -> int:
        return self.arch.depth

    def train(self, mode: bool = True) -> RecurrentNetwork:
        self.training = mode
        return self

    def parts(self) -> list[torch.Tensor]:
        pieces = self.params.split(self._sizes, dim=1)
        return [p.view(self.k, *shape) for p, shape in zip(pieces, self._shapes, strict=True)]

    def weights(self) -> list[torch.Tensor]:
        """W_x¹, W_h¹, …, W_out: each [K, rows, columns]."""
        return self.parts()[: 2 * self.depth + 1]

    def recurrent_weights(self) -> list[torch.Tensor]:
        return self.weights()[1 : 2 * self.depth : 2]

    def weight_rows(self) -> torch.Tensor:
        return self.params[:, : self._weight_count]

    def bias_rows(self) -> torch.Tensor:
        return self.params[:, self._weight_count :]

    # nothing random or running to save around the untrained epoch's pass
    def running_state(self) -> list[torch.Tensor]:
        return []

    def restore_running_state(self, saved: list[torch.Tensor]) -> None:
        pass

    def generator_states(self) -> dict[int, torch.Tensor]:
        return {}

    def restore_generator_states(self, saved: dict[int, torch.Tensor]) -> None:
        pass

    def forward(self, x: torch.Tensor, states: list | None = None) -> torch.Tensor:
        """x [K, B, T, inputs] (or [B, T, inputs] for every run) → outputs [K, B, outputs] from
        the last step. When `states` is a list, the top layer's h_1 … h_T [K, B, H] are appended
        to it: the tensors the next step reads, so autograd gives ∂J/∂h_t for each."""
        if x.dim() == 3:
            x = x.expand(self.k, *x.shape)
        parts = self.parts()
        if states is None and self._native is not None:
            h = torch.stack([self._native_run(x[j], [p[j] for p in parts]) for j in range(self.k)])
        else:
            h = self._stepwise(x, parts, states)
        w_out, b_out = parts[2 * self.depth], parts[-1]
        return torch.baddbmm(b_out.unsqueeze(1), h, w_out.transpose(1, 2))

    def _native_run(self, x: torch.Tensor, parts: list[torch.Tensor]) -> torch.Tensor:
        """One run's top hidden state h_T [B, H] by torch's own kernel: the same cell and
        weights; the bias rides as b_ih, b_hh is zero."""
        depth = self.depth
        zero = x.new_zeros(self.arch.gates * self.arch.width)
        weights: list[torch.Tensor] = []
        for layer in range(depth):
            bias = parts[2 * depth + 1 + layer]
            weights += [parts[2 * layer], parts[2 * layer + 1], bias, zero]
        h0 = x.new_zeros(depth, x.shape[0], self.arch.width)
        hidden = (h0, h0)  # h and the LSTM's cell state c
        with warnings.catch_warnings():  # cuDNN compacts weights that are views of `params`
            warnings.filterwarnings("ignore", message=".*contiguous chunk of memory.*")
            outputs = self._native(x, hidden, weights, True, depth, 0.0, self.training, False, True)
        return outputs[0][:, -1]

    def _stepwise(
        self, x: torch.Tensor, parts: list[torch.Tensor], states: list | None
    ) -> torch.Tensor:
        """The top hidden state h_T [K, B, H], a step at a time with every run at once."""
        k, batch, steps, _ = x.shape
        depth, width = self.depth, self.arch.width
        sequence = x
        for layer in range(depth):
            w_x, w_h = parts[2 * layer], parts[2 * layer + 1]
            bias = parts[2 * depth + 1 + layer]
            projected = torch.baddbmm(
                bias.unsqueeze(1), sequence.reshape(k, batch * steps, -1), w_x.transpose(1, 2)
            ).view(k, batch, steps, -1)
            h = x.new_zeros(k, batch, width)
            c = torch.zeros_like(h)
            w_h_t = w_h.transpose(1, 2)
            outputs = []
            for t in range(steps):
                h, c = self._cell(projected[:, :, t], h, c, w_h_t)
                outputs.append(h)
            if states is not None and layer == depth - 1:
                states.extend(outputs)
            if layer < depth - 1:
                sequence = torch.stack(outputs, dim=2)
        return h

    def _cell(
        self, projected: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_h_t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: a plain cell φ(W_x x + b + W_h h); LSTM's i f g o gates (torch's order);
        GRU's r z n (its hidden bias b_hn folded into b_n)."""
        model = self.arch.model
        if model == "rnn":
            return self.activation(torch.baddbmm(projected, h, w_h_t)), c
        if model == "lstm":
            i, f, g, o = torch.baddbmm(projected, h, w_h_t).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c
        x_r, x_z, x_n = projected.chunk(3, dim=-1)
        h_r, h_z, h_n = torch.bmm(h, w_h_t).chunk(3, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return n + z * (h - n), c
