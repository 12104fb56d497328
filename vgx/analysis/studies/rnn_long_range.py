"""seed 004: a recurrent net learns near effects, not long-term ones, because ∂J/∂h_j is a product
of i − j Jacobians that vanishes as i and j grow apart; an LSTM's gated cell keeps it."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import Study, Verdict, conclude, curves, settings_table, spread

# "Solved": a test MSE below a tenth of the constant predictor's (the mean's, 1/6 for the adding
# problem), the README's criterion.
SOLVED_SHARE = 0.1
# "Falls by orders of magnitude": the RNN's ‖∂ℓ/∂h_1‖/‖∂ℓ/∂h_T‖ at epoch 0 is at least ten times
# smaller at the long T than at the short one, seed by seed.
FALL = 0.1


def solved(group: pd.DataFrame) -> pd.Series:
    return group.test_mse < SOLVED_SHARE * group.loss_constant


def judge_rnn_long_range(frame: pd.DataFrame) -> Verdict:
    short, long = frame["length"].min(), frame["length"].max()
    parts = {}

    def solves(model: str, length: int, wanted: bool) -> None:
        group = frame[(frame.model == model) & (frame["length"] == length)]
        hits = solved(group)
        met = bool(len(group)) and bool(hits.all() if wanted else not hits.any())
        verb = "solves" if wanted else "fails"
        numbers = f"{int(hits.sum())} of {len(group)} solved; test MSE {spread(group.test_mse)}"
        parts[f"{model} {verb} T = {length}"] = (met, numbers)

    solves("rnn", short, True)
    solves("rnn", long, False)
    solves("lstm", short, True)
    solves("lstm", long, True)
    rnn = frame[frame.model == "rnn"].pivot_table(
        index="seed", columns="length", values="time_ratio_0"
    )
    falls = rnn[long] / rnn[short] if len(rnn) else pd.Series(dtype=float)
    parts[f"rnn's ‖∂ℓ/∂h_1‖/‖∂ℓ/∂h_T‖ at epoch 0 falls ≥ 10× from T = {short} to {long}"] = (
        bool(len(falls)) and bool((falls < FALL).all()),
        f"T = {short}: {spread(rnn[short])}, T = {long}: {spread(rnn[long])}, fall {spread(falls)}",
    )
    rows = settings_table(
        frame,
        ["model", "length"],
        ["test_mse", "loss_constant", "time_ratio_0", "time_factor_0"],
    )
    rows["solved"] = [
        f"{int(solved(g).sum())} of {len(g)}" for _, g in frame.groupby(["model", "length"])
    ]
    words = [
        f"{model}, T = {t}: test MSE {spread(g.test_mse)} (solved below "
        f"{SOLVED_SHARE * g.loss_constant.median():.3g}), per-step factor of ‖∂ℓ/∂h_t‖ at epoch 0 "
        f"{spread(g.time_factor_0)}"
        for (model, t), g in frame.groupby(["model", "length"])
    ]
    return conclude(parts, rows, words)


def figure_rnn_long_range(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import through_time_panels

    frame = frame.assign(setting=frame.model + ", T=" + frame["length"].astype(str))
    constant = float(frame.loss_constant.median())
    return through_time_panels(
        curves(frame, ["setting"], "loss_curve"),
        curves(frame, ["setting"], "time_curve_0"),
        "A tanh RNN and an LSTM on the adding problem, short and long sequences",
        "squared error (log scale)",
        folder / "long_range_through_time.png",
        reference=(SOLVED_SHARE * constant, "solved: a tenth of the mean predictor's"),
    )


STUDY = Study(
    "rnn_long_range",
    "A tanh RNN solves the adding problem over short sequences and fails over long ones, while "
    "an LSTM solves both; at initialisation the RNN's ‖∂ℓ/∂h_1‖/‖∂ℓ/∂h_T‖ falls by orders of "
    "magnitude as T grows",
    "seed 004; Hochreiter & Schmidhuber 1997",
    judge_rnn_long_range,
    figure_rnn_long_range,
    headline_figure="long_range_through_time.png",
)
