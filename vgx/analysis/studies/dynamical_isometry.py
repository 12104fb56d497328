"""Saxe et al. 2014 and Pennington et al. 2017: at initialisation the singular values of a deep tanh
net's input-output Jacobian stay concentrated under orthogonal weights, those of a Gaussian ReLU net
spread over orders of magnitude; a deep linear net with orthogonal weights learns in a number of
epochs that does not grow with its depth."""

from __future__ import annotations

import math

import pandas as pd

from vgx.analysis.studies.base import Paper, Study, Verdict, conclude, settings_table, spread

CONCENTRATED = 0.5  # the log10 singular values' standard deviation below half a decade
SPREAD = 1.0  # "spread over orders of magnitude": above one decade
LEARNED = 0.3  # "learned": the training loss (nats, 10 classes) at or below this
NOT_SLOWER = 2.0  # "does not grow with depth": the deepest within 2× the shallowest's epochs


def epochs_to_learn(curve: list[float]) -> float:
    """The first epoch whose training loss is at or below LEARNED; inf if none."""
    return next((float(e) for e, loss in enumerate(curve) if loss <= LEARNED), math.inf)


def judge_dynamical_isometry(frame: pd.DataFrame) -> Verdict:
    frame = frame.assign(epochs_to_learn=frame.loss_curve.apply(epochs_to_learn))
    deepest, shallowest = frame.depth.max(), frame.depth.min()

    def setting(activation: str, init: str, depth: int) -> pd.DataFrame:
        return frame[
            (frame.activation == activation) & (frame.init == init) & (frame.depth == depth)
        ]

    tanh = setting("tanh", "orthogonal", deepest)
    relu = setting("relu", "he_normal", deepest)
    linear = frame[(frame.activation == "linear") & (frame.init == "orthogonal")]
    timing = linear.pivot_table(index="seed", columns="depth", values="epochs_to_learn")
    ratio = (
        timing[deepest] / timing[shallowest]
        if {deepest, shallowest} <= set(timing)
        else pd.Series(dtype=float)
    )
    parts = {
        f"{deepest}-layer tanh, orthogonal: singular values concentrated": (
            bool(len(tanh)) and bool((tanh.jacobian_spread < CONCENTRATED).all()),
            f"spread of log10 σ {spread(tanh.jacobian_spread)} decades, σ from "
            f"{spread(tanh.jacobian_min)} to {spread(tanh.jacobian_max)}",
        ),
        f"{deepest}-layer ReLU, Gaussian (He): spread over orders of magnitude": (
            bool(len(relu)) and bool((relu.jacobian_spread > SPREAD).all()),
            f"spread {spread(relu.jacobian_spread)} decades, σ up to {spread(relu.jacobian_max)}",
        ),
        "linear, orthogonal: epochs to learn do not grow with depth": (
            bool(len(ratio)) and bool((ratio <= NOT_SLOWER).all()),
            f"epochs to a training loss ≤ {LEARNED}: depth {shallowest} "
            f"{spread(timing[shallowest]) if shallowest in timing else '–'}, depth {deepest} "
            f"{spread(timing[deepest]) if deepest in timing else '–'}",
        ),
    }
    rows = settings_table(
        frame,
        ["activation", "init", "depth"],
        ["jacobian_max", "jacobian_min", "jacobian_spread", "epochs_to_learn", "loss_end"],
    )
    words = [
        f"{activation}, {init}, depth {deepest}: singular values {spread(g.jacobian_min)} to "
        f"{spread(g.jacobian_max)}, spread {spread(g.jacobian_spread)} decades"
        for (activation, init), g in frame[frame.depth == deepest].groupby(["activation", "init"])
    ]
    return conclude(parts, rows, words)


def figure_dynamical_isometry(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import bar_chart
    from vgx.analysis.studies.base import bars

    deepest = frame[frame.depth == frame.depth.max()]
    return bar_chart(
        bars(deepest, ["activation", "init"], "jacobian_spread"),
        f"Spread of the Jacobian's singular values at initialisation, {frame.depth.max()} layers",
        "std of log10 σ (decades)",
        folder / "jacobian_spread.png",
    )


STUDY = Study(
    "dynamical_isometry",
    "At initialisation the singular values of a deep tanh net's input-output Jacobian stay "
    "concentrated under orthogonal weights while a Gaussian ReLU net's spread over orders of "
    "magnitude; a deep linear net with orthogonal weights learns in a number of epochs that "
    "does not grow with depth",
    "Saxe et al. 2014; Pennington et al. 2017",
    judge_dynamical_isometry,
    figure_dynamical_isometry,
    headline_figure="jacobian_spread.png",
    paper=Paper(
        "Saxe, McClelland & Ganguli 2014, Exact solutions to the nonlinear dynamics of learning "
        "in deep linear networks; Pennington, Schoenholz & Ganguli 2017, Resurrecting the sigmoid",
        "Saxe et al.'s learning time against depth; Pennington et al.'s singular value densities",
        "orthogonal deep linear nets learn in a time independent of depth; orthogonal tanh nets "
        "near criticality keep the Jacobian's singular values near 1, ReLU nets cannot",
    ),
)
