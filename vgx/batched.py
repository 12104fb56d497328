"""K runs of the same network shape trained as one stacked model (DESIGN §5: K=16 with baddbmm is
~12× faster than 16 sequential runs). Weights are [K, out, in]; every product is a batched one.

Each run keeps what makes it itself: its initial weights (built by `build_model` under its own
seed, exactly as `vgx train` builds them), its data order (its own generator), its λ, learning
rate, clip threshold and init scale. The optimizers follow torch's update formulas with a per-run
learning rate, so a run's history matches the one `vgx train` records, to float tolerance.
One exception: dropout masks come from one generator for the whole stack, not from each run's seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict

import torch

from vgx import probes
from vgx.config import TrainConfig
from vgx.data import Splits, load
from vgx.model import build_model, layer_sizes, output_units
from vgx.objective import penalty, run_accuracies, run_losses
from vgx.train import TrainResult, cpu_threads, resolve_device, step_multiply_adds

# Keys that may differ between the runs of one stack; everything else must be equal.
PER_RUN_KEYS = {
    "seed",
    "regularizer.lam",
    "regularizer.dropout",
    "optimizer.lr",
    "clip.threshold",
    "init.std",
    "init.scale",
    "init.gain",
    "init.bias",
    "tracking",
    "resume",
    "progress",
}
STACKABLE_OPTIMIZERS = ("sgd", "adam", "rmsprop", "sign")
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults
RMSPROP_ALPHA, RMSPROP_EPS = 0.99, 1e-8  # torch.optim.RMSprop's defaults


def _flat(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in PER_RUN_KEYS:
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def stack_key(cfg: TrainConfig) -> str | None:
    """Runs with equal keys train as one stack; None for a config that cannot be stacked."""
    if cfg.norm != "none" or cfg.optimizer.name not in STACKABLE_OPTIMIZERS:
        return None
    shared = {k: v for k, v in _flat(asdict(cfg)).items() if k not in PER_RUN_KEYS}
    return repr(sorted(shared.items()))


def bytes_per_run(cfg: TrainConfig, n_features: int, n_examples: int) -> int:
    """Memory one run adds to a stack: parameters with their gradients, optimizer state and
    snapshots (×8), and the activations of the largest forward pass kept for backward (×3)."""
    dims = layer_sizes(n_features, 1, cfg.depth, cfg.width)
    parameters = sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))
    activations = n_examples * sum(dims) * 3
    return 4 * (8 * parameters + activations)


class Stack:
    """The stacked parameters of K runs, with the forward pass of `vgx.model.MLP`."""

    def __init__(self, cfgs: list[TrainConfig], splits: Splits, device: torch.device) -> None:
        models = []
        for cfg in cfgs:
            torch.manual_seed(cfg.seed)
            models.append(build_model(cfg, splits.n_features, splits.n_classes))
        first = models[0]
        self.activation = first.activation
        self.residual = cfgs[0].residual
        self.depth = first.depth
        self.weights = [
            torch.stack([m.linears[i].weight.detach() for m in models]).to(device).requires_grad_()
            for i in range(self.depth)
        ]
        self.biases = [
            torch.stack([m.linears[i].bias.detach() for m in models]).to(device).requires_grad_()
            for i in range(self.depth)
        ]
        self.dropout = torch.tensor([c.regularizer.dropout for c in cfgs], device=device)
        self.training = True
        self.mode_matters = any(c.regularizer.dropout > 0 for c in cfgs)  # as MLP.mode_matters

    def train(self, mode: bool = True) -> Stack:
        self.training = mode
        return self

    def parameters(self) -> list[torch.Tensor]:
        return self.weights + self.biases

    def forward(self, x: torch.Tensor, preactivations: list | None = None) -> torch.Tensor:
        """x: [K, B, features] → logits [K, B, outputs]."""
        h = x
        for i in range(self.depth - 1):
            s = torch.baddbmm(self.biases[i].unsqueeze(1), h, self.weights[i].transpose(1, 2))
            if preactivations is not None:
                preactivations.append(s)
            a = self.activation(s)
            if self.residual and i > 0:
                a = h + a
            if self.training and bool((self.dropout > 0).any()):
                keep = 1 - self.dropout.view(-1, 1, 1)
                mask = torch.bernoulli(keep.expand_as(a))
                a = torch.where(keep > 0, a * mask / keep, a)
            h = a
        return torch.baddbmm(self.biases[-1].unsqueeze(1), h, self.weights[-1].transpose(1, 2))


def _penalty(stack: Stack, cfg: TrainConfig, lam: torch.Tensor, m: int) -> torch.Tensor:
    """Seed 003's penalty per run [K], by the same formula as a single run's."""
    return penalty(stack.weights, cfg.regularizer, m, lam)


def _per_run_norm(t: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(t.flatten(1), dim=1)


class StackedOptimizer:
    """torch's SGD, Adam, RMSprop and sign descent with a learning rate per run."""

    def __init__(self, params: list[torch.Tensor], cfg: TrainConfig, lr: torch.Tensor) -> None:
        self.params, self.name, self.momentum = params, cfg.optimizer.name, cfg.optimizer.momentum
        self.lr = lr
        self.state: list[dict] = [{} for _ in params]
        self.steps = 0

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        for p, state in zip(self.params, self.state, strict=True):
            g = p.grad
            lr = self.lr.view(-1, *([1] * (p.dim() - 1)))
            if self.name == "sign":
                p.sub_(lr * torch.sign(g))
            elif self.name == "sgd":
                if self.momentum:
                    buf = state.get("buf")
                    buf = g.clone() if buf is None else buf.mul_(self.momentum).add_(g)
                    state["buf"], g = buf, buf
                p.sub_(lr * g)
            elif self.name == "adam":
                m = state.setdefault("m", torch.zeros_like(p))
                v = state.setdefault("v", torch.zeros_like(p))
                m.lerp_(g, 1 - ADAM_BETAS[0])
                v.mul_(ADAM_BETAS[1]).addcmul_(g, g, value=1 - ADAM_BETAS[1])
                bias1 = 1 - ADAM_BETAS[0] ** self.steps
                bias2_sqrt = math.sqrt(1 - ADAM_BETAS[1] ** self.steps)
                denom = (v.sqrt() / bias2_sqrt).add_(ADAM_EPS)
                p.sub_((lr / bias1) * m / denom)
            else:  # rmsprop
                square = state.setdefault("square", torch.zeros_like(p))
                square.mul_(RMSPROP_ALPHA).addcmul_(g, g, value=1 - RMSPROP_ALPHA)
                avg = square.sqrt().add_(RMSPROP_EPS)
                if self.momentum:
                    buf = state.setdefault("buf", torch.zeros_like(p))
                    buf.mul_(self.momentum).addcdiv_(g, avg)
                    p.sub_(lr * buf)
                else:
                    p.sub_(lr * g / avg)


