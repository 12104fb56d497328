"""The papers' studies' judges on hand-made measurements: each holds on its own numbers, and each
part flips alone when one seed of one setting contradicts it."""

from __future__ import annotations

import math

from tests.test_verdicts import check_flips, flip, frame
from vgx.analysis.studies import STUDIES, by_group, verdict_markdown
from vgx.analysis.studies.mse_vs_cross_entropy import judge_mse_vs_cross_entropy


def flip_list(data, column: str, value: list, **setting):  # noqa: ANN001, ANN201
    """`flip` for a column of lists: seed 1 of one setting gets `value`."""
    data = data.copy()
    where = data.seed == 1
    for key, wanted in setting.items():
        where &= data[key] == wanted
    assert where.any(), setting
    data.loc[where, column] = data.loc[where, column].apply(lambda _: value)
    return data


def loss_frame():
    return frame(
        [
            {"loss": "bce", "deltas_0": [0.5], "learned": 0.67, "train_error": 0.11},
            {"loss": "mse", "deltas_0": [5e-5], "learned": -1.0, "train_error": 0.5},
        ]
    )


def test_mse_vs_cross_entropy_each_part_flips():
    data = loss_frame()
    signal = flip_list(data, "deltas_0", [0.1], loss="mse")
    check_flips(
        judge_mse_vs_cross_entropy,
        data,
        {
            "at epoch 0 squared error's output error signal is below 1% of cross-entropy's": signal,
            "cross-entropy learns": flip(data, "learned", 0.3, loss="bce"),
            "squared error stays stuck": flip(data, "learned", 0.4, loss="mse"),
        },
    )


def test_every_paper_study_names_its_paper_figure_and_published_result():
    papers = by_group()["the papers"]
    assert papers and all(s.paper is not None for s in papers)
    assert all(s.paper is None for s in by_group()["the tutorials"])
    verdict = STUDIES["mse_vs_cross_entropy"].judge(loss_frame())
    text = verdict_markdown(STUDIES["mse_vs_cross_entropy"], verdict)
    assert "**Published** (Glorot & Bengio 2010" in text and "plateaus" in text


def test_study_list_groups_the_studies_by_source(capsys):
    from vgx.cli import main

    assert main(["study", "--list"]) == 0
    out = capsys.readouterr().out
    tutorials, papers = out.index("from the tutorials:"), out.index("from the papers:")
    assert tutorials < out.index("sigmoid_vs_relu") < papers < out.index("mse_vs_cross_entropy")
    assert "published: " in out[papers:]


def glorot_frame():
    from tests.test_verdicts import deltas

    def run(activation: str, init: str, factor: float, error: float) -> dict:
        return {"activation": activation, "init": init, "deltas_0": deltas(factor, 6),
                "test_error": error, "train_error": error}  # fmt: skip

    return frame(
        [
            run("tanh", "torch_default", 0.54, 0.47),
            run("tanh", "xavier_uniform", 0.9, 0.4),
            run("sigmoid", "torch_default", 0.14, 0.9),
            run("sigmoid", "xavier_uniform", 0.24, 0.9),
        ]
    )


def test_glorot_gradients_each_part_flips():
    from tests.test_verdicts import deltas
    from vgx.analysis.studies.glorot_gradients import judge_glorot_gradients

    data = glorot_frame()

    def with_deltas(factor: float, **setting: str):  # noqa: ANN202
        return flip_list(data, "deltas_0", deltas(factor, 6), **setting)

    check_flips(
        judge_glorot_gradients,
        data,
        {
            "tanh, standard init: the gradient shrinks toward the lower layers": with_deltas(
                0.95, activation="tanh", init="torch_default"
            ),
            "tanh, normalized init: it stays level": with_deltas(
                0.6, activation="tanh", init="xavier_uniform"
            ),
            "sigmoid ends with the highest test error": flip(
                data, "test_error", 0.45, activation="sigmoid", init="torch_default"
            ),
            "tanh with normalized init ends below tanh with standard": flip(
                data, "test_error", 0.5, activation="tanh", init="xavier_uniform"
            ),
        },
    )


