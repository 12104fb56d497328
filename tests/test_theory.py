"""Mean-field predictions against known values (Schoenholz et al. 2017) and the command."""

import pytest

from vgx.analysis.theory import predict, weight_variance
from vgx.cli import main


def test_relu_with_he_init_has_chi1_exactly_one():
    assert predict("relu", sigma_w2=2.0).chi1 == pytest.approx(1.0, abs=1e-9)


def test_tanh_sigma_w2_1_sigma_b2_005_has_chi1_076():
    assert predict("tanh", sigma_w2=1.0, sigma_b2=0.05).chi1 == pytest.approx(0.76, abs=0.005)


def test_sigmoid_sigma_w2_1_has_chi1_0056():
    assert predict("sigmoid", sigma_w2=1.0).chi1 == pytest.approx(0.056, abs=0.001)


def test_linear_network_chi1_is_sigma_w2():
    assert predict("linear", sigma_w2=1.7).chi1 == pytest.approx(1.7)


def test_relu_with_large_weights_explodes():
    prediction = predict("relu", sigma_w2=3.0)
    assert prediction.chi1 == pytest.approx(1.5)
    assert prediction.ratio_over(10) == pytest.approx(1.5**5)


def test_weight_variance_of_the_initializers():
    assert weight_variance("he_normal", 64, std=1, scale=1, gain=1) == pytest.approx(2.0)
    assert weight_variance("xavier_uniform", 10, std=1, scale=1, gain=1) == pytest.approx(1.0)
    assert weight_variance("normal", 10, std=1, scale=1, gain=1) == pytest.approx(10.0)


def test_theory_command_prints_the_prediction(capsys):
    assert main(["theory", "activation=sigmoid", "depth=9"]) == 0
    out = capsys.readouterr().out
    assert "χ₁ = σ_w² E[φ′(h)²] = 0.0557" in out
    assert "vanishes" in out
