"""seed 002: in the 9-layer net on moons, sigmoid stays flat, ReLU trains."""

from __future__ import annotations

import math

import pandas as pd

from vgx.analysis.studies.base import (
    FAILS,
    FALLING_LOSS,
    FLAT_LOSS,
    HOLDS,
    Study,
    Verdict,
    combine,
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
        flat = bool((sigmoid.loss_drop < FLAT_LOSS).all())
        still = bool((sigmoid.first_layer_weight_change < STILL_WEIGHTS).all())
        falls = bool((relu.loss_drop > FALLING_LOSS).all())
        parts[optimizer] = flat and still and falls
        words.append(
            f"{optimizer}: sigmoid loss drop {spread(sigmoid.loss_drop)}, first-layer change "
            f"{spread(sigmoid.first_layer_weight_change)}; ReLU loss drop {spread(relu.loss_drop)}"
            f" ({HOLDS if parts[optimizer] else FAILS}"
            + ("" if still else ": the sigmoid net's first layer moved")
            + ")"
        )
    rows = settings_table(
        frame, ["optimizer", "activation"], ["loss_drop", "first_layer_weight_change", "val_error"]
    )
    return Verdict(combine(parts), "; ".join(words), rows)


def figure_sigmoid_vs_relu(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import median_curves

    # the values start at 0 (epoch 0): the log scale starts from epoch 1
    frame = frame.assign(
        weight_change_curve=frame.weight_change_curve.apply(lambda c: [math.nan] + c[1:])
    )
    return median_curves(
        curves(frame, ["optimizer", "activation"], "weight_change_curve"),
        "First-layer weight change, 9-layer net on moons (optimizer, activation)",
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
