"""What a training produced, apart from torch: the processes that record runs never import it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

# What vgx's runs measure, as a number: raised with every change to what a probe or metric
# records. It is part of a run's config hash, so that a sweep run again (resume) trains anew
# rather than reusing runs measured the earlier way beside runs measured the new way.
MEASURES_VERSION = 1

# A metric family kept in a run's history.csv and figures only: the whole curve of ‖∂ℓ/∂h_t‖
# over the time steps t, a column a step; MLflow gets it on a log-spaced grid (delta_norm/step_k).
CURVE_PREFIX = "delta_norm/t_"


def time_ratio(metrics: Mapping[str, float], steps: int) -> float:
    """‖∂ℓ/∂h_1‖ / ‖∂ℓ/∂h_T‖ from a recurrent run's `delta_norm/step_k` (k = T − 1 and 0): how
    much of the gradient reaches the first of `steps` steps. NaN where it cannot be read."""
    near = metrics.get("delta_norm/step_0", math.nan)
    far = metrics.get(f"delta_norm/step_{steps - 1}", math.nan)
    return far / near if near else math.nan


def tracked(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics a tracking store gets: all but the history-only curves."""
    return {k: v for k, v in metrics.items() if not k.startswith(CURVE_PREFIX)}


@dataclass
class TrainResult:
    """What a run produced; `history[k]` holds the metrics of epoch k (0 = before any update)."""

    history: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)  # loss/test, acc/test, loss/constant
    status: str = "finished"  # finished, diverged, interrupted
    diverged_epoch: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # train, probes
    started_ms: int | None = None  # wall clock (ms since the epoch) when the training began
    ended_ms: int | None = None  # and when it ended


@dataclass
class RunOutcome:
    """A run as recorded: trained here, or a finished run of the same config reused."""

    run_id: str
    run_name: str
    result: TrainResult | None  # None when a finished run was reused instead of trained
    val_loss: float  # the final validation loss: a sweeper's objective
