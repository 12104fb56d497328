"""What a stack is before torch is imported: which runs share one, the sizes of their network, and
how much work and memory a run is. Plain arithmetic on configs, so that a sweep's process plans
its stacks without importing torch (~1.5 s of its start, before any worker can train)."""

from __future__ import annotations

import math
from dataclasses import asdict

from vgx.config import (
    BOOKKEEPING_KEYS,
    GATES,
    RECURRENT_MODELS,
    TrainConfig,
    run_bytes,
)

# Keys that may differ between the runs of one stack; everything else must be equal.
PER_RUN_KEYS = (
    "seed",
    "regularizer.lam",
    "regularizer.dropout",
    "optimizer.lr",
    "clip.threshold",
    "init",  # the initializer draws each run's weights before training: any choice stacks
    "model.recurrent_init",
    "model.spectral_radius",
    "model.forget_bias",
    *(key for key in BOOKKEEPING_KEYS if key != "device"),  # a stack trains on one device
)


def stack_key(cfg: TrainConfig) -> str:
    """Runs with equal keys train as one stack."""

    def flat(tree: dict, prefix: str = "") -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in tree.items():
            name = f"{prefix}{key}"
            if name in PER_RUN_KEYS:
                continue
            out.update(flat(value, name + ".") if isinstance(value, dict) else {name: value})
        return out

    return repr(sorted(flat(asdict(cfg)).items()))


def is_recurrent(cfg: TrainConfig) -> bool:
    return cfg.model.name in RECURRENT_MODELS


def output_units(n_classes: int) -> int:
    """One logit for two classes (binary cross-entropy), one per class otherwise; one output
    for a regression target (`n_classes` 0)."""
    return 1 if n_classes <= 2 else n_classes


def layer_sizes(n_in: int, n_out: int, depth: int, width: int) -> list[int]:
    """[n_in, width, …, width, n_out]: layer i maps sizes[i] → sizes[i + 1]."""
    return [n_in] + [width] * (depth - 1) + [n_out]


def recurrent_segments(
    gates: int, n_in: int, n_out: int, depth: int, width: int
) -> list[tuple[int, ...]]:
    """A recurrent run's flat row: W_x and W_h of each layer, W_out, then each layer's bias and
    the read-out's. One bias a gate (torch's b_ih + b_hh)."""
    rows = gates * width
    ins = [n_in] + [width] * (depth - 1)
    weights = [shape for n in ins for shape in ((rows, n), (rows, width))]
    biases: list[tuple[int, ...]] = [(rows,)] * depth + [(n_out,)]
    return [*weights, (n_out, width), *biases]


def step_multiply_adds(cfg: TrainConfig, n_features: int, n_outputs: int, runs: int = 1) -> int:
    """Multiply-adds of one training step's forward pass (the loop's choice of CPU threads)."""
    if is_recurrent(cfg):
        segments = recurrent_segments(
            GATES[cfg.model.name], n_features, n_outputs, cfg.depth, cfg.width
        )
        per_step = sum(math.prod(shape) for shape in segments[: 2 * cfg.depth])
        return runs * cfg.batch_size * (cfg.dataset.length * per_step + cfg.width * n_outputs)
    sizes = layer_sizes(n_features, n_outputs, cfg.depth, cfg.width)
    return runs * cfg.batch_size * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def bytes_per_run(cfg: TrainConfig, n_features: int, n_examples: int) -> int:
    """Memory one run adds to a stack (`run_bytes`, with the data's own sizes)."""
    return run_bytes(cfg, n_features, 1, n_examples)
