"""The training loop: config in, per-epoch history out. Imports neither hydra nor mlflow."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from vgx import probes
from vgx.config import TrainConfig
from vgx.data import Splits, load
from vgx.model import MLP, build_model
from vgx.objective import data_loss, penalty
from vgx.optim import build_optimizer, clip_gradients

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class TrainResult:
    """What a run produced; `history[k]` holds the metrics of epoch k (0 = before any update)."""

    history: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)  # loss/test, acc/test
    status: str = "finished"  # finished, diverged, interrupted
    diverged_epoch: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # train, probes


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def _objective(model: MLP, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, m: int):
    return data_loss(model(x), y) + penalty(model.weights(), cfg.regularizer, m)


def _initial_gradient_norms(model: MLP, splits: Splits, cfg: TrainConfig) -> torch.Tensor:
    """Mean per-step gradient norms of the untrained network over one unshuffled pass, with the
    random state and the norm layers' running statistics put back: training is not touched."""
    params = [p for p in model.parameters()]
    buffers = [b.clone() for b in model.buffers()]
    total = torch.zeros(2 * model.depth, device=splits.x_train.device)
    batches = _batches(len(splits.y_train), cfg.batch_size, None)
    with torch.random.fork_rng(devices=[] if splits.x_train.device.type == "cpu" else None):
        for idx in batches:
            for p in params:
                p.grad = None
            _objective(
                model, splits.x_train[idx], splits.y_train[idx], cfg, len(splits.y_train)
            ).backward()
            total += probes.gradient_norms(model)
    for p in params:
        p.grad = None
    with torch.no_grad():
        for b, saved in zip(model.buffers(), buffers, strict=True):
            b.copy_(saved)
    return total / len(batches)


def train(
    cfg: TrainConfig,
    on_epoch: EpochCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train `cfg` once. A KeyboardInterrupt, or `should_stop()` turning true (checked before
    every step), ends the loop as status `interrupted`, keeping the epochs already measured.
    The same cfg and seed give the same history on the CPU."""
    device = resolve_device(cfg.device)
    splits = load(cfg.dataset).to(device)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, splits.n_features, splits.n_classes).to(device)
    optimizer = build_optimizer(model.parameters(), cfg.optimizer)
    order = torch.Generator().manual_seed(cfg.seed)  # the data order, apart from init and dropout
    probe = probes.EpochProbe(splits, [w.unsqueeze(0) for w in model.weights()], model.activation)
    params = list(model.parameters())
    m = len(splits.y_train)
    result = TrainResult()
    probe_seconds = 0.0
    started = time.perf_counter()

    def record(epoch: int, grad_means: torch.Tensor, before: torch.Tensor | None) -> bool:
        """Measure and report the epoch; True when the run diverged."""
        nonlocal probe_seconds
        t0 = time.perf_counter()
        with torch.no_grad():
            run_penalty = penalty(model.weights(), cfg.regularizer, m)
        metrics, finite = probe.measure_network(model, grad_means, run_penalty, before)
        probe_seconds += time.perf_counter() - t0
        result.history.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        return not (finite and all(math.isfinite(v) for v in metrics.values()))

    try:
        t0 = time.perf_counter()
        initial_norms = _initial_gradient_norms(model, splits, cfg)
        probe_seconds += time.perf_counter() - t0
        if record(0, initial_norms, None):
            result.status, result.diverged_epoch = "diverged", 0
        for epoch in range(1, cfg.epochs + 1):
            if result.status != "finished":
                break
            batches = _batches(m, cfg.batch_size, order)
            grad_sums = torch.zeros(2 * model.depth, device=device)
            before: torch.Tensor | None = None
            for step, idx in enumerate(batches):
                if should_stop is not None and should_stop():
                    raise KeyboardInterrupt
                optimizer.zero_grad(set_to_none=False)
                _objective(model, splits.x_train[idx], splits.y_train[idx], cfg, m).backward()
                grad_sums += probes.gradient_norms(model)  # unclipped, as the tuning playbook asks
                clip_gradients(params, cfg.clip)
                if step == len(batches) - 1:
                    before = probe.snapshot(model.weights())
                optimizer.step()
            if record(epoch, grad_sums / len(batches), before):
                result.status, result.diverged_epoch = "diverged", epoch
    except KeyboardInterrupt:
        result.status = "interrupted"
    result.final["loss/test"], result.final["acc/test"] = probes.evaluate(
        model, splits.x_test, splits.y_test
    )
    result.seconds = {
        "train": time.perf_counter() - started - probe_seconds,
        "probes": probe_seconds,
    }
    return result
