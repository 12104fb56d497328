"""seeds 001, 002: N(0,1) saturates and blows up; Xavier and He keep the gradient level."""

from __future__ import annotations

import math

import pandas as pd

from vgx.analysis.studies.base import (
    Study,
    Verdict,
    bars,
    combine,
    layer_spread,
    settings_table,
)

SATURATED = 0.5  # "saturates": more than half of the unit × example pairs have φ′ < 1% of its max
BLOWS_UP = 100  # "blows up": ‖∂J/∂W₁‖ at epoch 0 over 100× that of the same net under He init
LEVEL_SPREAD = 10  # "level": the largest and smallest per-layer gradient norms within 10×


def judge_init(frame: pd.DataFrame) -> Verdict:
    frame = frame.copy()
    frame["layer_spread"] = frame.grad_norms_0.apply(layer_spread)
    frame["layer1_gradient"] = frame.grad_norms_0.apply(lambda g: g[0])
    med = frame.groupby(["activation", "init"]).median(numeric_only=True)

    def value(activation: str, init: str, column: str) -> float:
        return (
            float(med.loc[(activation, init), column])
            if (activation, init) in med.index
            else math.nan
        )

    parts = {
        "N(0,1) saturates sigmoid": value("sigmoid", "normal", "saturation_0") > SATURATED,
        "N(0,1) saturates tanh": value("tanh", "normal", "saturation_0") > SATURATED,
        "N(0,1) blows up ReLU": value("relu", "normal", "layer1_gradient")
        > BLOWS_UP * value("relu", "he_normal", "layer1_gradient"),
        "Xavier keeps tanh level": value("tanh", "xavier_normal", "layer_spread") < LEVEL_SPREAD,
        "Xavier keeps sigmoid level": value("sigmoid", "xavier_normal", "layer_spread")
        < LEVEL_SPREAD,
        "He keeps ReLU level": value("relu", "he_normal", "layer_spread") < LEVEL_SPREAD,
    }
    rows = settings_table(
        frame, ["activation", "init"], ["saturation_0", "layer_spread", "layer1_gradient"]
    )
    words = [f"{k}: {'yes' if ok else 'no'}" for k, ok in parts.items()]
    return Verdict(combine(parts), "; ".join(words), rows)


def figure_init(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import bar_chart

    frame = frame.assign(layer_spread=frame.grad_norms_0.apply(layer_spread))
    return bar_chart(
        bars(frame, ["activation", "init"], "layer_spread"),
        "Spread of per-layer gradient norms at initialisation",
        "max / min of ‖∂J/∂W_i‖ over layers (log scale; 1 = level)",
        folder / "layer_spread.png",
        log=True,
    )


STUDY = Study(
    "init",
    "N(0,1) init saturates sigmoid/tanh and blows up deep ReLU nets; Xavier (tanh/sigmoid) "
    "and He (ReLU) keep per-layer gradient norms level",
    "seeds 001, 002",
    judge_init,
    figure_init,
    headline_figure="layer_spread.png",
)
