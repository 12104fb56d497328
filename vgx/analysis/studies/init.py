"""seeds 001, 002: N(0,1) saturates and blows up; Xavier and He keep the gradient level."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    LEVEL_BAND,
    Study,
    Verdict,
    bars,
    conclude,
    per_layer_factor,
    settings_table,
    spread,
)

SATURATED = 0.5  # "saturates": more than half of the unit × example pairs have φ′ below the cut
# No source text fixes the cut (seed 004: saturated units "output very close to 0 or 1"): the part
# is judged at the strictest recorded cut, 1% of max φ′, and the share is reported at 5% and 10%.
CUTS = {"1%": "saturation_0", "5%": "saturation_0_5pct", "10%": "saturation_0_10pct"}


def _setting(frame: pd.DataFrame, activation: str, init: str) -> pd.DataFrame:
    return frame[(frame.activation == activation) & (frame.init == init)]


def _saturates(frame: pd.DataFrame, activation: str) -> tuple[bool, str]:
    runs = _setting(frame, activation, "normal")
    shares = {cut: runs[column] for cut, column in CUTS.items() if column in runs}
    above = [cut for cut, share in shares.items() if len(share) and (share > SATURATED).all()]
    numbers = ", ".join(f"{spread(share)} below {cut} of max φ′" for cut, share in shares.items())
    where = f"; above {SATURATED:.0%} on every seed at the {', '.join(above)} cut" if above else ""
    met = bool(len(runs)) and bool((runs.saturation_0 > SATURATED).all())
    return met, f"share of saturated pairs {numbers}{where}"


def _level(frame: pd.DataFrame, activation: str, init: str) -> tuple[bool, str]:
    runs = _setting(frame, activation, init)
    low, high = LEVEL_BAND
    met = bool(len(runs)) and bool(runs.factor.between(low, high).all())
    return met, f"per-layer factor {spread(runs.factor)}, band [{low}, {high}]"


def judge_init(frame: pd.DataFrame) -> Verdict:
    """Per-layer factors of the back-propagated error ‖δ_i‖/‖δ_{i+1}‖ at initialisation: the
    weight gradients ‖∂J/∂W_i‖ = ‖δ_i‖·‖a_{i−1}‖ stay near level under every init here (the
    forward and backward shrinkage cancel), so they cannot tell the inits apart."""
    frame = frame.assign(factor=frame.deltas_0.apply(per_layer_factor))
    relu_normal = _setting(frame, "relu", "normal")
    parts = {
        "N(0,1) saturates sigmoid": _saturates(frame, "sigmoid"),
        "N(0,1) saturates tanh": _saturates(frame, "tanh"),
        "N(0,1) blows up ReLU": (
            bool(len(relu_normal)) and bool((relu_normal.factor > LEVEL_BAND[1]).all()),
            f"per-layer factor {spread(relu_normal.factor)}, bar > {LEVEL_BAND[1]}",
        ),
        "Xavier keeps tanh level": _level(frame, "tanh", "xavier_normal"),
        "Xavier keeps sigmoid level": _level(frame, "sigmoid", "xavier_normal"),
        "He keeps ReLU level": _level(frame, "relu", "he_normal"),
    }
    columns = ["factor", "saturation_0"] + [c for c in CUTS.values() if c in frame][1:]
    rows = settings_table(frame, ["activation", "init"], columns)
    words = [f"{name}: {numbers}" for name, (_, numbers) in parts.items()]
    return conclude(parts, rows, words)


def figure_init(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import bar_chart

    frame = frame.assign(factor=frame.deltas_0.apply(per_layer_factor))
    return bar_chart(
        bars(frame, ["activation", "init"], "factor"),
        "Per-layer factor of the back-propagated error at initialisation",
        f"‖δ_i‖ / ‖δ_(i+1)‖ (log scale; 1 = level, band {LEVEL_BAND[0]}–{LEVEL_BAND[1]})",
        folder / "layer_factor.png",
        log=True,
    )


STUDY = Study(
    "init",
    "N(0,1) init saturates sigmoid/tanh and blows up deep ReLU nets; Xavier (tanh/sigmoid) "
    "and He (ReLU) keep the back-propagated gradient level across layers",
    "seeds 001, 002",
    judge_init,
    figure_init,
    headline_figure="layer_factor.png",
)
