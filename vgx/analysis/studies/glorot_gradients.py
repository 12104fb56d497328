"""Glorot & Bengio 2010: with the standard init the back-propagated gradient of a tanh net shrinks
toward the lower layers at initialisation, with the normalized init it stays level; and sigmoid
nets end with the highest test error."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    LEVEL_BAND,
    Paper,
    Study,
    Verdict,
    conclude,
    per_layer_factor,
    settings_table,
    spread,
)

STANDARD, NORMALIZED = "torch_default", "xavier_uniform"


def judge_glorot_gradients(frame: pd.DataFrame) -> Verdict:
    frame = frame.assign(factor=frame.deltas_0.apply(per_layer_factor))
    low, high = LEVEL_BAND

    def setting(activation: str, init: str) -> pd.DataFrame:
        return frame[(frame.activation == activation) & (frame.init == init)]

    standard, normalized = setting("tanh", STANDARD), setting("tanh", NORMALIZED)
    errors = frame.pivot_table(index="seed", columns=["activation", "init"], values="test_error")
    sigmoid = errors.get(("sigmoid", STANDARD), pd.Series(dtype=float))
    tanh_standard = errors.get(("tanh", STANDARD), pd.Series(dtype=float))
    tanh_normalized = errors.get(("tanh", NORMALIZED), pd.Series(dtype=float))
    worst = (sigmoid > tanh_standard) & (sigmoid > tanh_normalized)
    parts = {
        "tanh, standard init: the gradient shrinks toward the lower layers": (
            bool(len(standard)) and bool((standard.factor < low).all()),
            f"per-layer factor of ‖∂J/∂b_i‖ at epoch 0 {spread(standard.factor)}",
        ),
        "tanh, normalized init: it stays level": (
            bool(len(normalized)) and bool(normalized.factor.between(low, high).all()),
            f"per-layer factor {spread(normalized.factor)}",
        ),
        "sigmoid ends with the highest test error": (
            bool(len(worst)) and bool(worst.all()),
            f"test error sigmoid {spread(sigmoid)}, tanh {spread(tanh_standard)}, "
            f"tanh normalized {spread(tanh_normalized)}",
        ),
        "tanh with normalized init ends below tanh with standard": (
            bool(len(tanh_normalized)) and bool((tanh_normalized < tanh_standard).all()),
            f"{int((tanh_normalized < tanh_standard).sum())} of {len(tanh_normalized)} seeds",
        ),
    }
    rows = settings_table(frame, ["activation", "init"], ["factor", "test_error", "train_error"])
    words = [
        f"{activation} {'normalized' if init == NORMALIZED else 'standard'}: per-layer factor "
        f"{spread(group.factor)}, test error {spread(group.test_error)}"
        for (activation, init), group in frame.groupby(["activation", "init"])
    ]
    return conclude(parts, rows, words)


def figure_glorot_gradients(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    """Their figure's reading: ‖∂J/∂b_i‖ by layer at initialisation, one line per setting."""
    import numpy as np

    from vgx.analysis.figures import COLOURS, pyplot, save_figure

    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for i, ((activation, init), group) in enumerate(frame.groupby(["activation", "init"])):
        values = np.array(group.deltas_0.tolist(), dtype=float)[:, :-1]  # hidden layers
        layers = np.arange(1, values.shape[1] + 1)
        name = f"{activation}, {'normalized' if init == NORMALIZED else 'standard'} init"
        colour = COLOURS[i % len(COLOURS)]
        ax.plot(layers, np.median(values, axis=0), "o-", color=colour, label=name)
        ax.fill_between(layers, values.min(axis=0), values.max(axis=0), color=colour, alpha=0.15)
    ax.set(
        yscale="log",
        xlabel="hidden layer (1 = input side)",
        ylabel="‖∂J/∂b_i‖ at initialisation (log scale)",
        title="Back-propagated gradient by layer, 5 hidden layers on MNIST-1D",
    )
    ax.legend(fontsize="small")
    return save_figure(fig, folder / "gradient_by_layer_at_init.png")


STUDY = Study(
    "glorot_gradients",
    "At initialisation the back-propagated gradient of a 5-layer tanh net shrinks toward the lower "
    "layers with the standard init U[−1/√n, 1/√n] and stays level with the normalized (Xavier) "
    "init; sigmoid nets end with the highest test error",
    "Glorot & Bengio 2010",
    judge_glorot_gradients,
    figure_glorot_gradients,
    headline_figure="gradient_by_layer_at_init.png",
    paper=Paper(
        "Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward "
        "neural networks",
        "section 4.2's figures of back-propagated gradients by layer; Table 1's test errors",
        "standard init: the gradients shrink toward the lower layers, normalized init: about the "
        "same at every layer; in Table 1 the sigmoid nets have the highest test errors and tanh "
        "with the normalized init is below tanh",
    ),
)
