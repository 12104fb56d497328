"""seed 000: L1 drives weights to zero, L2 shrinks them evenly."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    Study,
    Verdict,
    bars,
    combine,
    settings_table,
    spread,
)

SPARSER = 2.0  # "many weights to zero": L1 leaves at least twice the share of near-zero weights


def judge_l1_sparsity(frame: pd.DataFrame) -> Verdict:
    l1 = frame[frame.regularizer == "l1"]
    l2 = frame[frame.regularizer == "l2"]
    parts = {
        "L1 sparser than L2": l1.near_zero_end.median() > SPARSER * l2.near_zero_end.median(),
        "L2 shrinks the weights": l2.weight_norm_end.median()
        < frame[frame.regularizer == "none"].weight_norm_end.median(),
    }
    rows = settings_table(frame, ["regularizer"], ["near_zero_end", "weight_norm_end", "val_error"])
    words = [
        f"share of weights under 0.01 in size: L1 {spread(l1.near_zero_end)}, L2 "
        f"{spread(l2.near_zero_end)}; "
        f"‖W‖: L1 {spread(l1.weight_norm_end)}, L2 {spread(l2.weight_norm_end)}"
    ]
    return Verdict(combine(parts), "; ".join(words), rows)


def figure_l1_sparsity(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import bar_chart

    return bar_chart(
        bars(frame, ["regularizer"], "near_zero_end"),
        "Weights near zero after training, by penalty",
        "share of weights with |w| < 0.01",
        folder / "near_zero_weights.png",
    )


STUDY = Study(
    "l1_sparsity",
    "L1 drives many weights to zero, L2 shrinks them evenly",
    "seed 000",
    judge_l1_sparsity,
    figure_l1_sparsity,
    headline_figure="near_zero_weights.png",
)
