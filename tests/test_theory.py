"""Mean-field predictions against known values (Schoenholz et al. 2017), an independent
integral, the networks' own measured factors, and the command."""

import math

import numpy as np
import pytest
import torch

from tests.conftest import compose_config
from vgx.analysis.studies.base import per_layer_factor
from vgx.analysis.theory import (
    gaussian_moments,
    hidden_sigma_w2,
    predict,
    predict_for_config,
    weight_variance,
)
from vgx.cli import main
from vgx.config import ACTIVATIONS, INITS
from vgx.core.loop import train
from vgx.core.network import activation_fn
from vgx.errors import EXIT_USER_ERROR


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
    assert hidden_sigma_w2("he_normal", 64, std=1, scale=1, gain=1) == pytest.approx(2.0)
    assert hidden_sigma_w2("xavier_uniform", 10, std=1, scale=1, gain=1) == pytest.approx(1.0)
    assert hidden_sigma_w2("normal", 10, std=1, scale=1, gain=1) == pytest.approx(10.0)
    # the first layer (2 inputs → 10 units) under Xavier: 2 / (2 + 10)
    assert weight_variance("xavier_normal", 2, 10, 1, 1, 1) == pytest.approx(1 / 6)


def test_torch_default_counts_its_random_biases():
    """PyTorch's biases are U(±1/√fan_in): σ_b² = σ_w² = 1/3 of a hidden layer."""
    cfg, _ = compose_config(["init=torch_default", "activation=softsign", "width=64"])
    prediction = predict_for_config(cfg)
    assert prediction.sigma_b2 == pytest.approx(1 / (3 * 64))
    without = predict(
        "softsign", prediction.sigma_w2, 0.0, 0.0, q1=prediction.layer_q[0], hidden_layers=8
    )
    assert prediction.layer_q[1] > without.layer_q[1]  # the biases add variance


def _reference(activation: str, mean: float, q: float) -> tuple[float, float]:
    from scipy import integrate

    f = activation_fn(activation, 0.01)

    def values(h: float) -> tuple[float, float]:
        x = torch.tensor([h], dtype=torch.float64, requires_grad=True)
        y = f(x)
        (dy,) = torch.autograd.grad(y.sum(), x)
        return float(y.detach()), float(dy)

    def expect(which: int) -> float:
        def integrand(z: float) -> float:
            return values(mean + math.sqrt(q) * z)[which] ** 2 * math.exp(-z * z / 2)

        kink = -mean / math.sqrt(q)
        value, _ = integrate.quad(integrand, -12, 12, points=[kink], limit=200)
        return value / math.sqrt(2 * math.pi)

    return expect(0), expect(1)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_gaussian_integrals_match_adaptive_quadrature(activation):
    """Within 0.5% of scipy's adaptive quad for every activation, kinks included (softsign at
    σ_w² = 10, SELU with a bias of 0.5 were off by 7% and 4% with Gauss–Hermite nodes)."""
    for mean in (0.0, 0.5, -1.0):
        for q in (0.05, 1.0, 10.0, 300.0):
            ours = gaussian_moments(activation, 0.01, mean, q)
            for value, reference in zip(ours, _reference(activation, mean, q), strict=True):
                if reference > 1e-12:
                    assert value == pytest.approx(reference, rel=5e-3), (activation, mean, q)


def _measured_and_predicted(activation: str, init: str, width: int, depth: int):
    cfg, _ = compose_config(
        [f"activation={activation}", f"init={init}", f"width={width}", f"depth={depth}", "epochs=1"]
    )
    (result,) = train([cfg])
    deltas = [result.history[0][f"delta_norm/layer_{i}"] for i in range(1, depth + 1)]
    return per_layer_factor(deltas), predict_for_config(cfg).factor


def test_a_net_far_from_the_fixed_point_is_predicted_layer_by_layer():
    """GELU under He init: q* = 0 gives √χ₁ = 0.707 a layer, but the 18 layers that exist see
    q_l far from 0 and keep ~0.96 of the gradient each; the layer-wise prediction follows them."""
    measured, predicted = _measured_and_predicted("gelu", "he_normal", 256, 19)
    assert predict("gelu", 2.0).asymptotic_factor == pytest.approx(0.7071, abs=1e-3)
    assert predicted == pytest.approx(measured, rel=0.25)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_predicted_factor_is_within_25_percent_of_the_measured_one(activation):
    """Every activation × every init at width 256, depth 10: measured 7 hidden-to-hidden steps."""
    errors = {}
    for init in INITS:
        measured, predicted = _measured_and_predicted(activation, init, 256, 10)
        errors[init] = predicted / measured - 1
    assert max(np.abs(list(errors.values()))) < 0.25, errors


def test_theory_refuses_the_architectures_it_does_not_describe(capsys):
    for override in ("residual=true", "norm=batch", "norm=layer"):
        assert main(["theory", override]) == EXIT_USER_ERROR
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and override in err and "plain network" in err


def test_theory_command_prints_the_prediction(capsys):
    assert main(["theory", "activation=sigmoid", "depth=9"]) == 0
    out = capsys.readouterr().out
    assert "χ₁ = σ_w² E[φ′(h)²] = 0.0557" in out
    assert "vanishes" in out
    assert "per-layer factor of the back-propagated gradient in this net" in out


