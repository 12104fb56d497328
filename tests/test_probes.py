"""Each probe on a case whose answer is known by hand, and the loop checked against a bare one."""

import numpy as np
import pytest
import torch

from tests.conftest import compose_config
from vgx import probes
from vgx.data import Splits, load
from vgx.model import MLP, activation_fn, build_model
from vgx.objective import data_loss
from vgx.optim import build_optimizer
from vgx.train import train


def _linear_net() -> MLP:
    """2 → 2 → 1 with linear units and fixed weights, small enough to differentiate by hand."""
    model = MLP(n_in=2, n_out=1, depth=2, width=2, activation=activation_fn("linear"))
    with torch.no_grad():
        model.linears[0].weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))
        model.linears[0].bias.copy_(torch.tensor([0.1, -0.2]))
        model.linears[1].weight.copy_(torch.tensor([[2.0, -1.0]]))
        model.linears[1].bias.copy_(torch.tensor([0.3]))
    return model


def test_gradient_norms_match_a_hand_computed_backprop():
    model = _linear_net()
    x = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, -1.0]])
    y = np.array([1.0, 0.0, 1.0])
    w1, b1 = np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([0.1, -0.2])
    w2, b2 = np.array([[2.0, -1.0]]), np.array([0.3])
    h = x @ w1.T + b1
    z = h @ w2.T + b2
    e = (1 / (1 + np.exp(-z[:, 0])) - y) / len(y)  # ∂J/∂z of mean binary cross-entropy
    grad_w2, grad_b2 = e @ h, e.sum()
    delta1 = np.outer(e, w2[0])  # ∂J/∂h
    grad_w1, grad_b1 = delta1.T @ x, delta1.sum(axis=0)
    data_loss(
        model(torch.tensor(x, dtype=torch.float32)), torch.tensor(y, dtype=torch.float32)
    ).backward()
    measured = probes.gradient_norms(model).tolist()
    expected = [
        np.linalg.norm(grad_w1),
        np.linalg.norm(grad_w2),
        np.linalg.norm(grad_b1),
        abs(grad_b2),
    ]
    assert measured == pytest.approx(expected, rel=1e-5)


def _splits(x_val: torch.Tensor, x_train: torch.Tensor | None = None) -> Splits:
    """A data set whose validation inputs are `x_val` (labels 0: only the inputs matter here)."""
    x_train = x_val if x_train is None else x_train
    zeros = lambda x: torch.zeros(len(x))  # noqa: E731
    return Splits(x_train, zeros(x_train), x_val, zeros(x_val), x_val, zeros(x_val), n_classes=2)


def _measure(
    model: MLP, x_val: torch.Tensor, before: torch.Tensor | None = None, initial=None
) -> dict[str, float]:
    probe = probes.EpochProbe(
        _splits(x_val), [w.unsqueeze(0) for w in initial or model.weights()], model.activation
    )
    grad_means = torch.zeros(2 * model.depth)
    return probe.measure_network(model, grad_means, torch.zeros(()), before)[0]


def _saturation_and_dead(model: MLP, x_val: torch.Tensor) -> tuple[list[float], list[float]]:
    row = _measure(model, x_val)
    hidden = range(1, model.depth)
    return [row[f"saturation/layer_{i}"] for i in hidden], [row[f"dead/layer_{i}"] for i in hidden]


def test_relu_layer_with_bias_minus_100_is_all_dead():
    model = MLP(n_in=2, n_out=1, depth=2, width=8, activation=activation_fn("relu"))
    with torch.no_grad():
        model.linears[0].bias.fill_(-100.0)
    saturation, dead = _saturation_and_dead(model, torch.randn(50, 2))
    assert dead == [1.0]
    assert saturation == [1.0]  # φ′ = 0 everywhere


def test_relu_layer_with_bias_plus_100_has_no_dead_unit():
    model = MLP(n_in=2, n_out=1, depth=2, width=8, activation=activation_fn("relu"))
    with torch.no_grad():
        model.linears[0].bias.fill_(100.0)
    _, dead = _saturation_and_dead(model, torch.randn(50, 2))
    assert dead == [0.0]


def test_sigmoid_layer_fed_plus_minus_50_is_all_saturated():
    model = MLP(n_in=1, n_out=1, depth=2, width=4, activation=activation_fn("sigmoid"))
    with torch.no_grad():
        model.linears[0].weight.fill_(1.0)
        model.linears[0].bias.zero_()
    saturation, dead = _saturation_and_dead(model, torch.tensor([[50.0], [-50.0], [50.0]]))
    assert saturation == [1.0]
    assert dead == [0.0]


def test_sigmoid_layer_fed_zero_is_not_saturated():
    model = MLP(n_in=1, n_out=1, depth=2, width=4, activation=activation_fn("sigmoid"))
    with torch.no_grad():
        model.linears[0].weight.zero_()
    saturation, _ = _saturation_and_dead(model, torch.ones(3, 1))
    assert saturation == [0.0]