def isometry_frame():
    rows = []
    for activation, init, spread_ in (
        ("tanh", "orthogonal", 0.22),
        ("relu", "he_normal", 13.0),
        ("linear", "orthogonal", 0.0),
    ):
        for depth, curve in ((4, [2.3, 1.0, 0.5, 0.28]), (32, [2.3, 0.2])):
            rows.append(
                {
                    "activation": activation,
                    "init": init,
                    "depth": depth,
                    "loss_curve": curve,
                    "jacobian_spread": spread_,
                    "jacobian_max": 1.0,
                    "jacobian_min": 0.1,
                    "loss_end": curve[-1],
                }  # fmt: skip
            )
    return frame(rows)


def test_dynamical_isometry_each_part_flips():
    from vgx.analysis.studies.dynamical_isometry import judge_dynamical_isometry

    data = isometry_frame()
    slow = flip_list(data, "loss_curve", [2.3] * 20, activation="linear", depth=32)
    check_flips(
        judge_dynamical_isometry,
        data,
        {
            "32-layer tanh, orthogonal: singular values concentrated": flip(
                data, "jacobian_spread", 0.8, activation="tanh", depth=32
            ),
            "32-layer ReLU, Gaussian (He): spread over orders of magnitude": flip(
                data, "jacobian_spread", 0.4, activation="relu", depth=32
            ),
            "linear, orthogonal: epochs to learn do not grow with depth": slow,
        },
    )


def he_frame():
    def curve(best: float, at: int) -> list[float]:
        return [2.3] * at + [best] * (40 - at)

    return frame(
        [
            {"depth": 22, "init": "he_normal", "loss_curve": curve(0.2, 4)},
            {"depth": 22, "init": "xavier_normal", "loss_curve": curve(0.6, 19)},
            {"depth": 30, "init": "he_normal", "loss_curve": curve(0.5, 12)},
            {"depth": 30, "init": "xavier_normal", "loss_curve": curve(2.3, 40)},
        ]
    ).assign(loss_constant=2.3, loss_end=1.0)


def _curve_flip(data, curve: list[float], **setting):  # noqa: ANN001, ANN202
    return flip_list(data, "loss_curve", curve, **setting)


def test_he_init_depth_each_part_flips():
    from vgx.analysis.studies.he_init_depth import judge_he_init_depth

    data = he_frame()
    check_flips(
        judge_he_init_depth,
        data,
        {
            "30 layers, He trains": _curve_flip(data, [2.3] * 40, depth=30, init="he_normal"),
            "30 layers, Xavier stalls": _curve_flip(
                data, [2.3] * 30 + [1.0] * 10, depth=30, init="xavier_normal"
            ),
            "22 layers, He trains": _curve_flip(
                data, [2.3] * 4 + [1.3] * 36, depth=22, init="he_normal"
            ),
            "22 layers, Xavier trains": _curve_flip(
                data, [2.3] * 40, depth=22, init="xavier_normal"
            ),
            "22 layers: He starts reducing the loss sooner": _curve_flip(
                data, [2.3] * 25 + [0.2] * 15, depth=22, init="he_normal"
            ),
        },
    )


def degradation_frame():
    return frame(
        [
            {"residual": "false", "depth": 6, "loss_end": 0.59},
            {"residual": "false", "depth": 30, "loss_end": 2.1},
            {"residual": "true", "depth": 6, "loss_end": 0.73},
            {"residual": "true", "depth": 30, "loss_end": 0.41},
        ]
    ).assign(train_error=0.2)


def test_degradation_each_part_flips():
    from vgx.analysis.studies.degradation import judge_degradation

    data = degradation_frame()
    check_flips(
        judge_degradation,
        data,
        {
            "plain, the 30-layer net ends above the 6-layer one": flip(
                data, "loss_end", 0.5, residual="false", depth=30
            ),
            "with skips the 30-layer net does at least as well": flip(
                data, "loss_end", 0.9, residual="true", depth=30
            ),
        },
    )


