"""seed 003: dropout narrows the train/dev gap of a wide ReLU net."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    Study,
    Verdict,
    conclude,
    settings_table,
    spread,
)


def judge_dropout(frame: pd.DataFrame) -> Verdict:
    frame = frame.assign(gap=frame.val_loss_end - frame.loss_end)
    without = frame[frame.dropout == 0]
    with_dropout = frame[frame.dropout > 0]
    # seed by seed: the same start weights and data with and without dropout
    paired = with_dropout.merge(without, on="seed", suffixes=("_with", "_without"))
    parts = {
        "gap narrows": (
            bool(len(paired)) and bool((paired.gap_with < paired.gap_without).all()),
            f"val − train loss with dropout {spread(with_dropout.gap)} against without "
            f"{spread(without.gap)}",
        )
    }
    rows = settings_table(frame, ["dropout"], ["gap", "loss_end", "val_loss_end", "val_error"])
    words = [
        f"val − train loss without dropout {spread(without.gap)}, with dropout "
        f"{spread(with_dropout.gap)}"
    ]
    return conclude(parts, rows, words)


STUDY = Study(
    "dropout",
    "Dropout narrows the train/dev gap of a wide ReLU net",
    "seed 003",
    judge_dropout,
)
