"""Each verdict on hand-made measurements where its claim holds, does not hold, and is mixed; every
study config composes."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import compose_config
from vgx.analysis.studies import STUDIES
from vgx.analysis.studies.base import FAILS, HOLDS, MIXED, per_layer_factor
from vgx.analysis.studies.batchnorm import judge_batchnorm
from vgx.analysis.studies.depth_activation import judge_depth_activation
from vgx.analysis.studies.dropout import judge_dropout
from vgx.analysis.studies.dying_relu import judge_dying_relu
from vgx.analysis.studies.exploding_clip import judge_exploding_clip
from vgx.analysis.studies.init import judge_init
from vgx.analysis.studies.l1_sparsity import judge_l1_sparsity
from vgx.analysis.studies.lambda_bias_variance import judge_lambda_bias_variance
from vgx.analysis.studies.sigmoid_vs_relu import judge_sigmoid_vs_relu
from vgx.cli import EXIT_USER_ERROR, main

SEEDS = (0, 1, 2)


def frame(rows: list[dict]) -> pd.DataFrame:
    """Each row repeated for three seeds, with defaults for the columns a judge does not read."""
    base = {"status": "finished", "val_error": 0.1, "init": "xavier_uniform", "depth": 9}
    base.update(width=32, init_std=1.0, init_scale=0.05, init_gain=1.0)
    return pd.DataFrame([{**base, **row, "seed": s} for row in rows for s in SEEDS])


def sigmoid_relu(adam_sigmoid_change: float, sigmoid_drop: float = 0.01) -> pd.DataFrame:
    rows = []
    for optimizer in ("adam", "sgd"):
        change = adam_sigmoid_change if optimizer == "adam" else 1e-4
        rows.append(
            {
                "optimizer": optimizer,
                "activation": "sigmoid",
                "loss_drop": sigmoid_drop,
                "first_layer_weight_change": change,
            }
        )
        rows.append(
            {
                "optimizer": optimizer,
                "activation": "relu",
                "loss_drop": 0.99,
                "first_layer_weight_change": 0.5,
            }
        )
    return frame(rows)


def test_sigmoid_vs_relu_holds_when_sigmoid_is_flat_and_still():
    assert judge_sigmoid_vs_relu(sigmoid_relu(1e-4)).outcome == HOLDS


def test_sigmoid_vs_relu_is_mixed_when_adam_moves_the_first_layer():
    verdict = judge_sigmoid_vs_relu(sigmoid_relu(2.4))
    assert verdict.outcome == MIXED
    assert "adam" in verdict.measured and "first layer moved" in verdict.measured


def test_sigmoid_vs_relu_does_not_hold_when_sigmoid_learns():
    assert judge_sigmoid_vs_relu(sigmoid_relu(2.4, sigmoid_drop=0.9)).outcome == FAILS


def clip_frame(none_status: str, value_status: str) -> pd.DataFrame:
    return frame(
        [
            {"clip": "none", "status": none_status, "epochs_run": 2, "loss_end": float("nan")},
            {"clip": "value", "status": value_status, "epochs_run": 100, "loss_end": 0.3},
            {"clip": "norm", "status": "finished", "epochs_run": 100, "loss_end": 0.1},
        ]
    )


@pytest.mark.parametrize(
    ("none_status", "value_status", "expected"),
    [
        ("diverged", "finished", HOLDS),
        ("diverged", "diverged", MIXED),
        ("finished", "diverged", MIXED),
    ],
)
def test_exploding_clip(none_status, value_status, expected):
    assert judge_exploding_clip(clip_frame(none_status, value_status)).outcome == expected


def test_exploding_clip_does_not_hold_when_nothing_explodes_and_clipping_fails():
    data = frame(
        [
            {"clip": "none", "status": "finished", "epochs_run": 100, "loss_end": 0.1},
            {"clip": "norm", "status": "diverged", "epochs_run": 3, "loss_end": float("nan")},
        ]
    )
    assert judge_exploding_clip(data).outcome == FAILS


def dying(relu_dead: float, leaky_dead: float) -> pd.DataFrame:
    return frame(
        [
            {"activation": "relu", "bias": -1.0, "dead_end": relu_dead},
            {"activation": "leaky_relu", "bias": -1.0, "dead_end": leaky_dead},
            {"activation": "relu", "bias": 0.0, "dead_end": 0.1},
            {"activation": "leaky_relu", "bias": 0.0, "dead_end": 0.0},
        ]
    )


@pytest.mark.parametrize(
    ("relu_dead", "leaky_dead", "expected"),
    [(1.0, 0.0, HOLDS), (0.2, 0.0, MIXED), (0.2, 0.3, FAILS)],
)
def test_dying_relu(relu_dead, leaky_dead, expected):
    assert judge_dying_relu(dying(relu_dead, leaky_dead)).outcome == expected


@pytest.mark.parametrize(
    ("drop_without", "drop_with", "expected"),
    [(0.01, 0.9, HOLDS), (0.01, 0.2, MIXED), (0.8, 0.2, FAILS)],
)
def test_batchnorm(drop_without, drop_with, expected):
    data = frame(
        [
            {"activation": "sigmoid", "norm": "none", "loss_drop": drop_without},
            {"activation": "sigmoid", "norm": "batch", "loss_drop": drop_with},
        ]
    )
    assert judge_batchnorm(data).outcome == expected


def test_per_layer_factor_is_the_geometric_mean_of_hidden_ratios():
    # hidden deltas 8, 4, 1 (ratios ½ and ¼, geometric mean √⅛); the output layer's 100 is ignored
    assert per_layer_factor([1.0, 4.0, 8.0, 100.0]) == pytest.approx((0.25 * 0.5) ** 0.5)
    assert per_layer_factor([1.0, 2.0]) != per_layer_factor([1.0, 2.0])  # NaN: one hidden layer


def depth_frame(relu_factor: float, tanh_factor: float) -> pd.DataFrame:
    rows = []
    for activation, factor in (
        ("sigmoid", 0.25),
        ("tanh", tanh_factor),
        ("relu", relu_factor),
        ("leaky_relu", relu_factor),
    ):
        for depth in (4, 8, 16):
            hidden = [factor ** (depth - 1 - i) for i in range(1, depth)]
            rows.append(
                {
                    "activation": activation,
                    "depth": depth,
                    "deltas_0": hidden + [1.0],
                    "grad_norms_0": [hidden[0]] + [1.0] * (depth - 1),
                }
            )
    return frame(rows)


def test_depth_activation_holds_with_level_relu():
    assert judge_depth_activation(depth_frame(relu_factor=1.0, tanh_factor=0.9)).outcome == HOLDS


def test_depth_activation_is_mixed_when_relu_shrinks_too():
    verdict = judge_depth_activation(depth_frame(relu_factor=0.7, tanh_factor=0.9))
    assert verdict.outcome == MIXED
    assert "ReLU family level" in verdict.measured


def init_frame(relu_normal_gradient: float) -> pd.DataFrame:
    rows = []
    for activation in ("sigmoid", "tanh", "relu"):
        for init in ("normal", "xavier_normal", "he_normal"):
            saturated = 0.9 if init == "normal" and activation != "relu" else 0.0
            gradient = relu_normal_gradient if (activation, init) == ("relu", "normal") else 1.0
            rows.append(
                {
                    "activation": activation,
                    "init": init,
                    "saturation_0": saturated,
                    "grad_norms_0": [gradient] + [1.0] * 8,
                }
            )
    return frame(rows)


def test_init_holds_and_mixed():
    assert judge_init(init_frame(1e4)).outcome == HOLDS
    assert judge_init(init_frame(2.0)).outcome == MIXED


def lam_frame(train_errors: list[float], val_errors: list[float]) -> pd.DataFrame:
    rows = []
    for i, (lam, t, v) in enumerate(zip((0, 1, 10), train_errors, val_errors, strict=True)):
        rows.append(
            {
                "lam": float(lam),
                "weight_norm_end": 10.0 - 3 * i,
                "saturation_end": 0.3 - 0.1 * i,
                "train_error": t,
                "val_error": v,
            }
        )
    return frame(rows)


def test_lambda_moves_from_high_variance_to_high_bias():
    verdict = judge_lambda_bias_variance(lam_frame([0.01, 0.05, 0.2], [0.15, 0.1, 0.21]))
    assert verdict.outcome == HOLDS
    assert verdict.rows.diagnosis.tolist() == ["high variance", "neither", "high bias"]


def test_lambda_claim_is_mixed_when_the_model_never_reaches_high_bias():
    verdict = judge_lambda_bias_variance(lam_frame([0.01, 0.02, 0.03], [0.15, 0.1, 0.05]))
    assert verdict.outcome == MIXED
    assert "ends in high bias" in verdict.measured


def test_l1_sparsity_holds_and_fails():
    def data(l1_near_zero: float) -> pd.DataFrame:
        return frame(
            [
                {"regularizer": "none", "lam": 1.0, "near_zero_end": 0.05, "weight_norm_end": 9.0},
                {
                    "regularizer": "l1",
                    "lam": 1.0,
                    "near_zero_end": l1_near_zero,
                    "weight_norm_end": 5.0,
                },
                {"regularizer": "l2", "lam": 1.0, "near_zero_end": 0.06, "weight_norm_end": 6.0},
            ]
        )

    assert judge_l1_sparsity(data(0.6)).outcome == HOLDS
    assert judge_l1_sparsity(data(0.07)).outcome == MIXED


def test_dropout_narrows_the_gap_or_not():
    def data(gap_with: float) -> pd.DataFrame:
        return frame(
            [
                {"dropout": 0.0, "loss_end": 0.05, "val_loss_end": 0.6},
                {"dropout": 0.4, "loss_end": 0.2, "val_loss_end": 0.2 + gap_with},
            ]
        )

    assert judge_dropout(data(0.1)).outcome == HOLDS
    assert judge_dropout(data(0.9)).outcome == FAILS


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_study_config_composes(name):
    cfg, _ = compose_config([f"+study={name}"])
    assert cfg.epochs >= 1


def test_every_study_config_is_registered_and_every_registered_study_has_a_config():
    from vgx.config import conf_dir

    assert sorted(p.stem for p in (conf_dir() / "study").glob("*.yaml")) == sorted(STUDIES)


def test_the_theory_beside_depth_activation_takes_width_and_init_from_the_runs():
    from vgx.analysis.studies.depth_activation import theory_factors

    relu = depth_frame(relu_factor=0.7, tanh_factor=0.9)
    relu = relu[relu.activation == "relu"]
    he_like = relu.assign(init="normal", init_std=(2 / 32) ** 0.5, width=32)
    assert theory_factors(he_like)["relu"] == pytest.approx(1.0, rel=1e-3)  # √(σ_w²/2), σ_w² = 2
    # N(0, 1) at width 8: σ_w² = std² × fan_in = 8, so √(σ_w²/2) = 2 (not a fixed width's 4)
    unit_std = relu.assign(init="normal", init_std=1.0, width=8)
    assert theory_factors(unit_std)["relu"] == pytest.approx(2.0, rel=1e-3)
    xavier_narrow = relu.assign(init="xavier_uniform", width=8)
    assert theory_factors(xavier_narrow)["relu"] == pytest.approx(0.5**0.5, rel=1e-3)


def test_study_overrides_replace_its_values():
    cfg, _ = compose_config(["+study=depth_activation", "dataset=circles", "width=16"])
    assert (cfg.dataset.name, cfg.width) == ("circles", 16)


def test_unknown_study_gives_one_line(capsys):
    assert main(["study", "vanishing"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("vgx study: error: study 'vanishing': unknown; expected one of")


def test_study_figures_are_drawn_from_measurements(tmp_path):
    from vgx.analysis.studies.depth_activation import figure_depth_activation
    from vgx.analysis.studies.dying_relu import figure_dying_relu
    from vgx.analysis.studies.init import figure_init

    depth = depth_frame(relu_factor=0.7, tanh_factor=0.9).assign(init="xavier_uniform")
    assert figure_depth_activation(depth, tmp_path).name == "factor_vs_theory.png"
    assert figure_dying_relu(dying(1.0, 0.0), tmp_path).exists()
    assert figure_init(init_frame(1e4), tmp_path).stat().st_size > 1000


def test_curve_figures_take_the_median_over_seeds(tmp_path):
    from vgx.analysis.studies.exploding_clip import figure_exploding_clip

    data = frame(
        [
            {"clip": "none", "loss_curve": [5.0, float("nan")]},
            {"clip": "norm", "loss_curve": [5.0, 1.0, 0.5, 0.2, 0.1, 0.1]},
        ]
    )
    assert figure_exploding_clip(data, tmp_path).stat().st_size > 1000
