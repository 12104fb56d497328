"""seeds 001, 004 and Pascanu et al. 2013: in a recurrent net whose W_h has spectral radius above 1
the gradient grows with the sequence's length and the loss blows up; clipping the gradient's norm
keeps it finite and learning."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import Study, Verdict, conclude, curves, settings_table, spread

SPIKE = 10.0  # "the loss spikes": after epoch 0 it rises above 10× where it started
FALLS = 0.5  # "it learns": the final training loss is below half of its start


def _blew_up(run: pd.Series) -> bool:
    later = run.loss_curve[1:]
    return run.status == "diverged" or any(not v <= SPIKE * run.loss_start for v in later)


def judge_rnn_exploding_clip(frame: pd.DataFrame) -> Verdict:
    short, long = frame["length"].min(), frame["length"].max()
    unclipped = frame[frame["clip"] == "none"]
    clipped = frame[frame["clip"] != "none"]
    pairs = frame.pivot_table(index=["seed", "clip"], columns="length", values="time_ratio_0")
    grows = pairs[long] > pairs[short]
    long_unclipped = unclipped[unclipped.length == long]
    blew_up = long_unclipped.apply(_blew_up, axis=1)
    learns = clipped.loss_end < FALLS * clipped.loss_start
    at = lambda t: frame[frame["length"] == t].time_ratio_0  # noqa: E731
    parts = {
        f"‖∂ℓ/∂h_1‖/‖∂ℓ/∂h_T‖ at epoch 0 grows from T = {short} to {long}": (
            bool(len(pairs)) and bool(grows.all()) and bool((pairs[long] > 1).all()),
            f"T = {short}: {spread(at(short))}, T = {long}: {spread(at(long))}",
        ),
        f"without clipping the loss at T = {long} diverges or spikes": (
            bool(len(blew_up)) and bool(blew_up.all()),
            f"{int(blew_up.sum())} of {len(blew_up)} runs",
        ),
        "with clipping every run stays finite": (
            bool(len(clipped)) and bool((clipped.status == "finished").all()),
            f"{int((clipped.status == 'finished').sum())} of {len(clipped)} runs finished",
        ),
        "with clipping the loss falls below half its start": (
            bool(len(clipped)) and bool(learns.all()),
            f"{int(learns.sum())} of {len(clipped)} runs; final loss {spread(clipped.loss_end)}",
        ),
    }
    rows = settings_table(
        frame,
        ["length", "clip"],
        ["time_ratio_0", "time_factor_0", "singular_0", "grad_h_max", "loss_max", "loss_end"],
    )
    rows["diverged"] = [
        f"{int((g.status == 'diverged').sum())} of {len(g)}"
        for _, g in frame.groupby(["length", "clip"], sort=True)
    ]
    words = [
        f"per-step factor of ‖∂ℓ/∂h_t‖ at epoch 0 {spread(frame.time_factor_0)} "
        f"(Pascanu's bound γλ₁ with γ = 1: {spread(frame.singular_0)})",
        f"‖∂J/∂W_h‖ at epoch 0 (before any clipping) {spread(frame.grad_h_curve.str[0])}",
    ]
    return conclude(parts, rows, words)


def figure_rnn_exploding_clip(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import through_time_panels

    frame = frame.assign(setting="T=" + frame["length"].astype(str) + ", clip=" + frame["clip"])
    return through_time_panels(
        curves(frame, ["setting"], "loss_curve"),
        curves(
            frame[frame["clip"] == "none"].assign(setting="T=" + frame["length"].astype(str)),
            ["setting"],
            "time_curve_0",
        ),  # fmt: skip
        "A linear RNN with spectral radius 1.1 on the adding problem, without and with clipping",
        "squared error (log scale; a line that stops has diverged)",
        folder / "loss_by_clipping_through_time.png",
    )


STUDY = Study(
    "rnn_exploding_clip",
    "In a recurrent net whose W_h has spectral radius above 1, the gradient grows with the "
    "sequence's length T and the loss diverges or spikes; clipping the gradient's norm at 1 "
    "keeps it finite and learning",
    "seeds 001, 004; Pascanu et al. 2013",
    judge_rnn_exploding_clip,
    figure_rnn_exploding_clip,
    headline_figure="loss_by_clipping_through_time.png",
)
