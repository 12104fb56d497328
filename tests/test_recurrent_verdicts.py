"""The recurrent studies' judges on hand-made measurements: each holds on its own numbers, and each
part of each claim flips alone when one seed of one setting is made to contradict it."""

from __future__ import annotations

import math

import pandas as pd

from tests.test_verdicts import check_flips, flip, frame
from vgx.analysis.studies.rnn_exploding_clip import judge_rnn_exploding_clip
from vgx.analysis.studies.rnn_identity_init import judge_rnn_identity_init
from vgx.analysis.studies.rnn_long_range import judge_rnn_long_range

SIXTH = 1 / 6


def long_range_frame() -> pd.DataFrame:
    return frame(
        [
            {"model": "rnn", "length": 10, "test_mse": 0.004, "time_ratio_0": 0.4},
            {"model": "rnn", "length": 50, "test_mse": 0.19, "time_ratio_0": 0.005},
            {"model": "lstm", "length": 10, "test_mse": 0.0001, "time_ratio_0": 0.5},
            {"model": "lstm", "length": 50, "test_mse": 0.0007, "time_ratio_0": 2.0},
        ]
    ).assign(loss_constant=SIXTH, time_factor_0=0.9)


def test_rnn_long_range_each_part_flips():
    data = long_range_frame()
    check_flips(
        judge_rnn_long_range,
        data,
        {
            "rnn solves T = 10": flip(data, "test_mse", 0.05, model="rnn", length=10),
            "rnn fails T = 50": flip(data, "test_mse", 0.01, model="rnn", length=50),
            "lstm solves T = 10": flip(data, "test_mse", 0.02, model="lstm", length=10),
            "lstm solves T = 50": flip(data, "test_mse", 0.17, model="lstm", length=50),
            "rnn's ‖∂ℓ/∂h_1‖/‖∂ℓ/∂h_T‖ at epoch 0 falls ≥ 10× from T = 10 to 50": flip(
                data, "time_ratio_0", 0.1, model="rnn", length=50
            ),
        },
    )


def test_rnn_long_range_names_each_failed_part_when_the_lstm_forgets():
    data = long_range_frame()
    data.loc[data.model == "rnn", "test_mse"] = 0.001
    data.loc[data.model == "lstm", "test_mse"] = 0.2
    data.loc[data.model == "rnn", "time_ratio_0"] = 0.5
    verdict = judge_rnn_long_range(data)
    assert verdict.outcome == "mixed"  # the RNN still solves the short task: one part holds
    assert not verdict.parts["lstm solves T = 50"] and not verdict.parts["rnn fails T = 50"]


def exploding_frame() -> pd.DataFrame:
    """Unclipped long runs diverge at epoch 1; every clipped run falls from its start."""
    rows = []
    for length, ratio in ((10, 2.36), (40, 41.1)):
        for clip in ("none", "norm"):
            diverges = clip == "none" and length == 40
            rows.append(
                {
                    "length": length,
                    "clip": clip,
                    "time_ratio_0": ratio,
                    "time_factor_0": 1.1,
                    "singular_0": 1.1,
                    "status": "diverged" if diverges else "finished",
                    "loss_start": 500.0 if length == 40 else 1.5,
                    "loss_curve": [500.0, math.nan] if diverges else [1.5, 0.3, 0.1],
                    "loss_end": math.nan if diverges else 0.1,
                    "loss_max": 500.0,
                    "grad_h_max": 1e4,
                    "grad_h_curve": [1e4, 10.0],
                }
            )
    return frame(rows)


def test_rnn_exploding_clip_each_part_flips():
    data = exploding_frame()
    calm = data.copy()
    where = (calm.seed == 1) & (calm["clip"] == "none") & (calm["length"] == 40)
    calm.loc[where, "status"] = "finished"
    calm.loc[where, "loss_curve"] = pd.Series([[500.0, 400.0, 300.0]] * int(where.sum())).values
    blown = data.copy()
    where = (blown.seed == 1) & (blown["clip"] == "norm") & (blown["length"] == 10)
    blown.loc[where, "status"] = "diverged"
    check_flips(
        judge_rnn_exploding_clip,
        data,
        {
            "‖∂ℓ/∂h_1‖/‖∂ℓ/∂h_T‖ at epoch 0 grows from T = 10 to 40": flip(
                data, "time_ratio_0", 1.0, length=40, clip="norm"
            ),
            "without clipping the loss at T = 40 diverges or spikes": calm,
            "with clipping every run stays finite": blown,
            "with clipping the loss falls below half its start": flip(
                data, "loss_end", 1.0, length=10, clip="norm"
            ),
        },
    )


def test_a_spike_counts_as_a_blow_up_without_a_divergence():
    data = exploding_frame()
    where = (data["clip"] == "none") & (data["length"] == 40)
    data.loc[where, "status"] = "finished"
    data.loc[where, "loss_curve"] = pd.Series([[500.0, 6000.0, 0.2]] * int(where.sum())).values
    verdict = judge_rnn_exploding_clip(data)
    assert verdict.parts["without clipping the loss at T = 40 diverges or spikes"]


def identity_frame() -> pd.DataFrame:
    return frame(
        [
            {"recurrent_init": "identity", "learned": 0.7, "time_ratio_0": 0.47},
            {"recurrent_init": "normal", "learned": 0.01, "time_ratio_0": 0.0},
        ]
    ).assign(test_error=0.3, singular_0=1.0)


def test_rnn_identity_init_each_part_flips():
    data = identity_frame()
    part = "at epoch 0 the gradient reaches h_1 with identity and vanishes with Gaussian"
    check_flips(
        judge_rnn_identity_init,
        data,
        {
            "identity W_h learns": flip(data, "learned", 0.3, recurrent_init="identity"),
            "small Gaussian W_h does not": flip(data, "learned", 0.2, recurrent_init="normal"),
            part: flip(data, "time_ratio_0", 1e-3, recurrent_init="normal"),
        },
    )
