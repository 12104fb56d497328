"""seeds 003, 004: large weights explode the gradient; clipping keeps training stable."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    Study,
    Verdict,
    conclude,
    curves,
    settings_table,
)


def judge_exploding_clip(frame: pd.DataFrame) -> Verdict:
    none = frame[frame["clip"] == "none"]
    clipped = frame[frame["clip"] != "none"]

    def share(group: pd.DataFrame, status: str) -> str:
        return f"{int((group.status == status).sum())} of {len(group)} runs {status}"

    parts = {
        "unclipped explodes": (
            bool(len(none)) and bool((none.status == "diverged").all()),
            share(none, "diverged"),
        )
    }
    for kind, group in clipped.groupby("clip"):
        parts[f"clip by {kind} stable"] = (
            bool((group.status == "finished").all()),
            share(group, "finished"),
        )
    rows = settings_table(frame, ["clip"], ["epochs_run", "loss_end", "val_error"])
    rows["diverged"] = rows["clip"].map(
        lambda c: (
            f"{int((frame[frame['clip'] == c].status == 'diverged').sum())} of "
            f"{int((frame['clip'] == c).sum())}"
        )
    )
    words = [
        f"clip={c}: {r.diverged} runs diverged, final loss {r.loss_end}"
        for c, r in zip(rows["clip"], rows.itertuples(), strict=True)
    ]
    return conclude(parts, rows, words)


def figure_exploding_clip(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import median_curves

    return median_curves(
        curves(frame, ["clip"], "loss_curve"),
        "Training loss of a 12-layer ReLU net with N(0,1) weights, by clipping",
        "training loss (log scale; a line that stops has diverged)",
        folder / "loss_by_clipping.png",
    )


STUDY = Study(
    "exploding_clip",
    "Large weights with ReLU units make gradients explode (the loss diverges); clipping "
    "by value or by norm keeps training stable",
    "seeds 003, 004",
    judge_exploding_clip,
    figure_exploding_clip,
    headline_figure="loss_by_clipping.png",
)
