"""seeds 001, 003, 004: the gradient shrinks with depth for sigmoid, less for tanh, not for ReLU."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vgx.analysis.studies.base import (
    LEVEL_BAND,
    Study,
    Verdict,
    bars,
    conclude,
    level_or_not,
    per_layer_factor,
    settings_table,
    spread,
)

VANISHING_FACTOR = 0.5  # sigmoid: the error signal loses at least half its norm per layer
# ReLU family: "does not shrink" = a per-layer factor within LEVEL_BAND: growth is not level


def _factors(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[frame.depth >= 4].copy()  # two hidden-to-hidden steps at least
    frame["factor"] = frame.deltas_0.apply(per_layer_factor)
    frame["layer1_gradient"] = frame.grad_norms_0.apply(lambda g: g[0])
    return frame


def theory_factors(frame: pd.DataFrame) -> dict[str, float]:
    """Mean-field theory's per-layer factor for each activation, layer by layer from the data's
    own scale, at the width, init and depth its runs were trained with (the geometric mean over
    its runs' depths, as the measured factor is)."""
    from vgx.analysis.theory import input_moments, predict_for_run

    moments: dict[str, tuple[int, float]] = {}  # one load per data set, not per run
    theory = {}
    for activation, group in frame.groupby("activation"):
        logs = []
        for depth in sorted(set(group.depth)):
            run = group[group.depth == depth].iloc[0]
            data = repr(run.dataset_cfg)
            if data not in moments:
                moments[data] = input_moments(run.dataset_cfg)
            prediction = predict_for_run(
                activation,
                run.slope,
                run.init,
                int(run.width),
                int(depth),
                *moments[data],
                run.init_std,
                run.init_scale,
                run.init_gain,
                run.bias,
            )
            logs.append(np.log(prediction.factor))
        theory[activation] = float(np.exp(np.mean(logs)))
    return theory


def judge_depth_activation(frame: pd.DataFrame) -> Verdict:
    frame = _factors(frame)
    factor = frame.groupby("activation").factor.apply(lambda f: float(np.exp(np.log(f).mean())))
    slope = {}
    for activation, group in frame.groupby("activation"):
        fit = np.polyfit(group.depth, np.log10(group.layer1_gradient), 1)
        slope[activation] = fit[0]
    sigmoid = frame[frame.activation == "sigmoid"]
    tanh = frame[frame.activation == "tanh"]
    relu = frame[frame.activation.isin(["relu", "leaky_relu"])]
    # tanh against sigmoid run by run: the same depth and seed
    paired = tanh.merge(sigmoid, on=["depth", "seed"], suffixes=("_tanh", "_sigmoid"))
    low, high = LEVEL_BAND
    parts = {
        "sigmoid vanishes": (
            bool(len(sigmoid)) and bool((sigmoid.factor < VANISHING_FACTOR).all()),
            f"per-layer factor {spread(sigmoid.factor)}, bar < {VANISHING_FACTOR}",
        ),
        "tanh less": (
            bool(len(paired)) and bool((paired.factor_tanh > paired.factor_sigmoid).all()),
            f"tanh {spread(tanh.factor)} against sigmoid {spread(sigmoid.factor)}",
        ),
        "ReLU family level": (
            bool(len(relu)) and bool(relu.factor.between(low, high).all()),
            f"per-layer factor {spread(relu.factor)}, band [{low}, {high}]: "
            + ", ".join(
                f"{outcome} in {int((relu.factor.map(level_or_not) == outcome).sum())}"
                for outcome in ("vanishes", "level", "explodes")
            )
            + f" of {len(relu)} runs",
        ),
    }
    rows = settings_table(frame, ["activation", "depth"], ["factor", "layer1_gradient"])
    theory = theory_factors(frame)
    rows["theory_factor"] = rows.activation.map(lambda a: f"{theory[a]:.3g}")
    words = [
        f"{a}: measured per-layer factor {factor[a]:.3g} (theory {theory[a]:.3g}; "
        f"{level_or_not(factor[a])}), log10 ‖∂J/∂W₁‖ falls {-slope[a]:.3g} per added layer"
        for a in factor.index
    ]
    return conclude(parts, rows, words)


def figure_depth_activation(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import bar_chart

    frame = _factors(frame)
    theory = theory_factors(frame)
    return bar_chart(
        bars(frame, ["activation"], "factor"),
        "Per-layer factor of the back-propagated gradient at initialisation",
        "‖δ_i‖ / ‖δ_(i+1)‖ (1 = level)",
        folder / "factor_vs_theory.png",
        reference=theory,
        reference_label="mean-field theory (layer by layer)",
    )


STUDY = Study(
    "depth_activation",
    "The gradient reaching layer 1 shrinks exponentially with depth for sigmoid "
    "(σ′ ≤ 1/4), less for tanh, not for ReLU/leaky ReLU",
    "seeds 001, 003, 004",
    judge_depth_activation,
    figure_depth_activation,
    headline_figure="factor_vs_theory.png",
)
