"""The training loop: config in, per-epoch history out. Imports neither hydra nor mlflow."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from vgx import probes
from vgx.config import TrainConfig
from vgx.data import Splits, load
from vgx.model import MLP, build_model, layer_sizes, output_units
from vgx.objective import data_loss, penalty
from vgx.optim import build_optimizer, clip_gradients
from vgx.results import TrainResult

EpochCallback = Callable[[int, dict[str, float]], None]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# Multiply-adds of one step's forward pass below which vgx trains on one CPU thread: torch's
# intra-op threads cost more than they give on such small products (seed 002's net, ~26k a step,
# trains 1.5× faster on one thread of two, and 5× faster while another process is busy, such as
# vgx's recording process); at width 256 (~17M) two threads gain ~20%. Measured on 2 cores.
ONE_THREAD_BELOW = 4_000_000


def step_multiply_adds(cfg: TrainConfig, n_features: int, n_outputs: int, runs: int = 1) -> int:
    sizes = layer_sizes(n_features, n_outputs, cfg.depth, cfg.width)
    return runs * cfg.batch_size * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


@contextmanager
def cpu_threads(device: torch.device, multiply_adds: int) -> Iterator[None]:
    """One intra-op thread for small CPU work, torch's own choice otherwise; put back after."""
    previous = torch.get_num_threads()
    if device.type == "cpu" and multiply_adds < ONE_THREAD_BELOW:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
    outputs = output_units(splits.n_classes)
    with cpu_threads(device, step_multiply_adds(cfg, splits.n_features, outputs)):
        return _train(cfg, device, splits, on_epoch, should_stop)


def _train(
    cfg: TrainConfig,
    device: torch.device,
    splits: Splits,
    on_epoch: EpochCallback | None,
    should_stop: Callable[[], bool] | None,
) -> TrainResult:
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
        return not finite

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
