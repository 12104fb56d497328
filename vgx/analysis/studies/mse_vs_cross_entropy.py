"""seed 000: a sigmoid output is trained on cross-entropy, not squared error, because squared
error's gradient carries the output's σ′, which vanishes when a wrong prediction saturates."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    FALLING_LOSS,
    FLAT_LOSS,
    Paper,
    Study,
    Verdict,
    conclude,
    curves,
    settings_table,
    spread,
)

SMALLER = 0.01  # "vanishes": squared error's output error signal below 1% of cross-entropy's


def judge_mse_vs_cross_entropy(frame: pd.DataFrame) -> Verdict:
    signal = frame.assign(output_signal=frame.deltas_0.str[-1])
    paired = signal.pivot_table(index="seed", columns="loss", values="output_signal")
    ratio = paired["mse"] / paired["bce"] if {"mse", "bce"} <= set(paired) else pd.Series()
    bce, mse = frame[frame["loss"] == "bce"], frame[frame["loss"] == "mse"]
    parts = {
        "at epoch 0 squared error's output error signal is below 1% of cross-entropy's": (
            bool(len(ratio)) and bool((ratio < SMALLER).all()),
            f"‖∂J/∂b‖ of the output, squared error / cross-entropy {spread(ratio)}",
        ),
        "cross-entropy learns": (
            bool(len(bce)) and bool((bce.learned > FALLING_LOSS).all()),
            f"share of the constant predictor's loss removed {spread(bce.learned)}",
        ),
        "squared error stays stuck": (
            bool(len(mse)) and bool((mse.learned < FLAT_LOSS).all()),
            f"share removed {spread(mse.learned)}",
        ),
    }
    rows = settings_table(
        signal, ["loss"], ["output_signal", "learned", "train_error", "val_error"]
    )
    words = [
        f"{name}: output error signal at epoch 0 {spread(group.output_signal)}, training error "
        f"{spread(group.train_error)}"
        for name, group in signal.groupby("loss")
    ]
    return conclude(parts, rows, words)


def figure_mse_vs_cross_entropy(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import median_curves

    frame = frame.assign(error_curve=frame.train_error_curve)
    return median_curves(
        curves(frame, ["loss"], "error_curve"),
        "A sigmoid output saturated wrong at the start: cross-entropy against squared error",
        "training error",
        folder / "error_by_loss.png",
        log=False,
    )


STUDY = Study(
    "mse_vs_cross_entropy",
    "With a sigmoid output, squared error's gradient carries σ′ and vanishes when a wrong "
    "prediction saturates, so the net stays stuck; cross-entropy's does not, and it learns",
    "seed 000; Glorot & Bengio 2010",
    judge_mse_vs_cross_entropy,
    figure_mse_vs_cross_entropy,
    headline_figure="error_by_loss.png",
    paper=Paper(
        "Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward "
        "neural networks",
        "section 4.1 (the effect of the cost function) and its cost-surface figure",
        "the quadratic cost has plateaus where the cross-entropy cost has a slope",
    ),
)
