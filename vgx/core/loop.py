"""The training loop: K configs of one shape in, a per-epoch history per run out.

A single `vgx train` is a stack of one; a batched sweep trains many runs of one shape together.
Each run keeps what makes it itself: its initial weights (drawn under its own seed as a plain
PyTorch script draws them), its data order and dropout masks (its own generators), its λ,
learning rate, clip threshold and init scale. So a run gives the same history alone and in a
stack.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from vgx.config import TrainConfig
from vgx.core import models, probes
from vgx.core.data import Splits, load
from vgx.core.objective import Loss, constant_loss, penalty, run_losses
from vgx.core.optim import StackedOptimizer, clip
from vgx.core.stacking import output_units, step_multiply_adds
from vgx.results import TrainResult

# Called after every measured epoch with (run index in the stack, epoch, that run's metrics).
EpochCallback = Callable[[int, int, dict[str, float]], None]

# Multiply-adds of one step's forward pass below which vgx trains on one CPU thread: torch's
# intra-op threads cost more than they give on such small products (seed 002's net, ~26k a step,
# trains 1.5× faster on one thread of two, and 5× faster while another process is busy, such as
# vgx's recording process); at width 256 (~17M) two threads gain ~20%. Measured on 2 cores.
ONE_THREAD_BELOW = 4_000_000


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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


def batches(order: torch.Tensor, batch_size: int, merge_single: bool) -> list[torch.Tensor]:
    """The epoch's minibatches along the last axis of `order`. Under batch norm a last batch of
    one example has no batch statistics: it joins the batch before it."""
    parts = list(order.split(batch_size, dim=-1))
    if merge_single and len(parts) > 1 and parts[-1].shape[-1] == 1:
        parts[-2:] = [torch.cat(parts[-2:], dim=-1)]
    return parts


def train_run(
    cfg: TrainConfig,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train one config: a stack of one."""
    callback = None if on_epoch is None else lambda _run, epoch, row: on_epoch(epoch, row)
    return train(cfgs=[cfg], on_epoch=callback, should_stop=should_stop)[0]


