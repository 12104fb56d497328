"""Every judge on measurements shaped as a study's own runs give them: where its claim holds,
and, part by part, where exactly that part flips on one seed while the others stay met. A part
that could not come out false in its study's sweep would show here as a flip that does not flip."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vgx.analysis.runs import Runs
from vgx.analysis.studies.base import FAILS, HOLDS, MIXED, Verdict, measurements
from vgx.analysis.studies.batchnorm import judge_batchnorm
from vgx.analysis.studies.depth_activation import judge_depth_activation
from vgx.analysis.studies.dropout import judge_dropout
from vgx.analysis.studies.dying_relu import judge_dying_relu
from vgx.analysis.studies.exploding_clip import judge_exploding_clip
from vgx.analysis.studies.init import judge_init
from vgx.analysis.studies.l1_sparsity import judge_l1_sparsity
from vgx.analysis.studies.lambda_bias_variance import judge_lambda_bias_variance
from vgx.analysis.studies.residual import judge_residual
from vgx.analysis.studies.sigmoid_vs_relu import judge_sigmoid_vs_relu
from vgx.analysis.studies.sign_updates import judge_sign_updates
from vgx.config import DatasetConfig

SEEDS = (0, 1, 2)
LN2 = math.log(2)


def frame(rows: list[dict]) -> pd.DataFrame:
    """Each row once per seed; a value given as a 3-tuple is that row's value seed by seed."""
    base = {
        "status": "finished",
        "val_error": 0.1,
        "init": "xavier_uniform",
        "depth": 9,
        "width": 32,
        "init_std": 1.0,
        "init_scale": 0.05,
        "init_gain": 1.0,
        "bias": 0.0,
        "slope": 0.01,
        "dataset": "moons",
        "dataset_cfg": DatasetConfig(),
    }
    out = []
    for row in rows:
        for i, seed in enumerate(SEEDS):
            values = {k: v[i] if isinstance(v, tuple) else v for k, v in row.items()}
            out.append({**base, **values, "seed": seed})
    return pd.DataFrame(out)


def deltas(factor: float | tuple, depth: int = 9) -> list[float] | tuple:
    """Hidden layers' ‖δ_i‖ shrinking by `factor` a layer toward the input, then the output."""
    if isinstance(factor, tuple):
        return tuple(deltas(f, depth) for f in factor)
    return [factor ** (depth - 1 - i) for i in range(1, depth)] + [1.0]


def check_flips(judge, holding: pd.DataFrame, flips: dict[str, pd.DataFrame]) -> None:  # noqa: ANN001
    verdict: Verdict = judge(holding)
    assert verdict.outcome == HOLDS, verdict.measured
    assert set(flips) == set(verdict.parts), "every part of the claim has a flip"
    for part, data in flips.items():
        flipped = judge(data)
        assert flipped.parts[part] is False, (part, flipped.measured)
        others = {k: v for k, v in flipped.parts.items() if k != part}
        assert all(others.values()), (part, flipped.measured)
        assert flipped.outcome == MIXED
        assert f"not met: {part} (" in flipped.measured  # named, with its numbers


def one_seed(good: float, bad: float) -> tuple:
    return (good, bad, good)


def flip(data: pd.DataFrame, column: str, value: float, **setting: str) -> pd.DataFrame:
    """A copy of `data` with `column` set to `value` for seed 1 of one setting alone."""
    data = data.copy()
    where = data.seed == 1
    for key, wanted in setting.items():
        where &= data[key] == wanted
    assert where.any(), setting
    data.loc[where, column] = value
    return data


# --- sigmoid_vs_relu ---------------------------------------------------------------------------


def test_sigmoid_vs_relu_each_part_flips():
    """Each of the six parts flips on one seed of its own setting."""
    base = frame(
        [
            {
                "optimizer": optimizer,
                "activation": activation,
                "learned": 0.0 if activation == "sigmoid" else 0.95,
                "first_layer_weight_change": 1e-4 if activation == "sigmoid" else 0.5,
            }
            for optimizer in ("adam", "gd")
            for activation in ("sigmoid", "relu")
        ]
    )
    flips = {}
    for optimizer in ("adam", "gd"):
        for part, activation, column, value in (
            ("sigmoid loss nearly flat", "sigmoid", "learned", 0.3),
            ("sigmoid first layer barely changes", "sigmoid", "first_layer_weight_change", 2.4),
            ("ReLU loss falls", "relu", "learned", 0.2),
        ):
            flips[f"{optimizer}: {part}"] = flip(
                base, column, value, optimizer=optimizer, activation=activation
            )
    check_flips(judge_sigmoid_vs_relu, base, flips)


