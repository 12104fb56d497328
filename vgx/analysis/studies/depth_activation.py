"""seeds 001, 003, 004: the gradient shrinks with depth for sigmoid, less for tanh, not for ReLU."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vgx.analysis.studies.base import (
    Study,
    Verdict,
    bars,
    combine,
    per_layer_factor,
    settings_table,
)

VANISHING_FACTOR = 0.5  # sigmoid: the error signal loses at least half its norm per layer
LEVEL_FACTOR = 0.8  # ReLU family: "does not shrink" = keeps ≥ 80% of its norm per layer


def _factors(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[frame.depth >= 4].copy()  # two hidden-to-hidden steps at least
    frame["factor"] = frame.deltas_0.apply(per_layer_factor)
    frame["layer1_gradient"] = frame.grad_norms_0.apply(lambda g: g[0])
    return frame


def theory_factors(frame: pd.DataFrame) -> dict[str, float]:
    """Mean-field √χ₁ for each activation, at the width and init its runs were trained with."""
    from vgx.analysis.theory import predict, weight_variance

    theory = {}
    for activation, group in frame.groupby("activation"):
        run = group.iloc[0]
        sigma_w2 = weight_variance(
            run.init, int(run.width), run.init_std, run.init_scale, run.init_gain
        )
        theory[activation] = predict(activation, sigma_w2).factor
    return theory


def judge_depth_activation(frame: pd.DataFrame) -> Verdict:
    frame = _factors(frame)
    factor = frame.groupby("activation").factor.apply(lambda f: float(np.exp(np.log(f).mean())))
    slope = {}
    for activation, group in frame.groupby("activation"):
        fit = np.polyfit(group.depth, np.log10(group.layer1_gradient), 1)
        slope[activation] = fit[0]
    parts = {
        "sigmoid vanishes": factor.get("sigmoid", 1) < VANISHING_FACTOR,
        "tanh less": factor.get("sigmoid", 1) < factor.get("tanh", 0),
        "ReLU family level": all(factor.get(a, 0) >= LEVEL_FACTOR for a in ("relu", "leaky_relu")),
    }
    rows = settings_table(frame, ["activation", "depth"], ["factor", "layer1_gradient"])
    theory = theory_factors(frame)
    rows["theory_factor"] = rows.activation.map(lambda a: f"{theory[a]:.3g}")
    words = [
        f"{a}: measured per-layer factor {factor[a]:.3g} (theory √χ₁ {theory[a]:.3g}), "
        f"log10 ‖∂J/∂W₁‖ falls {-slope[a]:.3g} per added layer"
        for a in factor.index
    ]
    failed = [k for k, ok in parts.items() if not ok]
    words.append("not met: " + ", ".join(failed) if failed else "all three parts met")
    return Verdict(combine(parts), "; ".join(words), rows)


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
        reference_label="mean-field theory √χ₁",
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
