"""seed 001: a negative bias kills ReLU units; leaky ReLU keeps them alive."""

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

MOSTLY_DEAD = 0.5  # "kills ReLU units": over half the hidden units dead at the end


def judge_dying_relu(frame: pd.DataFrame) -> Verdict:
    worst_bias = frame.bias.min()
    relu = frame[(frame.activation == "relu") & (frame.bias == worst_bias)]
    leaky = frame[(frame.activation == "leaky_relu") & (frame.bias == worst_bias)]
    parts = {
        f"ReLU with bias {worst_bias:g} mostly dead": (
            bool(len(relu)) and bool((relu.dead_end > MOSTLY_DEAD).all()),
            f"dead share {spread(relu.dead_end)}, bar > {MOSTLY_DEAD}",
        ),
        "leaky ReLU alive": (
            bool(len(leaky)) and bool((leaky.dead_end == 0).all()),
            f"dead share {spread(leaky.dead_end)}",
        ),
    }
    rows = settings_table(frame, ["activation", "bias"], ["dead_end", "val_error"])
    words = [
        f"ReLU, bias {worst_bias:g}: dead share {spread(relu.dead_end)}; leaky ReLU: "
        f"{spread(leaky.dead_end)}; validation error {spread(relu.val_error)} vs "
        f"{spread(leaky.val_error)}"
    ]
    return conclude(parts, rows, words)


def figure_dying_relu(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import bar_chart

    return bar_chart(
        bars(frame, ["activation", "bias"], "dead_end"),
        "Dead hidden units after training (activation, initial bias)",
        "share of units outputting 0 on every validation example",
        folder / "dead_units.png",
    )


STUDY = Study(
    "dying_relu",
    "A negative bias kills ReLU units; leaky ReLU keeps them alive",
    "seed 001",
    judge_dying_relu,
    figure_dying_relu,
    headline_figure="dead_units.png",
)