def _clip(params: list[torch.Tensor], kind: str, threshold: torch.Tensor) -> None:
    """Per run: clamp each entry to ±threshold, or rescale its gradient to norm ≤ threshold."""
    with torch.no_grad():
        if kind == "value":
            for p in params:
                t = threshold.view(-1, *([1] * (p.dim() - 1)))
                p.grad.copy_(torch.maximum(torch.minimum(p.grad, t), -t))
        elif kind == "norm":
            total = torch.sqrt(sum(_per_run_norm(p.grad) ** 2 for p in params))
            coefficient = (threshold / (total + 1e-6)).clamp(max=1.0)
            for p in params:
                p.grad.mul_(coefficient.view(-1, *([1] * (p.dim() - 1))))


def _grad_norms(stack: Stack) -> torch.Tensor:
    """[K, 2·depth]: ‖∂J/∂W_i‖ then ‖∂J/∂b_i‖ per run."""
    return torch.stack([_per_run_norm(p.grad) for p in stack.parameters()], dim=1)


@torch.no_grad()
def _evaluate(stack: Stack, x: torch.Tensor, y: torch.Tensor, k: int) -> tuple[list, list]:
    if len(y) == 0:
        return [math.nan] * k, [math.nan] * k
    with probes.evaluating(stack):
        logits = stack.forward(x.expand(k, *x.shape))
    return run_losses(logits, y).tolist(), run_accuracies(logits, y).tolist()


def _metrics(
    stack: Stack,
    probe: probes.EpochProbe,
    cfg: TrainConfig,
    lam: torch.Tensor,
    m: int,
    grad_means: torch.Tensor,
    before: torch.Tensor | None,
) -> tuple[list[dict[str, float]], list[bool]]:
    """What `EpochProbe.measure_network` gives one run, for every run of the stack at once."""
    k = grad_means.shape[0]
    preactivations: list[torch.Tensor] = []
    with probes.evaluating(stack), torch.no_grad():
        logits = stack.forward(probe.inputs.expand(k, *probe.inputs.shape), preactivations)
        hidden = probe.validation_part(preactivations)
        biases = torch.cat(stack.biases, dim=-1)
        run_penalty = _penalty(stack, cfg, lam, m)
    weights = probe.layers.flatten(stack.weights)
    return probe.measure(logits, hidden, weights, biases, grad_means, run_penalty, before)


