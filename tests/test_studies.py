"""Study configs compose and are registered; the theory beside a study reads the runs; study
figures are drawn from measurements (the judges are tested in test_verdicts.py)."""

from __future__ import annotations

import pytest

from tests.conftest import compose_config
from tests.test_verdicts import depth_frame, dying, frame, init_frame
from vgx.analysis.studies import STUDIES
from vgx.analysis.studies.base import per_layer_factor
from vgx.cli import EXIT_USER_ERROR, main

SEEDS = (0, 1, 2)


def test_per_layer_factor_is_the_geometric_mean_of_hidden_ratios():
    # hidden deltas 8, 4, 1 (ratios ½ and ¼, geometric mean √⅛); the output layer's 100 is ignored
    assert per_layer_factor([1.0, 4.0, 8.0, 100.0]) == pytest.approx((0.25 * 0.5) ** 0.5)
    assert per_layer_factor([1.0, 2.0]) != per_layer_factor([1.0, 2.0])  # NaN: one hidden layer


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_study_config_composes(name):
    cfg, _ = compose_config([f"+study={name}"])
    assert cfg.epochs >= 1


def test_every_study_config_is_registered_and_every_registered_study_has_a_config():
    from vgx.config import conf_dir

    assert sorted(p.stem for p in (conf_dir() / "study").glob("*.yaml")) == sorted(STUDIES)


def test_the_theory_beside_depth_activation_takes_width_and_init_from_the_runs():
    from vgx.analysis.studies.depth_activation import theory_factors

    relu = depth_frame(relu=0.7)
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

    depth = depth_frame(relu=0.7).assign(init="xavier_uniform")
    assert figure_depth_activation(depth, tmp_path).name == "factor_vs_theory.png"
    assert figure_dying_relu(dying(1.0, 0.0), tmp_path).exists()
    assert figure_init(init_frame(), tmp_path).stat().st_size > 1000


def test_curve_figures_take_the_median_over_seeds(tmp_path):
    from vgx.analysis.studies.exploding_clip import figure_exploding_clip

    data = frame(
        [
            {"clip": "none", "loss_curve": [5.0, float("nan")]},
            {"clip": "norm", "loss_curve": [5.0, 1.0, 0.5, 0.2, 0.1, 0.1]},
        ]
    )
    assert figure_exploding_clip(data, tmp_path).stat().st_size > 1000