@pytest.mark.parametrize(
    "overrides",
    [
        ["activation=tanh"],
        ["activation=sigmoid"],
        ["activation=relu", "+model.spectral_radius=1.5"],
        ["activation=tanh", "model.recurrent_init=normal", "init.std=0.3"],
        ["activation=linear", "+model.spectral_radius=0.5"],
    ],
)
def test_the_measured_factor_through_time_stays_under_pascanus_bound(overrides):
    """‖∂ℓ/∂h_{t−1}‖ ≤ γ λ₁ ‖∂ℓ/∂h_t‖ for every example of a plain RNN: a probe that measured
    the wrong state, or a wrong λ₁ or γ, would break it."""
    from vgx.analysis.recurrent_theory import predict_recurrent

    cfg = compose_config(
        ["model=rnn", "dataset=adding", "dataset.n_samples=100", "dataset.length=30", "width=16",
         *overrides]
    )[0]  # fmt: skip
    prediction = predict_recurrent(cfg)
    assert 0 < prediction.measured_factor <= prediction.bound * (1 + 1e-5)
    gamma = 0.25 if "activation=sigmoid" in overrides else 1.0
    assert prediction.gamma == pytest.approx(gamma, rel=1e-3)


def test_theory_prints_pascanus_conditions_for_a_recurrent_config(capsys):
    args = ["model=rnn", "activation=sigmoid", "dataset=adding", "dataset.n_samples=50"]
    assert main(["theory", *args]) == 0
    out = capsys.readouterr().out
    assert "γ = max |φ′| = 0.25" in out and "λ₁ < 1/γ is sufficient" in out
    assert main(["theory", "model=rnn", "activation=relu", "dataset=adding",
                 "dataset.n_samples=50", "+model.spectral_radius=2"]) == 0  # fmt: skip
    assert "λ₁ > 1/γ is necessary" in capsys.readouterr().out


def _gauss(f) -> float:  # noqa: ANN001
    from scipy.integrate import quad

    return quad(lambda z: f(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -12, 12)[0]


def test_xi_c_of_tanh_at_sigma_w2_15_sigma_b2_005_matches_an_independent_computation():
    """Ordered phase (c* = 1): ξ_c = −1/ln χ₁, with q* from the variance map iterated here by
    scipy's adaptive quadrature, and χ₁ = σ_w² E[sech⁴(√q* z)]."""
    sigma_w2, sigma_b2 = 1.5, 0.05
    q = 1.0
    for _ in range(500):
        q = sigma_w2 * _gauss(lambda z, q=q: math.tanh(math.sqrt(q) * z) ** 2) + sigma_b2
    chi1 = sigma_w2 * _gauss(lambda z: (1 - math.tanh(math.sqrt(q) * z) ** 2) ** 2)
    expected = -1 / math.log(chi1)
    prediction = predict("tanh", sigma_w2, sigma_b2)
    assert prediction.phase == "ordered" and prediction.c_star == 1.0
    assert prediction.xi_c == pytest.approx(expected, rel=1e-3)
    assert 15 < expected < 17  # about 16 layers: trainable to ~95


def test_the_chaotic_correlation_fixed_point_matches_monte_carlo():
    """σ_w² = 4, σ_b² = 0.05: c* and χ_c against a million-sample Monte Carlo of the maps."""
    rng = np.random.default_rng(0)
    z1, z2 = rng.standard_normal((2, 1_000_000))
    prediction = predict("tanh", 4.0, 0.05)
    q = prediction.q_star
    c = 0.5
    for _ in range(200):
        u1 = math.sqrt(q) * z1
        u2 = math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
        c = (4.0 * np.mean(np.tanh(u1) * np.tanh(u2)) + 0.05) / q
    u1, u2 = math.sqrt(q) * z1, math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
    chi_c = 4.0 * np.mean((1 - np.tanh(u1) ** 2) * (1 - np.tanh(u2) ** 2))
    assert prediction.phase == "chaotic"
    assert prediction.c_star == pytest.approx(c, abs=0.01)
    assert prediction.chi_c == pytest.approx(chi_c, rel=0.01)
    assert prediction.xi_c == pytest.approx(-1 / math.log(chi_c), rel=0.05)


def test_random_biases_are_drawn_with_the_std_asked_for_and_enter_the_theory():
    from vgx.analysis.theory import predict_for_config
    from vgx.core.network import Architecture, initial_row

    cfg = compose_config(["init.bias_std=0.5", "init.bias=0.2", "depth=3", "width=400"])[0]
    arch = Architecture.of(cfg, 2, 2)
    biases = initial_row(cfg, arch)[arch.weight_count() :]
    assert biases.mean().item() == pytest.approx(0.2, abs=0.05)
    assert biases.std().item() == pytest.approx(0.5, rel=0.1)
    assert predict_for_config(cfg).sigma_b2 == pytest.approx(0.25)
    plain = compose_config(["init.bias=0.2", "depth=3", "width=400"])[0]
    assert torch.all(initial_row(plain, arch)[arch.weight_count() :] == 0.2)
