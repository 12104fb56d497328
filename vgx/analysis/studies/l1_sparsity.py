"""seed 000: L1 drives weights to zero, L2 shrinks them evenly."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    Study,
    Verdict,
    bars,
    conclude,
    settings_table,
    spread,
)

SPARSER = 2.0  # "many weights to zero": L1 leaves at least twice the share of near-zero weights


def judge_l1_sparsity(frame: pd.DataFrame) -> Verdict:
    l1 = frame[frame.regularizer == "l1"]
    l2 = frame[frame.regularizer == "l2"]
    # seed by seed: the same start weights under each penalty
    by_seed = frame.pivot_table(
        index="seed", columns="regularizer", values=["near_zero_end", "weight_norm_end"]
    )
    near_zero, norm = by_seed["near_zero_end"], by_seed["weight_norm_end"]
    have = {"l1", "l2", "none"} <= set(near_zero.columns)
    parts = {
        "L1 sparser than L2": (
            have and bool((near_zero["l1"] > SPARSER * near_zero["l2"]).all()),
            f"near-zero share L1 {spread(l1.near_zero_end)} against {SPARSER}× L2's "
            f"{spread(l2.near_zero_end)}",
        ),
        "L2 shrinks the weights": (
            have and bool((norm["l2"] < norm["none"]).all()),
            f"‖W‖ L2 {spread(l2.weight_norm_end)} against none "
            f"{spread(frame[frame.regularizer == 'none'].weight_norm_end)}",
        ),
    }
    rows = settings_table(frame, ["regularizer"], ["near_zero_end", "weight_norm_end", "val_error"])
    words = [
        f"share of weights under 0.01 in size: L1 {spread(l1.near_zero_end)}, L2 "
        f"{spread(l2.near_zero_end)}; "
        f"‖W‖: L1 {spread(l1.weight_norm_end)}, L2 {spread(l2.weight_norm_end)}"
    ]
    return conclude(parts, rows, words)


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
