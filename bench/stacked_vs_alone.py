"""How far a run trained in a stack drifts from the same run trained alone (float rounding that
training carries on): the worst relative difference over every metric of every epoch.

    python bench/stacked_vs_alone.py [--epochs 100]

Prints, per configuration, the worst difference over seeds 0–2 and the metric where it is (the
shares counted at a threshold left out: one weight across it moves them by a whole step).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import compose_config  # noqa: E402
from vgx.core.loop import train  # noqa: E402

CONFIGURATIONS = {
    "default (sigmoid, Adam)": [],
    "batch norm, ReLU": ["norm=batch", "activation=relu"],
    "dropout 0.3, ReLU, width 64": ["regularizer=dropout", "activation=relu", "width=64"],
    "He init, norm clipping at 1": ["init=he_normal", "activation=relu", "clip=norm"],
    "Rprop": ["optimizer=rprop"],
}
SEEDS = (0, 1, 2)
FLOOR = 1e-12  # below this both values count as zero
# Shares counted at a threshold: one weight or unit on the other side changes them by a step.
COUNTS = ("near_zero/", "saturation/", "dead/", "saturation_at/")


def worst_difference(alone: list[dict], stacked: list[dict]) -> tuple[float, str, int]:
    worst = (0.0, "", 0)
    for epoch, (a, b) in enumerate(zip(alone, stacked, strict=True)):
        for key, value in a.items():
            if key.startswith(COUNTS):
                continue
            other = b[key]
            if not (math.isfinite(value) and math.isfinite(other)):
                continue
            scale = max(abs(value), abs(other))
            if scale < FLOOR:
                continue
            difference = abs(value - other) / scale
            if difference > worst[0]:
                worst = (difference, key, epoch)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=100)
    epochs = parser.parse_args().epochs
    print(f"stacked (K = {len(SEEDS)}) against alone, {epochs} epochs, seeds {SEEDS}")
    for name, overrides in CONFIGURATIONS.items():
        cfgs = [
            compose_config([*overrides, f"seed={s}", f"epochs={epochs}", "progress=false"])[0]
            for s in SEEDS
        ]
        stacked = train(cfgs)
        rows = []
        for cfg, together in zip(cfgs, stacked, strict=True):
            (alone,) = train([cfg])
            rows.append((*worst_difference(alone.history, together.history), cfg.seed))
        difference, key, epoch, seed = max(rows)
        print(f"  {name:<30} worst {difference:.2g}  ({key}, epoch {epoch}, seed {seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