def _history(losses: list[float], depth: int = 9) -> pd.DataFrame:
    rows = []
    for epoch, loss in enumerate(losses):
        row = {"loss/train": loss, "loss/val": loss, "acc/train": 0.5, "acc/val": 0.5}
        for i in range(1, depth + 1):
            row |= {f"grad_norm/layer_{i}": 1.0, f"delta_norm/layer_{i}": 1.0}
            row |= {f"weight_change/layer_{i}": 1e-5 * epoch}
        for i in range(1, depth):
            row |= {f"saturation/layer_{i}": 0.0, f"dead/layer_{i}": 0.0}
        rows.append(row)
    return pd.DataFrame(rows)


def test_a_net_that_learns_only_the_class_prior_is_flat():
    """From 0.73 to exactly ln 2: measured from the untrained loss it fell by 5%, yet it learned
    nothing beyond the class prior; against the constant predictor's loss it is flat."""
    table = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "params.activation.name": activation,
                "params.optimizer.name": "gd",
                "params.depth": "9",
                "params.width": "10",
                "params.seed": str(seed),
                "metrics.loss/constant": LN2,
                "tags.status": "finished",
            }
            for run_id, activation, seed in (
                [(f"s{s}", "sigmoid", s) for s in SEEDS] + [(f"r{s}", "relu", s) for s in SEEDS]
            )
        ]
    )
    histories = {f"s{s}": _history(list(np.linspace(0.73, LN2, 101))) for s in SEEDS}
    histories |= {f"r{s}": _history(list(np.linspace(0.73, 0.05, 101))) for s in SEEDS}
    frame = measurements(Runs(table, histories, []))
    sigmoid = frame[frame.activation == "sigmoid"]
    assert (sigmoid.loss_drop > 0.05).all()  # the old measure: "not flat"
    assert sigmoid.learned.abs().max() < 1e-9
    verdict = judge_sigmoid_vs_relu(frame)
    assert verdict.parts["gd: sigmoid loss nearly flat"] is True


# --- depth_activation --------------------------------------------------------------------------


def depth_frame(
    sigmoid: float | tuple = 0.25, tanh: float | tuple = 0.9, relu: float | tuple = 1.0
) -> pd.DataFrame:
    rows = []
    for activation, factor in (
        ("sigmoid", sigmoid),
        ("tanh", tanh),
        ("relu", relu),
        ("leaky_relu", 1.0),
    ):
        for depth in (4, 8, 16):
            hidden = deltas(factor, depth)
            rows.append(
                {
                    "activation": activation,
                    "depth": depth,
                    "deltas_0": hidden,
                    "grad_norms_0": (
                        tuple([h[0]] + [1.0] * (depth - 1) for h in hidden)
                        if isinstance(hidden, tuple)
                        else [hidden[0]] + [1.0] * (depth - 1)
                    ),
                }
            )
    return frame(rows)


def test_depth_activation_each_part_flips():
    check_flips(
        judge_depth_activation,
        depth_frame(),
        {
            "sigmoid vanishes": depth_frame(sigmoid=one_seed(0.25, 0.6), tanh=0.9),
            "tanh less": depth_frame(tanh=one_seed(0.9, 0.2)),
            "ReLU family level": depth_frame(relu=one_seed(1.0, 0.7)),
        },
    )


def test_an_exploding_relu_is_not_level():
    """A factor of 1.15 … 1.3 a layer is growth: the band has an upper side."""
    verdict = judge_depth_activation(depth_frame(relu=1.3))
    assert verdict.parts["ReLU family level"] is False
    assert "explodes in 9 of 18 runs" in verdict.measured  # the relu runs, not leaky_relu's


# --- init --------------------------------------------------------------------------------------

INIT_FACTORS = {  # shaped like the init study's runs (depth 9): Xavier ReLU below the band
    ("sigmoid", "normal"): 0.7,
    ("sigmoid", "xavier_normal"): 0.9,
    ("sigmoid", "he_normal"): 0.3,
    ("tanh", "normal"): 1.7,
    ("tanh", "xavier_normal"): 0.98,
    ("tanh", "he_normal"): 1.15,
    ("relu", "normal"): 4.0,
    ("relu", "xavier_normal"): 0.7,
    ("relu", "he_normal"): 1.0,
}


