"""Each probe on a case whose answer is known by hand, and the loop checked against a bare one."""

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import compose_config
from vgx.core import probes
from vgx.core.data import Splits, load
from vgx.core.loop import train_run as train
from vgx.core.network import Architecture, Network, activation_fn
from vgx.core.objective import run_losses


def _network(activation: str, weights: list, biases: list) -> Network:
    """One run (K = 1) of an MLP with these weights (out × in) and biases."""
    dims = [len(weights[0][0])] + [len(w) for w in weights]
    arch = Architecture(
        n_in=dims[0], n_out=dims[-1], depth=len(weights), width=dims[1], activation=activation
    )
    tensors = [torch.as_tensor(w, dtype=torch.float32) for w in weights]
    bias_tensors = [torch.as_tensor(b, dtype=torch.float32) for b in biases]
    return Network(arch, arch.pack(tensors, bias_tensors)[None])


def _linear_net() -> Network:
    """2 → 2 → 1 with linear units and fixed weights, small enough to differentiate by hand."""
    return _network(
        "linear",
        [[[1.0, -1.0], [0.5, 2.0]], [[2.0, -1.0]]],
        [[0.1, -0.2], [0.3]],
    )


def _logits(network: Network, x: torch.Tensor) -> torch.Tensor:
    return network.forward(x[None])


@pytest.mark.parametrize("index_add_below", [0, 10**9], ids=["by segment", "by index_add_"])
def test_gradient_norms_match_a_hand_computed_backprop(monkeypatch, index_add_below):
    monkeypatch.setattr(probes, "INDEX_ADD_BELOW", index_add_below)  # both ways of summing
    network = _linear_net()
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
    run_losses(
        _logits(network, torch.tensor(x, dtype=torch.float32)), torch.tensor(y, dtype=torch.float32)
    ).sum().backward()
    measured = probes.GradientNorms(network)(network.params.grad)[0].tolist()
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
    network: Network, x_val: torch.Tensor, before: torch.Tensor | None = None
) -> dict[str, float]:
    probe = probes.EpochProbe(_splits(x_val), network.weights(), network.activation)
    grad_means = torch.zeros(1, 2 * network.depth)
    return probe.measure_network(network, grad_means, torch.zeros(1), before)[0][0]


def _saturation_and_dead(network: Network, x_val: torch.Tensor) -> tuple[list, list]:
    row = _measure(network, x_val)
    hidden = range(1, network.depth)
    return [row[f"saturation/layer_{i}"] for i in hidden], [row[f"dead/layer_{i}"] for i in hidden]


def _random_net(activation: str, n_in: int, width: int, bias: float, weight=None) -> Network:
    torch.manual_seed(0)
    w1 = torch.randn(width, n_in) if weight is None else torch.full((width, n_in), weight)
    return _network(activation, [w1, torch.randn(1, width)], [torch.full((width,), bias), [0.0]])


def test_relu_layer_with_bias_minus_100_is_all_dead():
    network = _random_net("relu", n_in=2, width=8, bias=-100.0)
    saturation, dead = _saturation_and_dead(network, torch.randn(50, 2))
    assert dead == [1.0]
    assert saturation == [1.0]  # φ′ = 0 everywhere


def test_relu_layer_with_bias_plus_100_has_no_dead_unit():
    network = _random_net("relu", n_in=2, width=8, bias=100.0)
    _, dead = _saturation_and_dead(network, torch.randn(50, 2))
    assert dead == [0.0]


def test_sigmoid_layer_fed_plus_minus_50_is_all_saturated():
    network = _random_net("sigmoid", n_in=1, width=4, bias=0.0, weight=1.0)
    saturation, dead = _saturation_and_dead(network, torch.tensor([[50.0], [-50.0], [50.0]]))
    assert saturation == [1.0]
    assert dead == [0.0]


def test_sigmoid_layer_fed_zero_is_not_saturated():
    network = _random_net("sigmoid", n_in=1, width=4, bias=0.0, weight=0.0)
    saturation, _ = _saturation_and_dead(network, torch.ones(3, 1))
    assert saturation == [0.0]


def test_saturation_is_measured_per_layer_on_the_validation_set_only():
    network = _network(
        "tanh",
        [[[1.0], [0.0]], [[0.0, 0.0], [0.0, 0.0]], [[1.0, 1.0]]],  # unit 2 always sees s = 0
        [[0.0, 0.0], [10.0, 10.0], [0.0]],  # layer 2: tanh′(10) ≈ 8e-9, saturated everywhere
    )
    probe = probes.EpochProbe(
        _splits(torch.tensor([[10.0], [0.0]]), x_train=torch.zeros(5, 1)),
        network.weights(),
        network.activation,
    )
    row = probe.measure_network(network, torch.zeros(1, 6), torch.zeros(1), None)[0][0]
    assert row["saturation/layer_1"] == 0.25  # only (unit 1, x = 10): tanh′(10) < 1% of 1
    assert row["saturation/layer_2"] == 1.0


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_closed_form_derivatives_equal_autograd_bit_for_bit(name):
    activation = activation_fn(name, 0.01)
    s = torch.cat([torch.randn(10_000) * 10, torch.tensor([0.0, -0.0, 1e-30, 88.0, -88.0])])
    s = torch.cat([s, torch.tensor([float("inf"), float("-inf"), float("nan")])])
    leaf = s.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(activation(leaf).sum(), leaf)
    measured = probes.DERIVATIVE_FROM_OUTPUT[activation](s, activation(s))
    assert torch.equal(measured.nan_to_num(nan=-1.0), expected.nan_to_num(nan=-1.0))