def test_saturation_is_measured_per_layer_on_the_validation_set_only():
    model = MLP(n_in=1, n_out=1, depth=3, width=2, activation=activation_fn("tanh"))
    with torch.no_grad():
        model.linears[0].weight.copy_(torch.tensor([[1.0], [0.0]]))  # unit 2 always sees s = 0
        model.linears[0].bias.zero_()
        model.linears[1].weight.zero_()
        model.linears[1].bias.fill_(10.0)  # layer 2: tanh′(10) ≈ 8e-9, saturated everywhere
    probe = probes.EpochProbe(
        _splits(torch.tensor([[10.0], [0.0]]), x_train=torch.zeros(5, 1)),
        [w.unsqueeze(0) for w in model.weights()],
        model.activation,
    )
    row, _ = probe.measure_network(model, torch.zeros(6), torch.zeros(()), None)
    assert row["saturation/layer_1"] == 0.25  # only (unit 1, x = 10): tanh′(10) < 1% of 1
    assert row["saturation/layer_2"] == 1.0


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_closed_form_derivatives_equal_autograd_bit_for_bit(name):
    activation = activation_fn(name)
    s = torch.cat([torch.randn(10_000) * 10, torch.tensor([0.0, -0.0, 1e-30, 88.0, -88.0])])
    s = torch.cat([s, torch.tensor([float("inf"), float("-inf"), float("nan")])])
    leaf = s.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(activation(leaf).sum(), leaf)
    measured = probes.DERIVATIVE_FROM_OUTPUT[activation](s, activation(s))
    assert torch.equal(measured.nan_to_num(nan=-1.0), expected.nan_to_num(nan=-1.0))


@pytest.mark.parametrize(("name", "expected"), [("sigmoid", 0.25), ("tanh", 1.0), ("relu", 1.0)])
def test_max_derivative(name, expected):
    assert probes.max_derivative(activation_fn(name)) == pytest.approx(expected, rel=1e-4)


def test_weight_change_and_update_ratio_by_hand():
    model = _linear_net()
    initial = [w.detach().clone() for w in model.weights()]
    probe = probes.EpochProbe(
        _splits(torch.zeros(1, 2)), [initial[0][None], initial[1][None]], model.activation
    )
    before = probe.snapshot(model.weights())
    with torch.no_grad():
        model.linears[1].weight.mul_(1.5)  # ‖ΔW‖ = 0.5 ‖W(0)‖ = ⅓ ‖W‖
    row, finite = probe.measure_network(model, torch.zeros(4), torch.zeros(()), before)
    assert finite
    assert [row["weight_change/layer_1"], row["weight_change/layer_2"]] == pytest.approx([0, 0.5])
    assert [row["update_ratio/layer_1"], row["update_ratio/layer_2"]] == pytest.approx([0, 0.5])


def _bare_training(overrides: list[str]) -> float:
    """The same training written plainly, without probes: the oracle for 'probes change nothing'."""
    cfg, _ = compose_config(overrides)
    splits = load(cfg.dataset)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, splits.n_features, splits.n_classes)
    optimizer = build_optimizer(model.parameters(), cfg.optimizer)
    order = torch.Generator().manual_seed(cfg.seed)
    for _ in range(cfg.epochs):
        model.train()
        for idx in torch.randperm(len(splits.y_train), generator=order).split(cfg.batch_size):
            optimizer.zero_grad()
            data_loss(model(splits.x_train[idx]), splits.y_train[idx]).backward()
            optimizer.step()
    return probes.evaluate(model, splits.x_train, splits.y_train)[0]


@pytest.mark.parametrize("extra", [[], ["norm=batch", "activation=relu"], ["regularizer=dropout"]])
def test_probes_do_not_change_the_training(extra):
    overrides = ["epochs=4", "progress=false", *extra]
    cfg, _ = compose_config(overrides)
    result = train(cfg)
    assert result.history[-1]["loss/train"] == pytest.approx(_bare_training(overrides), abs=1e-6)


def test_weight_statistics_by_hand():
    model = _linear_net()
    row = _measure(model, torch.zeros(1, 2))
    assert row["weight_norm/layer_1"] == pytest.approx((1 + 1 + 0.25 + 4) ** 0.5)
    assert row["weight_norm/layer_2"] == pytest.approx(5**0.5)
    assert row["near_zero/layer_1"] == row["near_zero/layer_2"] == 0.0
    with torch.no_grad():
        model.linears[0].weight[0, 0] = 0.001
    assert _measure(model, torch.zeros(1, 2))["near_zero/layer_1"] == 0.25


def test_the_loss_of_each_set_comes_from_its_own_examples():
    model = _linear_net()  # logit of x = (1, 2): 2·(1 − 2 + 0.1) − (0.5 + 4 − 0.2) + 0.3 = −5.8
    x_train, x_val = torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    splits = _splits(x_val, x_train=x_train)
    splits.y_train, splits.y_val = torch.tensor([1.0]), torch.tensor([0.0, 1.0])
    probe = probes.EpochProbe(splits, [w.unsqueeze(0) for w in model.weights()], model.activation)
    row, _ = probe.measure_network(model, torch.zeros(4), torch.tensor(0.5), None)
    with torch.no_grad():
        expected_train = data_loss(model(x_train), splits.y_train)
        expected_val = data_loss(model(x_val), splits.y_val)
    assert row["loss/train"] == pytest.approx(float(expected_train), rel=1e-6)
    assert row["loss/val"] == pytest.approx(float(expected_val), rel=1e-6)
    assert (row["acc/train"], row["loss/penalty"]) == (0.0, 0.5)


def test_a_non_finite_bias_marks_the_run_diverged():
    model = _linear_net()
    probe = probes.EpochProbe(
        _splits(torch.zeros(1, 2)), [w.unsqueeze(0) for w in model.weights()], model.activation
    )
    with torch.no_grad():
        model.linears[1].bias.fill_(float("inf"))
    assert probe.measure_network(model, torch.zeros(4), torch.zeros(()), None)[1] is False
