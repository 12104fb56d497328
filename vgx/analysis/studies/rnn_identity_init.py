"""Le, Jaitly & Hinton 2015: a ReLU RNN whose recurrent weights start as the identity learns a long
task on which the same RNN started from small Gaussian weights does not."""

from __future__ import annotations

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

REACHES = 0.1  # the gradient "reaches" h_1 at epoch 0: ‖∂ℓ/∂h_1‖ ≥ 10% of ‖∂ℓ/∂h_T‖
VANISHED = 1e-6  # and has vanished below a millionth of it


def judge_rnn_identity_init(frame: pd.DataFrame) -> Verdict:
    identity = frame[frame.recurrent_init == "identity"]
    gaussian = frame[frame.recurrent_init == "normal"]
    parts = {
        "identity W_h learns": (
            bool(len(identity)) and bool((identity.learned > FALLING_LOSS).all()),
            f"share of the constant predictor's loss removed {spread(identity.learned)}",
        ),
        "small Gaussian W_h does not": (
            bool(len(gaussian)) and bool((gaussian.learned < FLAT_LOSS).all()),
            f"share removed {spread(gaussian.learned)}",
        ),
        "at epoch 0 the gradient reaches h_1 with identity and vanishes with Gaussian": (
            bool(len(identity) and len(gaussian))
            and bool((identity.time_ratio_0 >= REACHES).all())
            and bool((gaussian.time_ratio_0 < VANISHED).all()),
            f"‖∂ℓ/∂h_1‖/‖∂ℓ/∂h_T‖ identity {spread(identity.time_ratio_0)}, "
            f"Gaussian {spread(gaussian.time_ratio_0)}",
        ),
    }
    rows = settings_table(
        frame, ["recurrent_init"], ["learned", "test_error", "time_ratio_0", "singular_0"]
    )
    words = [
        f"{name}: test error {spread(group.test_error)}, share of the constant predictor's "
        f"loss removed {spread(group.learned)}"
        for name, group in frame.groupby("recurrent_init")
    ]
    return conclude(parts, rows, words)


def figure_rnn_identity_init(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import through_time_panels

    frame = frame.assign(setting="W_h " + frame.recurrent_init)
    return through_time_panels(
        curves(frame, ["setting"], "loss_curve"),
        curves(frame, ["setting"], "time_curve_0"),
        "A ReLU RNN on MNIST-1D, W_h started as the identity or small Gaussian",
        "cross-entropy (log scale)",
        folder / "identity_vs_gaussian_through_time.png",
        reference=(float(frame.loss_constant.median()), "constant predictor (class prior)"),
    )


STUDY = Study(
    "rnn_identity_init",
    "A ReLU RNN whose recurrent weights start as the identity learns a long task (MNIST-1D read "
    "one value a step) on which the same RNN started from small Gaussian weights does not",
    "Le, Jaitly & Hinton 2015",
    judge_rnn_identity_init,
    figure_rnn_identity_init,
    headline_figure="identity_vs_gaussian_through_time.png",
    paper=Paper(
        "Le, Jaitly & Hinton 2015, A Simple Way to Initialize Recurrent Networks of Rectified "
        "Linear Units",
        "section 4.2, MNIST read pixel by pixel (784 steps)",
        "the IRNN reaches 97% test accuracy, where the RNNs without the identity start stay far "
        "behind",
    ),
)
