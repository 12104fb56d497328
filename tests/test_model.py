import math

import pytest
import torch
from torch import nn

from tests.conftest import compose_config
from vgx.config import INITS
from vgx.model import build_model, init_weight


def test_default_is_seed_002_network():
    cfg, _ = compose_config([])
    model = build_model(cfg, n_in=2, n_classes=2)
    shapes = [tuple(linear.weight.shape) for linear in model.linears]
    assert shapes == [(10, 2)] + [(10, 10)] * 7 + [(1, 10)]
    assert cfg.activation.name == "sigmoid" and cfg.init.name == "xavier_uniform"
    assert cfg.optimizer.name == "adam" and cfg.optimizer.lr == 1e-3
    assert (cfg.epochs, cfg.batch_size, cfg.dataset.n_samples) == (100, 32, 250)
    assert all(float(b.detach().abs().max()) == 0 for b in model.biases())


@pytest.mark.parametrize("depth", [1, 2, 5, 20])
def test_number_of_linear_layers_is_depth(depth):
    cfg, _ = compose_config([f"depth={depth}", "width=7"])
    model = build_model(cfg, n_in=3, n_classes=4)
    assert model.depth == depth
    assert model.linears[0].in_features == 3 and model.linears[-1].out_features == 4
    assert model(torch.zeros(5, 3)).shape == (5, 4)


def test_batch_norm_sits_between_linear_and_activation_and_replaces_the_bias():
    cfg, _ = compose_config(["norm=batch", "depth=4"])
    model = build_model(cfg, n_in=2, n_classes=2)
    assert all(isinstance(n, nn.BatchNorm1d) for n in model.norms)
    assert len(model.norms) == 3  # hidden layers only
    assert all(linear.bias is None for linear in model.linears[:-1])
    assert model.linears[-1].bias is not None
    assert model.biases()[0] is model.norms[0].bias


def test_layer_norm_option():
    cfg, _ = compose_config(["norm=layer", "depth=3"])
    model = build_model(cfg, n_in=2, n_classes=2)
    assert all(isinstance(n, nn.LayerNorm) for n in model.norms)


def test_dropout_only_in_training_mode():
    cfg, _ = compose_config(["regularizer=dropout", "depth=3", "width=64", "activation=linear"])
    model = build_model(cfg, n_in=2, n_classes=2)
    x = torch.randn(16, 2)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(1)
    assert not torch.equal(model(x), model(x))


def test_residual_adds_the_input_of_equal_width_hidden_layers():
    cfg, _ = compose_config(["residual=true", "depth=3", "width=4", "activation=relu"])
    model = build_model(cfg, n_in=2, n_classes=2)
    x = torch.randn(8, 2)
    h1 = torch.relu(model.linears[0](x))  # 2 → 4: no skip possible
    h2 = h1 + torch.relu(model.linears[1](h1))  # 4 → 4: skip
    assert torch.allclose(model(x), model.linears[2](h2))


def test_he_normal_std_is_sqrt_two_over_fan_in():
    w = torch.empty(1000, 500)
    torch.manual_seed(0)
    init_weight(w, "he_normal", std=1, scale=1, gain=1)
    assert float(w.std()) == pytest.approx(math.sqrt(2 / 500), rel=0.02)


def test_xavier_uniform_bound_is_glorot_bengio():
    w = torch.empty(300, 200)
    init_weight(w, "xavier_uniform", std=1, scale=1, gain=1)
    bound = math.sqrt(6 / (300 + 200))
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > 0.95 * bound


def test_normal_init_uses_init_std_and_bias_constant():
    cfg, _ = compose_config(["init=normal", "init.std=3", "init.bias=-2", "width=400", "depth=3"])
    torch.manual_seed(0)
    model = build_model(cfg, n_in=400, n_classes=2)
    assert float(model.linears[1].weight.std()) == pytest.approx(3, rel=0.02)
    assert torch.all(model.linears[1].bias == -2)


@pytest.mark.parametrize("name", [n for n in INITS if n != "torch_default"])
def test_every_initializer_fills_the_weight(name):
    w = torch.zeros(64, 32)
    init_weight(w, name, std=1, scale=0.05, gain=1)
    assert float(w.std()) > 0
