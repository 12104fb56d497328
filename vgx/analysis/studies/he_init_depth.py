"""He et al. 2015: a 30-layer ReLU net trains under He's init and stalls under Xavier's; at 22
layers both train, He's sooner."""

from __future__ import annotations

import math

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


def best_learned(run: pd.Series) -> float:
    """The share of the constant predictor's loss removed at the run's best epoch: deep ReLU
    nets under SGD spike, so the curve's lowest point says whether it trained."""
    finite = [v for v in run.loss_curve if math.isfinite(v)]
    return 1 - min(finite) / run.loss_constant if finite else math.nan


STARTS = 0.9  # "starts reducing the loss": below 90% of the constant predictor's


def epochs_to_start(run: pd.Series) -> float:
    """The first epoch whose training loss is below 90% of the constant predictor's: when the
    net starts to learn (He et al.: "starts reducing the error earlier"); inf if never."""
    bar = STARTS * run.loss_constant
    return next((float(e) for e, v in enumerate(run.loss_curve) if v < bar), math.inf)


def judge_he_init_depth(frame: pd.DataFrame) -> Verdict:
    frame = frame.assign(
        best=frame.apply(best_learned, axis=1), epochs_to_start=frame.apply(epochs_to_start, axis=1)
    )
    shallow, deep = frame.depth.min(), frame.depth.max()

    def runs(depth: int, init: str) -> pd.DataFrame:
        return frame[(frame.depth == depth) & (frame.init == init)]

    timing = frame[frame.depth == shallow].pivot_table(
        index="seed", columns="init", values="epochs_to_start"
    )
    sooner = (
        timing["he_normal"] < timing["xavier_normal"]
        if {"he_normal", "xavier_normal"} <= set(timing)
        else pd.Series(dtype=bool)
    )
    parts = {}
    for depth, init, trains in (
        (deep, "he_normal", True),
        (deep, "xavier_normal", False),
        (shallow, "he_normal", True),
        (shallow, "xavier_normal", True),
    ):
        group = runs(depth, init)
        name = "He" if init == "he_normal" else "Xavier"
        met = (group.best > FALLING_LOSS).all() if trains else (group.best < FLAT_LOSS).all()
        parts[f"{depth} layers, {name} {'trains' if trains else 'stalls'}"] = (
            bool(len(group)) and bool(met),
            f"best share of the constant predictor's loss removed {spread(group.best)}",
        )
    parts[f"{shallow} layers: He starts reducing the loss sooner"] = (
        bool(len(sooner)) and bool(sooner.all()),
        f"epochs He {spread(timing.get('he_normal', pd.Series(dtype=float)))}, Xavier "
        f"{spread(timing.get('xavier_normal', pd.Series(dtype=float)))}",
    )
    rows = settings_table(frame, ["depth", "init"], ["best", "epochs_to_start", "loss_end"])
    rows["diverged"] = [
        f"{int((g.status == 'diverged').sum())} of {len(g)}"
        for _, g in frame.groupby(["depth", "init"], sort=True)
    ]
    words = [
        f"{depth} layers, {init}: best share removed {spread(g.best)}, first epoch below 90% of "
        f"the constant predictor's loss {spread(g.epochs_to_start)}"
        for (depth, init), g in frame.groupby(["depth", "init"])
    ]
    return conclude(parts, rows, words)


def figure_he_init_depth(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import median_curves

    frame = frame.assign(setting=frame.depth.astype(str) + " layers, " + frame.init)
    return median_curves(
        curves(frame, ["setting"], "loss_curve"),
        "Training loss of deep ReLU nets on digits, He against Xavier init",
        "training loss (log scale)",
        folder / "he_vs_xavier_by_depth.png",
    )


STUDY = Study(
    "he_init_depth",
    "A 30-layer ReLU net trains under He's init and stalls under Xavier's; at 22 layers both "
    "train, He's sooner",
    "He et al. 2015",
    judge_he_init_depth,
    figure_he_init_depth,
    headline_figure="he_vs_xavier_by_depth.png",
    paper=Paper(
        "He, Zhang, Ren & Sun 2015, Delving deep into rectifiers",
        "Figures 3 and 4: the convergence of a 22-layer and of a 30-layer net",
        "22 layers: both converge, He's init starts reducing the error earlier; 30 layers: "
        "Xavier's init stalls completely, He's converges",
    ),
)
