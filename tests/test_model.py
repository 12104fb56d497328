import math

import pytest
import torch
from torch import nn

from tests.conftest import compose_config
from vgx.config import INITS
from vgx.core.network import Architecture, Network, init_weight


def _network(*overrides: str, n_in: int = 2, n_classes: int = 2) -> Network:
    cfg, _ = compose_config(list(overrides))
    return Network.build([cfg], Architecture.of(cfg, n_in, n_classes), torch.device("cpu"))


def test_default_is_seed_002_network():
    cfg, _ = compose_config([])
    network = _network()
    shapes = [tuple(w.shape[1:]) for w in network.weights()]
    assert shapes == [(10, 2)] + [(10, 10)] * 7 + [(1, 10)]
    assert cfg.activation.name == "sigmoid" and cfg.init.name == "xavier_uniform"
    assert cfg.optimizer.name == "adam" and cfg.optimizer.lr == 1e-3
    assert (cfg.epochs, cfg.batch_size, cfg.dataset.n_samples) == (100, 32, 250)
    assert all(float(b.detach().abs().max()) == 0 for b in network.biases())


def test_initial_weights_are_a_plain_scripts():
    """nn.Linear layers made in turn under the seed, then Xavier over every weight."""
    network = _network("seed=3", "depth=3")
    torch.manual_seed(3)
    linears = [nn.Linear(2, 10), nn.Linear(10, 10), nn.Linear(10, 1)]
    for linear, weight in zip(linears, network.weights(), strict=True):
        nn.init.xavier_uniform_(linear.weight)
        assert torch.equal(linear.weight, weight[0])


@pytest.mark.parametrize("depth", [1, 2, 5, 20])
def test_number_of_linear_layers_is_depth(depth):
    network = _network(f"depth={depth}", "width=7", n_in=3, n_classes=4)
    assert network.depth == len(network.weights()) == depth
    assert network.weights()[0].shape[-1] == 3 and network.weights()[-1].shape[1] == 4
    assert network.forward(torch.zeros(1, 5, 3)).shape == (1, 5, 4)


def test_batch_norm_normalises_each_runs_batch_before_the_activation():
    network = _network("norm=batch", "depth=4", "activation=linear")
    assert len(network.running) == 3  # hidden layers only
    preactivations: list = []
    network.forward(torch.randn(1, 64, 2) * 5 + 3, preactivations)
    for s in preactivations:  # β = 0 and γ = 1 at the start: zero mean, unit variance
        assert float(s.detach().mean(dim=1).abs().max()) < 1e-5
        assert s.detach().var(dim=1, correction=0).mean().item() == pytest.approx(1, abs=1e-3)


def test_layer_norm_normalises_each_example():
    network = _network("norm=layer", "depth=3", "activation=linear", "width=16")
    preactivations: list = []
    network.forward(torch.randn(1, 8, 2), preactivations)
    assert float(preactivations[0].detach().mean(dim=-1).abs().max()) < 1e-5


def test_dropout_only_in_training_mode_and_from_the_runs_own_seed():
    args = ("regularizer=dropout", "depth=3", "width=64", "activation=linear")
    x = torch.randn(1, 16, 2)
    network = _network(*args)
    network.train(False)
    assert torch.equal(network.forward(x), network.forward(x))
    network.train(True)
    first = network.forward(x)
    assert not torch.equal(first, network.forward(x))
    torch.manual_seed(123)  # the global random state plays no part
    assert torch.equal(_network(*args).forward(x), first)


def test_residual_adds_the_input_of_equal_width_hidden_layers():
    network = _network("residual=true", "depth=3", "width=4", "activation=relu")
    (w1, w2, w3), (b1, b2, b3) = network.weights(), network.biases()
    x = torch.randn(1, 8, 2)
    h1 = torch.relu(x @ w1.transpose(1, 2) + b1[:, None])  # 2 → 4: no skip possible
    h2 = h1 + torch.relu(h1 @ w2.transpose(1, 2) + b2[:, None])  # 4 → 4: skip
    assert torch.allclose(network.forward(x), h2 @ w3.transpose(1, 2) + b3[:, None])


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
    network = _network("init=normal", "init.std=3", "init.bias=-2", "width=400", "depth=3")
    assert float(network.weights()[1].detach().std()) == pytest.approx(3, rel=0.02)
    assert torch.all(network.biases()[1] == -2)


@pytest.mark.parametrize("name", [n for n in INITS if n != "torch_default"])
def test_every_initializer_fills_the_weight(name):
    w = torch.zeros(64, 32)
    init_weight(w, name, std=1, scale=0.05, gain=1)
    assert float(w.std()) > 0
