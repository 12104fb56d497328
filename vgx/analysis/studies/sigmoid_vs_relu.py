"""seed 002: in the 9-layer net on moons, sigmoid stays flat, ReLU trains."""

from __future__ import annotations

import math

import pandas as pd

from vgx.analysis.studies.base import (
    FALLING_LOSS,
    FLAT_LOSS,
    Study,
    Verdict,
    conclude,
    curves,
    settings_table,
    spread,
)

STILL_WEIGHTS = 0.01  # "barely change": ‖W₁(T) − W₁(0)‖ below 1% of ‖W₁(0)‖


def judge_sigmoid_vs_relu(frame: pd.DataFrame) -> Verdict:
    parts, words = {}, []
    for optimizer, group in frame.groupby("optimizer"):
        sigmoid = group[group.activation == "sigmoid"]
        relu = group[group.activation == "relu"]
        parts[f"{optimizer}: sigmoid loss nearly flat"] = (
            bool((sigmoid.learned < FLAT_LOSS).all()),
            f"share of the constant predictor's loss removed {spread(sigmoid.learned)}",
        )
        parts[f"{optimizer}: sigmoid first layer barely changes"] = (
            bool((sigmoid.first_layer_weight_change < STILL_WEIGHTS).all()),
            f"‖W₁(T) − W₁(0)‖/‖W₁(0)‖ {spread(sigmoid.first_layer_weight_change)}",
        )
        parts[f"{optimizer}: ReLU loss falls"] = (
            bool((relu.learned > FALLING_LOSS).all()),
            f"share removed {spread(relu.learned)}",
        )
        words.append(
            f"{optimizer}: sigmoid removes {spread(sigmoid.learned)} of the constant "
            f"predictor's loss, first-layer change {spread(sigmoid.first_layer_weight_change)}; "
            f"ReLU removes {spread(relu.learned)}"
        )
    rows = settings_table(
        frame, ["optimizer", "activation"], ["learned", "first_layer_weight_change", "val_error"]
    )
    return conclude(parts, rows, words)


def figure_sigmoid_vs_relu(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import median_curves
    from vgx.analysis.studies.base import depth_and_data

    # the values start at 0 (epoch 0): the log scale starts from epoch 1
    frame = frame.assign(
        weight_change_curve=frame.weight_change_curve.apply(lambda c: [math.nan] + c[1:])
    )
    return median_curves(
        curves(frame, ["optimizer", "activation"], "weight_change_curve"),
        f"First-layer weight change, {depth_and_data(frame)} (optimizer, activation)",
        "‖W₁(t) − W₁(0)‖ / ‖W₁(0)‖ (log scale)",
        folder / "first_layer_change_by_setting.png",
    )


STUDY = Study(
    "sigmoid_vs_relu",
    "In the 9-layer net on moons, with sigmoid the loss stays nearly flat and the first "
    "layer's weights barely change; with ReLU they move and the loss falls",
    "seed 002",
    judge_sigmoid_vs_relu,
    figure_sigmoid_vs_relu,
    headline_figure="first_layer_change_by_setting.png",
)