def train_stack(cfgs: list[TrainConfig]) -> list[TrainResult]:
    """Train runs that share `stack_key` as one model; a result per run, as `vgx.train.train`."""
    device = resolve_device(cfgs[0].device)
    splits = load(cfgs[0].dataset).to(device)
    outputs = output_units(splits.n_classes)
    work = step_multiply_adds(cfgs[0], splits.n_features, outputs, runs=len(cfgs))
    with cpu_threads(device, work):
        return _train_stack(cfgs, device, splits)


def _train_stack(
    cfgs: list[TrainConfig], device: torch.device, splits: Splits
) -> list[TrainResult]:
    cfg = cfgs[0]
    k = len(cfgs)
    started = time.perf_counter()
    stack = Stack(cfgs, splits, device)
    per_run = lambda values: torch.tensor(values, device=device)  # noqa: E731
    lam = per_run([c.regularizer.lam for c in cfgs])
    lr = per_run([c.optimizer.lr for c in cfgs])
    threshold = per_run([c.clip.threshold for c in cfgs])
    optimizer = StackedOptimizer(stack.parameters(), cfg, lr)
    orders = [torch.Generator().manual_seed(c.seed) for c in cfgs]
    probe = probes.EpochProbe(splits, stack.weights, stack.activation)
    params = stack.parameters()
    m = len(splits.y_train)
    results = [TrainResult() for _ in cfgs]
    alive = torch.ones(k, dtype=torch.bool, device=device)
    probe_seconds = 0.0

    def objective(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        losses = run_losses(stack.forward(xb), yb) + _penalty(stack, cfg, lam, m)
        return torch.where(alive, losses, torch.zeros_like(losses)).sum()

    def record(epoch: int, grad_means: torch.Tensor, before) -> None:  # noqa: ANN001
        nonlocal probe_seconds
        t0 = time.perf_counter()
        rows, finite = _metrics(stack, probe, cfg, lam, m, grad_means, before)
        probe_seconds += time.perf_counter() - t0
        for j, (row, result) in enumerate(zip(rows, results, strict=True)):
            if result.status != "finished":
                continue
            result.history.append(row)
            if not finite[j]:
                result.status, result.diverged_epoch = "diverged", epoch
                alive[j] = False
                with torch.no_grad():  # freeze the diverged run, keep NaN out of the stack
                    lr[j] = 0.0
                    for p in params:
                        p[j] = torch.nan_to_num(p[j], nan=0.0, posinf=0.0, neginf=0.0)

    # epoch 0: the untrained networks, one unshuffled pass without updates
    t0 = time.perf_counter()
    total = torch.zeros(k, 2 * stack.depth, device=device)
    fixed = torch.arange(m, device=device).split(cfg.batch_size)
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else None):
        for idx in fixed:
            for p in params:
                p.grad = None
            objective(
                splits.x_train[idx].expand(k, -1, -1), splits.y_train[idx].expand(k, -1)
            ).backward()
            total += _grad_norms(stack)
    for p in params:
        p.grad = None
    probe_seconds += time.perf_counter() - t0
    record(0, total / len(fixed), None)
    for epoch in range(1, cfg.epochs + 1):
        if not bool(alive.any()):
            break
        order = torch.stack([torch.randperm(m, generator=g) for g in orders]).to(device)
        batches = order.split(cfg.batch_size, dim=1)
        grad_sums = torch.zeros(k, 2 * stack.depth, device=device)
        before = None
        for step, idx in enumerate(batches):
            for p in params:
                p.grad = None
            objective(splits.x_train[idx], splits.y_train[idx]).backward()
            grad_sums += _grad_norms(stack)
            _clip(params, cfg.clip.kind, threshold)
            if step == len(batches) - 1:
                before = probe.snapshot(stack.weights)
            optimizer.step()
        record(epoch, grad_sums / len(batches), before)
    losses, accuracies = _evaluate(stack, splits.x_test, splits.y_test, k)
    elapsed = time.perf_counter() - started
    for j, result in enumerate(results):
        result.final = {"loss/test": losses[j], "acc/test": accuracies[j]}
        result.seconds = {"train": (elapsed - probe_seconds) / k, "probes": probe_seconds / k}
    return results
