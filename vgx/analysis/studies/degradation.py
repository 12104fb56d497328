"""He et al. 2016 and seed 004: with batch norm and ReLU a much deeper plain net ends with a higher
training loss than a shallower one trained as long (degradation: not overfitting, underfitting);
with skip connections the deeper one does at least as well."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    Paper,
    Study,
    Verdict,
    conclude,
    curves,
    settings_table,
    spread,
)

AS_WELL = 1.1  # "at least as well": the deeper net's final training loss within 10% of the other's


def judge_degradation(frame: pd.DataFrame) -> Verdict:
    shallow, deep = frame.depth.min(), frame.depth.max()
    parts, words = {}, []
    for residual, group in frame.groupby("residual"):
        losses = group.pivot_table(index="seed", columns="depth", values="loss_end")
        ratio = losses[deep] / losses[shallow] if {deep, shallow} <= set(losses) else pd.Series()
        numbers = (
            f"training loss {shallow} layers {spread(losses.get(shallow, pd.Series()))}, "
            f"{deep} layers {spread(losses.get(deep, pd.Series()))}"
        )
        if str(residual).lower() == "true":
            parts[f"with skips the {deep}-layer net does at least as well"] = (
                bool(len(ratio)) and bool((ratio <= AS_WELL).all()),
                numbers,
            )
        else:
            parts[f"plain, the {deep}-layer net ends above the {shallow}-layer one"] = (
                bool(len(ratio)) and bool((ratio > 1).all()),
                numbers,
            )
        words.append(f"{'residual' if str(residual).lower() == 'true' else 'plain'}: {numbers}")
    rows = settings_table(frame, ["residual", "depth"], ["loss_end", "train_error", "val_error"])
    return conclude(parts, rows, words)


def figure_degradation(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import median_curves

    kind = frame.residual.astype(str).str.lower().map({"true": "residual", "false": "plain"})
    frame = frame.assign(setting=kind + ", " + frame.depth.astype(str) + " layers")
    return median_curves(
        curves(frame, ["setting"], "loss_curve"),
        "Training loss with batch norm and ReLU on MNIST-1D: plain against residual",
        "training loss (log scale)",
        folder / "degradation.png",
    )


STUDY = Study(
    "degradation",
    "With batch norm and ReLU a much deeper plain net ends with a higher training loss than a "
    "shallower one trained as long; with skip connections the deeper one does at least as well",
    "seed 004; He et al. 2016",
    judge_degradation,
    figure_degradation,
    headline_figure="degradation.png",
    paper=Paper(
        "He, Zhang, Ren & Sun 2016, Deep Residual Learning for Image Recognition",
        "Figure 1 (plain nets on CIFAR-10) and Figure 6 (plain against residual)",
        "the 56-layer plain net has a higher training error than the 20-layer one; with residual "
        "connections the deeper nets reach lower training error",
    ),
)