def train(
    cfgs: list[TrainConfig],
    on_epoch: EpochCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[TrainResult]:
    """Train configs that share `stack_key` as one stack. A KeyboardInterrupt, or `should_stop()`
    turning true (checked before every step), ends the loop as status `interrupted`, keeping
    the epochs already measured. The same configs give the same histories on the CPU."""
    device = resolve_device(cfgs[0].device)
    splits = models.model_inputs(cfgs[0], load(cfgs[0].dataset)).to(device)
    work = step_multiply_adds(
        cfgs[0], splits.n_features, output_units(splits.n_classes), runs=len(cfgs)
    )
    with cpu_threads(device, work):
        return _train(cfgs, device, splits, on_epoch, should_stop)


def _train(
    cfgs: list[TrainConfig],
    device: torch.device,
    splits: Splits,
    on_epoch: EpochCallback | None,
    should_stop: Callable[[], bool] | None,
) -> list[TrainResult]:
    cfg, k, m = cfgs[0], len(cfgs), len(splits.y_train)
    started = time.perf_counter()
    per_run = lambda values: torch.tensor(values, device=device)  # noqa: E731
    lam = per_run([c.regularizer.lam for c in cfgs])
    threshold = per_run([c.clip.threshold for c in cfgs])
    loss = Loss.of(cfg.loss, splits.n_classes)
    network, probe = models.build(cfgs, splits, loss, device)
    optimizer = StackedOptimizer(
        cfg.optimizer.name, per_run([c.optimizer.lr for c in cfgs]), cfg.optimizer.momentum
    )
    orders = [torch.Generator().manual_seed(c.seed) for c in cfgs]  # data order, apart from init
    gradient_norms = probes.GradientNorms(network)
    merge_single = cfg.norm == "batch"
    results = [TrainResult() for _ in cfgs]
    alive = torch.ones(k, dtype=torch.bool, device=device)
    probe_seconds = 0.0

    def objective(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        losses = run_losses(network.forward(x), y, loss)
        losses = losses + penalty(network.weight_rows(), cfg.regularizer, m, lam)
        return torch.where(alive, losses, torch.zeros_like(losses)).sum()

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One backward pass; the unclipped gradient norms, as the tuning playbook asks."""
        network.params.grad = None
        objective(x, y).backward()
        return gradient_norms(network.params.grad)

    def record(epoch: int, grad_means: torch.Tensor, before: torch.Tensor | None) -> None:
        nonlocal probe_seconds
        t0 = time.perf_counter()
        with torch.no_grad():
            run_penalty = penalty(network.weight_rows(), cfg.regularizer, m, lam)
        rows, finite = probe.measure_network(network, grad_means, run_penalty, before)
        probe_seconds += time.perf_counter() - t0
        for j, (row, result) in enumerate(zip(rows, results, strict=True)):
            if result.status != "finished":
                continue
            result.history.append(row)
            if on_epoch is not None:
                on_epoch(j, epoch, row)
            if not finite[j]:
                result.status, result.diverged_epoch = "diverged", epoch
                _freeze(j)

    def _freeze(j: int) -> None:
        """A diverged run stops; NaN stays out of the stack's products."""
        alive[j] = False
        optimizer.lr[j] = 0.0
        optimizer.forget(j)
        with torch.no_grad():
            network.params[j] = torch.nan_to_num(network.params[j], nan=0.0, posinf=0.0, neginf=0.0)

    try:
        # epoch 0: the untrained networks over one unshuffled pass, no update; the random state
        # and batch norm's running statistics are put back, so training is not touched
        t0 = time.perf_counter()
        saved_running, saved_generators = network.running_state(), network.generator_states()
        fixed = batches(torch.arange(m, device=device), cfg.batch_size, merge_single)
        total = torch.zeros(k, gradient_norms.count, device=device)
        with torch.random.fork_rng(devices=[] if device.type == "cpu" else None):
            for idx in fixed:
                x = splits.x_train[idx]
                total += step(x.expand(k, *x.shape), splits.y_train[idx])
        network.params.grad = None
        network.restore_running_state(saved_running)
        network.restore_generator_states(saved_generators)
        probe_seconds += time.perf_counter() - t0
        record(0, total / len(fixed), None)
        for epoch in range(1, cfg.epochs + 1):
            if not bool(alive.any()):
                break
            order = torch.stack([torch.randperm(m, generator=g) for g in orders]).to(device)
            epoch_batches = batches(order, cfg.batch_size, merge_single)
            grad_sums = torch.zeros(k, gradient_norms.count, device=device)
            before = None
            for number, idx in enumerate(epoch_batches):
                if should_stop is not None and should_stop():
                    raise KeyboardInterrupt
                grad_sums += step(splits.x_train[idx], splits.y_train[idx])
                clip(network.params.grad, cfg.clip.kind, threshold)
                if number == len(epoch_batches) - 1:
                    before = probe.snapshot(network)
                optimizer.step(network.params.data, network.params.grad)
            record(epoch, grad_sums / len(epoch_batches), before)
    except KeyboardInterrupt:
        for result in results:
            if result.status == "finished":
                result.status = "interrupted"
    losses, scores = probes.evaluate(network, splits.x_test, splits.y_test, loss)
    prior = constant_loss(splits.y_train, splits.n_classes, loss.kind)
    elapsed = time.perf_counter() - started
    ended_ms = int(time.time() * 1000)
    started_ms = ended_ms - int(elapsed * 1000)
    for j, result in enumerate(results):
        result.final = {"loss/test": losses[j], f"{loss.score}/test": scores[j]}
        result.final["loss/constant"] = prior
        result.seconds = {"train": (elapsed - probe_seconds) / k, "probes": probe_seconds / k}
        result.started_ms, result.ended_ms = started_ms, ended_ms
    return results