def init_frame(change: dict | None = None, saturated: float = 0.9) -> pd.DataFrame:
    factors = INIT_FACTORS | (change or {})
    rows = []
    for (activation, init), factor in factors.items():
        share = saturated if init == "normal" and activation != "relu" else 0.0
        rows.append(
            {
                "activation": activation,
                "init": init,
                "saturation_0": share,
                "saturation_0_5pct": share,
                "saturation_0_10pct": share,
                "deltas_0": deltas(factor),
                "grad_norms_0": [1.0] * 9,  # level under every init: not what is judged
            }
        )
    return frame(rows)


def test_init_each_part_flips():
    check_flips(
        judge_init,
        init_frame(),
        {
            "N(0,1) saturates sigmoid": flip(
                init_frame(), "saturation_0", 0.2, activation="sigmoid", init="normal"
            ),
            "N(0,1) saturates tanh": flip(
                init_frame(), "saturation_0", 0.3, activation="tanh", init="normal"
            ),
            "N(0,1) blows up ReLU": init_frame({("relu", "normal"): (4.0, 1.1, 4.0)}),
            "Xavier keeps tanh level": init_frame({("tanh", "xavier_normal"): 0.7}),
            "Xavier keeps sigmoid level": init_frame({("sigmoid", "xavier_normal"): 0.25}),
            "He keeps ReLU level": init_frame({("relu", "he_normal"): (1.0, 1.0, 0.7)}),
        },
    )


def test_init_he_part_tells_he_from_xavier_and_normal():
    """Put Xavier's or N(0,1)'s measured ReLU factor in He's place: the part fails."""
    for impostor in ("xavier_normal", "normal"):
        data = init_frame({("relu", "he_normal"): INIT_FACTORS[("relu", impostor)]})
        assert judge_init(data).parts["He keeps ReLU level"] is False


def test_init_reports_the_saturated_share_at_every_cut():
    data = init_frame()
    data["saturation_0_5pct"] = 0.95
    verdict = judge_init(data)
    for cut in ("1%", "5%", "10%"):
        assert f"below {cut} of max φ′" in verdict.measured
    assert "above 50% on every seed at the 1%, 5%, 10% cut" in verdict.measured
    assert {"saturation_0", "saturation_0_5pct", "saturation_0_10pct"} <= set(verdict.rows)


# --- exploding_clip, dying_relu, fixes ---------------------------------------------------------


def clip_frame(none=("diverged",) * 3, value=("finished",) * 3, norm=("finished",) * 3):  # noqa: ANN001, ANN201
    return frame(
        [
            {"clip": "none", "status": none, "epochs_run": 2, "loss_end": float("nan")},
            {"clip": "value", "status": value, "epochs_run": 100, "loss_end": 0.3},
            {"clip": "norm", "status": norm, "epochs_run": 100, "loss_end": 0.1},
        ]
    )


def test_exploding_clip_each_part_flips():
    check_flips(
        judge_exploding_clip,
        clip_frame(),
        {
            "unclipped explodes": clip_frame(none=("diverged", "finished", "diverged")),
            "clip by value stable": clip_frame(value=("finished", "diverged", "finished")),
            "clip by norm stable": clip_frame(norm=("diverged", "finished", "finished")),
        },
    )


def dying(relu_dead: float | tuple = 0.9, leaky_dead: float | tuple = 0.0) -> pd.DataFrame:
    return frame(
        [
            {"activation": "relu", "bias": -1.0, "dead_end": relu_dead},
            {"activation": "leaky_relu", "bias": -1.0, "dead_end": leaky_dead},
            {"activation": "relu", "bias": 0.0, "dead_end": 0.1},
            {"activation": "leaky_relu", "bias": 0.0, "dead_end": 0.0},
        ]
    )


def test_dying_relu_each_part_flips():
    check_flips(
        judge_dying_relu,
        dying(),
        {
            "ReLU with bias -1 mostly dead": dying(relu_dead=one_seed(0.9, 0.2)),
            "leaky ReLU alive": dying(leaky_dead=one_seed(0.0, 0.1)),
        },
    )