@pytest.mark.parametrize(("name", "expected"), [("sigmoid", 0.25), ("tanh", 1.0), ("relu", 1.0)])
def test_max_derivative(name, expected):
    assert probes.max_derivative(activation_fn(name, 0.01)) == pytest.approx(expected, rel=1e-4)


def test_weight_change_and_update_ratio_by_hand():
    network = _linear_net()
    probe = probes.EpochProbe(_splits(torch.zeros(1, 2)), network.weights(), network.activation)
    before = probe.snapshot(network)
    with torch.no_grad():
        network.weights()[1].mul_(1.5)  # ‖ΔW‖ = 0.5 ‖W(0)‖ = ⅓ ‖W‖
    rows, finite = probe.measure_network(network, torch.zeros(1, 4), torch.zeros(1), before)
    row = rows[0]
    assert finite == [True]
    assert [row["weight_change/layer_1"], row["weight_change/layer_2"]] == pytest.approx([0, 0.5])
    assert [row["update_ratio/layer_1"], row["update_ratio/layer_2"]] == pytest.approx([0, 0.5])


ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}


def _bare_training(overrides: list[str]) -> float:
    """The same training written plainly with torch.nn and torch.optim, without probes: the
    oracle for "the one loop trains as a plain PyTorch script does". Weights are drawn in the
    order such a script draws them: each nn.Linear, then Xavier over every weight."""
    cfg, _ = compose_config(overrides)
    splits = load(cfg.dataset)
    torch.manual_seed(cfg.seed)
    dims = [splits.n_features] + [cfg.width] * (cfg.depth - 1) + [1]
    batch_norm = cfg.norm == "batch"
    linears = [
        nn.Linear(dims[i], dims[i + 1], bias=not (batch_norm and i < cfg.depth - 1))
        for i in range(cfg.depth)
    ]
    for linear in linears:
        nn.init.xavier_uniform_(linear.weight)
        if linear.bias is not None:
            nn.init.zeros_(linear.bias)
    keep = 1 - cfg.regularizer.dropout
    masks = torch.Generator().manual_seed(cfg.seed)
    norms = [nn.BatchNorm1d(dims[i + 1]) for i in range(cfg.depth - 1)] if batch_norm else []
    phi = ACTIVATIONS[cfg.activation.name]()

    def forward(x: torch.Tensor, training: bool) -> torch.Tensor:
        for i, linear in enumerate(linears[:-1]):
            x = linear(x)
            x = phi(norms[i](x) if norms else x)
            if training and keep < 1:
                x = x * torch.bernoulli(torch.full_like(x, keep), generator=masks) / keep
        return linears[-1](x).squeeze(1)

    params = [p for m in [*linears, *norms] for p in m.parameters()]
    optimizer = torch.optim.Adam(params, lr=cfg.optimizer.lr)
    loss = nn.BCEWithLogitsLoss()
    order = torch.Generator().manual_seed(cfg.seed)
    for _ in range(cfg.epochs):
        for norm in norms:
            norm.train()
        for idx in torch.randperm(len(splits.y_train), generator=order).split(cfg.batch_size):
            optimizer.zero_grad()
            loss(forward(splits.x_train[idx], training=True), splits.y_train[idx]).backward()
            optimizer.step()
    for norm in norms:
        norm.eval()
    with torch.no_grad():
        return float(loss(forward(splits.x_train, training=False), splits.y_train))


@pytest.mark.parametrize(
    "extra",
    [[], ["norm=batch", "activation=relu"], ["regularizer=dropout", "activation=tanh"]],
    ids=["default", "batch-norm", "dropout"],
)
def test_the_loop_trains_as_a_plain_pytorch_script(extra):
    overrides = ["epochs=4", "progress=false", *extra]
    cfg, _ = compose_config(overrides)
    result = train(cfg)
    assert result.history[-1]["loss/train"] == pytest.approx(_bare_training(overrides), abs=1e-5)


def test_weight_statistics_by_hand():
    network = _linear_net()
    row = _measure(network, torch.zeros(1, 2))
    assert row["weight_norm/layer_1"] == pytest.approx((1 + 1 + 0.25 + 4) ** 0.5)
    assert row["weight_norm/layer_2"] == pytest.approx(5**0.5)
    assert row["near_zero/layer_1"] == row["near_zero/layer_2"] == 0.0
    with torch.no_grad():
        network.weights()[0][0, 0, 0] = 0.001
    assert _measure(network, torch.zeros(1, 2))["near_zero/layer_1"] == 0.25