def test_trainable_depth_judges_cells_against_six_xi_c():
    """σ_w² = 1 (6 ξ_c ≈ 22) and 2.5 (≈ 71): trained below, untrained above, then one cell
    beyond 6 ξ_c that trains flips 'no net deeper than 6 ξ_c trains' and the agreement."""
    from vgx.analysis.studies.trainable_depth import judge_trainable_depth

    rows = []
    for std2, limit in ((1.0, 22), (2.5, 71)):
        for depth in (10, 20, 40, 80):
            rows.append({"init_std": math.sqrt(std2 / 32), "depth": depth,
                         "train_accuracy": 0.95 if depth < limit else 0.1})  # fmt: skip
    data = frame(rows).assign(width=32, bias_std=math.sqrt(0.05))
    verdict = judge_trainable_depth(data)
    assert verdict.outcome == "holds", verdict.measured
    one_too_deep = data.copy()
    one_too_deep.loc[(one_too_deep.depth == 80) & (one_too_deep.width == 32), "train_accuracy"] = [
        0.9 if w < 0.2 else 0.1 for w in one_too_deep.init_std[one_too_deep.depth == 80]
    ]
    mixed = judge_trainable_depth(one_too_deep)  # 7 of 8 cells agree, one beyond 6 ξ_c trains
    assert mixed.outcome == "mixed", mixed.measured
    assert not mixed.parts["no net deeper than 6 ξ_c trains"]
    trained_too_deep = data.copy()
    trained_too_deep.loc[trained_too_deep.depth == 80, "train_accuracy"] = 0.9
    trained_too_deep.loc[trained_too_deep.depth == 40, "train_accuracy"] = 0.9
    flipped = judge_trainable_depth(trained_too_deep)
    assert flipped.outcome == "does not hold"
    assert "no net deeper than 6 ξ_c trains (3 of 3 cells beyond 6 ξ_c trained)" in flipped.measured


def test_each_papers_judge_says_does_not_hold_when_every_part_fails():
    """The opposite of each paper's result, on every seed: every part fails."""
    from tests.test_verdicts import deltas
    from vgx.analysis.studies.degradation import judge_degradation
    from vgx.analysis.studies.dynamical_isometry import judge_dynamical_isometry
    from vgx.analysis.studies.glorot_gradients import judge_glorot_gradients
    from vgx.analysis.studies.he_init_depth import judge_he_init_depth
    from vgx.analysis.studies.rnn_identity_init import judge_rnn_identity_init

    reversed_loss = loss_frame().assign(
        deltas_0=lambda f: f["loss"].map({"bce": [5e-5], "mse": [0.5]}).tolist(),
        learned=lambda f: f["loss"].map({"bce": 0.0, "mse": 0.9}),
    )
    glorot = glorot_frame()
    glorot["deltas_0"] = glorot.init.map(
        {"torch_default": deltas(0.95, 6), "xavier_uniform": deltas(0.5, 6)}
    )
    glorot["test_error"] = glorot.activation.map({"sigmoid": 0.1, "tanh": 0.5}) + glorot.init.map(
        {"torch_default": 0.0, "xavier_uniform": 0.2}
    )
    he = he_frame()
    he["loss_curve"] = [
        [2.3] * 40 if (d, i) != (30, "xavier_normal") else [2.3] + [0.3] * 39
        for d, i in zip(he.depth, he.init, strict=True)
    ]
    degradation = degradation_frame()
    deeper_is_better = degradation.residual == "false"
    degradation["loss_end"] = [
        (0.5 if d == 30 else 2.0) if plain else (2.0 if d == 30 else 0.5)
        for d, plain in zip(degradation.depth, deeper_is_better, strict=True)
    ]
    isometry = isometry_frame()
    isometry["jacobian_spread"] = isometry.activation.map({"tanh": 3.0, "relu": 0.1, "linear": 0})
    isometry["loss_curve"] = [[2.3, 0.2] if d == 4 else [2.3] * 20 for d in isometry.depth]
    identity = frame(
        [
            {"recurrent_init": "identity", "learned": 0.01, "time_ratio_0": 1e-9},
            {"recurrent_init": "normal", "learned": 0.7, "time_ratio_0": 0.5},
        ]
    ).assign(test_error=0.3, singular_0=1.0)
    for judge, data in (
        (judge_mse_vs_cross_entropy, reversed_loss),
        (judge_glorot_gradients, glorot),
        (judge_he_init_depth, he),
        (judge_degradation, degradation),
        (judge_dynamical_isometry, isometry),
        (judge_rnn_identity_init, identity),
    ):
        verdict = judge(data)
        assert verdict.outcome == "does not hold", (judge.__name__, verdict.parts)