def fix_frame(key: str, off: str, on: str, activations: tuple[str, ...]) -> pd.DataFrame:
    return frame(
        [
            {"activation": activation, key: value, "learned": learned}
            for activation in activations
            for value, learned in ((off, 0.0), (on, 0.9))
        ]
    )


@pytest.mark.parametrize(
    ("judge", "key", "off", "on", "label", "activations"),
    [
        (judge_batchnorm, "norm", "none", "batch", "batch norm", ("sigmoid",)),
        (judge_residual, "residual", "False", "True", "skip connections", ("sigmoid", "tanh")),
        (judge_sign_updates, "optimizer", "gd", "sign", "sign updates", ("sigmoid",)),
    ],
)
def test_each_fix_part_flips(judge, key, off, on, label, activations):  # noqa: ANN001
    holding = fix_frame(key, off, on, activations)
    flips = {}
    for activation in activations:
        flips[f"{activation} without stays flat"] = flip(
            holding, "learned", 0.3, activation=activation, **{key: off}
        )
        flips[f"{activation} with {label} trains"] = flip(
            holding, "learned", 0.3, activation=activation, **{key: on}
        )
    check_flips(judge, holding, flips)


# --- lambda_bias_variance, l1_sparsity, dropout ------------------------------------------------


def lam_frame(**change) -> pd.DataFrame:  # noqa: ANN003
    values = {
        "weight_norm_end": [10.0, 7.0, 4.0],
        "saturation_end": [0.3, 0.2, 0.1],
        "train_error": [0.01, 0.05, 0.2],
        "val_error": [0.15, 0.1, 0.21],
    } | change
    return frame(
        [
            {"lam": float(lam)} | {k: v[i] for k, v in values.items()}
            for i, lam in enumerate((0, 1, 10))
        ]
    )


def test_lambda_each_part_flips():
    check_flips(
        judge_lambda_bias_variance,
        lam_frame(),
        {
            "weights shrink": lam_frame(weight_norm_end=[10.0, 11.0, 4.0]),
            "tanh saturation does not rise": lam_frame(saturation_end=[0.3, 0.4, 0.1]),
            # train error flat at 0.2: no rise, yet the gap narrows and λ = 10 is high bias
            "train error rises": lam_frame(
                train_error=[0.2, 0.2, 0.2], val_error=[0.3, 0.25, 0.21]
            ),
            "train/dev gap narrows": lam_frame(val_error=[0.02, 0.1, 0.5]),
            "ends in high bias": lam_frame(
                train_error=[0.01, 0.02, 0.03], val_error=[0.15, 0.1, 0.05]
            ),
        },
    )


def l1_frame(l1_near_zero: float | tuple = 0.6, l2_norm: float | tuple = 6.0) -> pd.DataFrame:
    return frame(
        [
            {"regularizer": "none", "lam": 1.0, "near_zero_end": 0.05, "weight_norm_end": 9.0},
            {
                "regularizer": "l1",
                "lam": 1.0,
                "near_zero_end": l1_near_zero,
                "weight_norm_end": 5.0,
            },
            {"regularizer": "l2", "lam": 1.0, "near_zero_end": 0.06, "weight_norm_end": l2_norm},
        ]
    )


def test_l1_sparsity_each_part_flips():
    check_flips(
        judge_l1_sparsity,
        l1_frame(),
        {
            "L1 sparser than L2": l1_frame(l1_near_zero=one_seed(0.6, 0.07)),
            "L2 shrinks the weights": l1_frame(l2_norm=one_seed(6.0, 9.5)),
        },
    )


def dropout_frame(gap_with: float | tuple) -> pd.DataFrame:
    return frame(
        [
            {"dropout": 0.0, "loss_end": 0.05, "val_loss_end": 0.6},
            {
                "dropout": 0.4,
                "loss_end": 0.2,
                "val_loss_end": tuple(0.2 + g for g in gap_with)
                if isinstance(gap_with, tuple)
                else 0.2 + gap_with,
            },
        ]
    )


def test_dropout_is_judged_seed_by_seed():
    assert judge_dropout(dropout_frame(0.1)).outcome == HOLDS
    # the median narrows, one seed does not: the rule is every seed
    verdict = judge_dropout(dropout_frame((0.1, 0.9, 0.1)))
    assert verdict.parts["gap narrows"] is False and verdict.outcome == FAILS
    assert "not met: gap narrows (" in verdict.measured