def test_the_loss_of_each_set_comes_from_its_own_examples():
    network = _linear_net()  # logit of x = (1, 2): 2·(1 − 2 + 0.1) − (0.5 + 4 − 0.2) + 0.3 = −5.8
    x_train, x_val = torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    splits = _splits(x_val, x_train=x_train)
    splits.y_train, splits.y_val = torch.tensor([1.0]), torch.tensor([0.0, 1.0])
    probe = probes.EpochProbe(splits, network.weights(), network.activation)
    row = probe.measure_network(network, torch.zeros(1, 4), torch.tensor([0.5]), None)[0][0]
    with torch.no_grad():
        expected_train = run_losses(_logits(network, x_train), splits.y_train)
        expected_val = run_losses(_logits(network, x_val), splits.y_val)
    assert row["loss/train"] == pytest.approx(float(expected_train), rel=1e-6)
    assert row["loss/val"] == pytest.approx(float(expected_val), rel=1e-6)
    assert (row["acc/train"], row["loss/penalty"]) == (0.0, 0.5)


def test_a_non_finite_bias_marks_the_run_diverged():
    network = _linear_net()
    probe = probes.EpochProbe(_splits(torch.zeros(1, 2)), network.weights(), network.activation)
    with torch.no_grad():
        network.biases()[1].fill_(float("inf"))
    assert probe.measure_network(network, torch.zeros(1, 4), torch.zeros(1), None)[1] == [False]


@pytest.mark.parametrize("residual", [False, True])
def test_the_jacobian_probe_matches_autograds_jacobian_of_the_hidden_stack(residual):
    """The epoch-0 row's jacobian/* against torch.autograd.functional.jacobian of a₁ ↦ a_{L−1}
    written out from the same weights, on the same validation examples."""
    from tests.conftest import compose_config
    from vgx.core.data import load
    from vgx.core.jacobian import JACOBIAN_EXAMPLES
    from vgx.core.loop import train_run
    from vgx.core.network import Architecture, Network, activation_fn

    cfg = compose_config(
        ["epochs=1", "progress=false", "activation=tanh", "init=he_normal", "depth=5",
         "width=12", f"residual={str(residual).lower()}"]
    )[0]  # fmt: skip
    splits = load(cfg.dataset)
    network = Network.build([cfg], Architecture.of(cfg, 2, 2), torch.device("cpu"))
    weights = [w[0].detach().double() for w in network.weights()]
    biases = [b[0].detach().double() for b in network.biases()]
    phi = activation_fn("tanh", 0.0)

    def stack(a1: torch.Tensor) -> torch.Tensor:
        a = a1
        for w, b in zip(weights[1:-1], biases[1:-1], strict=True):
            a = a + phi(w @ a + b) if residual else phi(w @ a + b)
        return a

    singular = []
    for x in splits.x_val[:JACOBIAN_EXAMPLES].double():
        a1 = phi(weights[0] @ x + biases[0])
        singular.append(torch.linalg.svdvals(torch.autograd.functional.jacobian(stack, a1)))
    values = torch.cat(singular)
    row = train_run(cfg).history[0]
    assert row["jacobian/sv_max"] == pytest.approx(values.max().item(), rel=1e-4)
    assert row["jacobian/sv_min"] == pytest.approx(values.min().item(), rel=1e-3, abs=1e-6)
    assert row["jacobian/sv_spread"] == pytest.approx(values.log10().std().item(), rel=1e-3)


def test_a_deep_linear_orthogonal_net_is_an_isometry_and_the_probe_runs_at_epoch_0_only():
    from tests.conftest import compose_config
    from vgx.core.loop import train_run

    cfg = compose_config(
        ["epochs=2", "progress=false", "activation=linear", "init=orthogonal", "width=16",
         "depth=12"]
    )[0]  # fmt: skip
    history = train_run(cfg).history
    assert history[0]["jacobian/sv_max"] == pytest.approx(1.0, abs=1e-5)
    assert history[0]["jacobian/sv_min"] == pytest.approx(1.0, abs=1e-5)
    assert not any(k.startswith("jacobian/") for k in history[1])


def test_singular_values_below_rounding_count_as_zero():
    from vgx.core.jacobian import spectrum

    # [K=2, E=1, N=2]: one run's second value is below 2·ε·σ_max, the other's is measurable
    jacobian = torch.zeros(2, 1, 2, 2, dtype=torch.float64)
    jacobian[0, 0] = torch.diag(torch.tensor([1.0, 1e-20], dtype=torch.float64))
    jacobian[1, 0] = torch.diag(torch.tensor([1.0, 1e-3], dtype=torch.float64))
    sv_max, sv_min, spread = spectrum(jacobian).T
    assert sv_max.tolist() == [1.0, 1.0]
    assert sv_min[0] == 0.0 and spread[0] == 0.0  # one resolvable value: no spread
    # log10 σ = 0 and −3: their standard deviation (n − 1), in decades
    assert sv_min[1] == pytest.approx(1e-3) and spread[1] == pytest.approx(3 / 2**0.5)
