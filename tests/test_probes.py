"""Each probe on a case whose answer is known by hand, and the loop checked against a bare one."""

import numpy as np
import pytest
import torch

from tests.conftest import compose_config
from vgx import probes
from vgx.data import load
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


def test_relu_layer_with_bias_minus_100_is_all_dead():
    model = MLP(n_in=2, n_out=1, depth=2, width=8, activation=activation_fn("relu"))
    with torch.no_grad():
        model.linears[0].bias.fill_(-100.0)
    saturation, dead = probes.saturation_and_dead(model, torch.randn(50, 2), 1.0)
    assert dead == [1.0]
    assert saturation == [1.0]  # φ′ = 0 everywhere


def test_relu_layer_with_bias_plus_100_has_no_dead_unit():
    model = MLP(n_in=2, n_out=1, depth=2, width=8, activation=activation_fn("relu"))
    with torch.no_grad():
        model.linears[0].bias.fill_(100.0)
    _, dead = probes.saturation_and_dead(model, torch.randn(50, 2), 1.0)
    assert dead == [0.0]


def test_sigmoid_layer_fed_plus_minus_50_is_all_saturated():
    model = MLP(n_in=1, n_out=1, depth=2, width=4, activation=activation_fn("sigmoid"))
    with torch.no_grad():
        model.linears[0].weight.fill_(1.0)
        model.linears[0].bias.zero_()
    x = torch.tensor([[50.0], [-50.0], [50.0]])
    phi_max = probes.max_derivative(torch.sigmoid)
    saturation, dead = probes.saturation_and_dead(model, x, phi_max)
    assert saturation == [1.0]
    assert dead == [0.0]


def test_sigmoid_layer_fed_zero_is_not_saturated():
    model = MLP(n_in=1, n_out=1, depth=2, width=4, activation=activation_fn("sigmoid"))
    with torch.no_grad():
        model.linears[0].weight.zero_()
    saturation, _ = probes.saturation_and_dead(model, torch.ones(3, 1), 0.25)
    assert saturation == [0.0]


@pytest.mark.parametrize(("name", "expected"), [("sigmoid", 0.25), ("tanh", 1.0), ("relu", 1.0)])
def test_max_derivative(name, expected):
    assert probes.max_derivative(activation_fn(name)) == pytest.approx(expected, rel=1e-4)


def test_weight_change_and_update_ratio_by_hand():
    model = _linear_net()
    initial = probes.snapshot_weights(model)
    with torch.no_grad():
        model.linears[1].weight.mul_(1.5)  # ‖ΔW‖ = 0.5 ‖W‖
    assert probes.weight_change(model, initial) == pytest.approx([0.0, 0.5])
    assert probes.update_ratio(model, initial) == pytest.approx([0.0, 0.5])


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
    norms, near_zero = probes.weight_statistics(model)
    assert norms == pytest.approx([(1 + 1 + 0.25 + 4) ** 0.5, 5**0.5])
    assert near_zero == [0.0, 0.0]
    with torch.no_grad():
        model.linears[0].weight[0, 0] = 0.001
    assert probes.weight_statistics(model)[1][0] == 0.25
