"""Recurrent networks: the cells against torch's own, ∂ℓ/∂h_t against a hand computation and
against autograd on torch's cells, W_h's rescaling, stacking, and every model × task recorded."""

from __future__ import annotations

import math

import pytest
import torch
from mlflow.tracking import MlflowClient
from torch import nn

from tests.conftest import compose_config
from vgx.config import TrainConfig
from vgx.core import models
from vgx.core.data import load
from vgx.core.loop import train as train_stack
from vgx.core.loop import train_run
from vgx.core.objective import Loss
from vgx.core.recurrent import RecurrentArchitecture, RecurrentNetwork, initial_row
from vgx.core.time_probes import distance_grid, per_step_norms
from vgx.errors import ConfigError
from vgx.sweeps.job import run_experiment

SEQUENCE_TASK = ["dataset=adding", "dataset.n_samples=60", "dataset.length=8"]


def _config(*overrides: str) -> TrainConfig:
    return compose_config(["progress=false", "depth=1", "width=6", *overrides])[0]


def _network(cfg: TrainConfig) -> tuple[RecurrentNetwork, object]:
    splits = load(cfg.dataset)
    loss = Loss.of(cfg.loss, splits.n_classes)
    network, _ = models.build([cfg], splits, loss, torch.device("cpu"))
    return network, splits


def test_two_step_linear_rnn_matches_a_hand_computation():
    """h1 = W_x x1 + b, h2 = W_x x2 + W_h h1 + b, ŷ = w·h2 + c, ℓ = (ŷ − y)²: ∂ℓ/∂h2 = 2(ŷ − y)w
    and ∂ℓ/∂h1 = W_hᵀ ∂ℓ/∂h2, computed here by hand on numbers."""
    arch = RecurrentArchitecture("rnn", n_in=1, n_out=1, depth=1, width=2, activation="linear")
    w_x, w_h, b = [[1.0], [-1.0]], [[0.5, 0.2], [0.0, 2.0]], [0.1, 0.0]
    w_out, c = [[1.0, 3.0]], [0.5]
    row = torch.tensor([*sum(w_x, []), *sum(w_h, []), *w_out[0], *b, *c])
    network = RecurrentNetwork(arch, row.unsqueeze(0))
    x, y = torch.tensor([[[2.0], [1.0]]]), torch.tensor([1.0])
    h1 = [1 * 2 + 0.1, -1 * 2 + 0.0]  # [2.1, -2]
    h2 = [1 * 1 + 0.5 * h1[0] + 0.2 * h1[1] + 0.1, -1 + 2.0 * h1[1]]  # [1.75, -5]
    prediction = h2[0] + 3 * h2[1] + 0.5  # -12.75
    d2 = [2 * (prediction - y.item()) * 1.0, 2 * (prediction - y.item()) * 3.0]
    d1 = [0.5 * d2[0] + 0.0 * d2[1], 0.2 * d2[0] + 2.0 * d2[1]]  # W_hᵀ d2
    norms = per_step_norms(network, x, y, Loss.of(None, 0))
    assert network.forward(x).item() == pytest.approx(prediction)
    assert norms[0, 1].item() == pytest.approx(math.hypot(*d2))
    assert norms[0, 0].item() == pytest.approx(math.hypot(*d1))


def _torch_cell(model: str, network: RecurrentNetwork) -> nn.Module:
    """torch's own cell holding the network's weights (its hidden bias 0: vgx keeps one)."""
    w_x, w_h = network.weights()[:2]
    bias = network.parts()[3]
    n_in, width = network.arch.n_in, network.arch.width
    cell = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[model](n_in, width)
    with torch.no_grad():
        cell.weight_ih.copy_(w_x[0])
        cell.weight_hh.copy_(w_h[0])
        cell.bias_ih.copy_(bias[0])
        cell.bias_hh.zero_()
    return cell


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_delta_through_time_matches_autograd_on_torchs_own_cell(model):
    """The epoch-0 row's delta_norm/step_k against h_t.retain_grad() on torch's RNNCell,
    LSTMCell or GRUCell stepped by hand over the same weights and examples."""
    cfg = _config(f"model={model}", "activation=tanh", "epochs=1", *SEQUENCE_TASK)
    network, splits = _network(cfg)
    x, y = splits.x_train, splits.y_train
    cell = _torch_cell(model, network)
    w_out, b_out = network.weights()[2][0].detach(), network.parts()[-1][0].detach()
    h = torch.zeros(len(y), cfg.width)
    c = torch.zeros_like(h)
    states = []
    for t in range(x.shape[1]):
        if model == "lstm":
            h, c = cell(x[:, t], (h, c))
        else:
            h = cell(x[:, t], h)
        h.retain_grad()
        states.append(h)
    prediction = (h @ w_out.T + b_out).squeeze(-1)
    assert torch.allclose(prediction, network.forward(x)[0].squeeze(-1).detach(), atol=1e-5)
    ((prediction - y) ** 2).sum().backward()
    expected = [s.grad.norm(dim=1).square().mean().sqrt().item() for s in states]
    row = train_run(cfg).history[0]
    steps = x.shape[1]
    for k in distance_grid(steps):
        assert row[f"delta_norm/step_{k}"] == pytest.approx(expected[steps - 1 - k], rel=1e-4)
        assert row[f"delta_norm/t_{steps - k}"] == row[f"delta_norm/step_{k}"]


def test_torchs_lstm_kernel_gives_the_outputs_and_gradients_of_stepping_in_python():
    """Training's forward pass (torch's LSTM kernel, a run at a time) against the probe's (a
    step at a time, every run at once): two layers, three runs, their outputs and ∂J/∂params."""
    arch = RecurrentArchitecture("lstm", n_in=3, n_out=2, depth=2, width=5)
    cfgs = [_config("model=lstm", f"seed={s}") for s in range(3)]
    rows = torch.stack([initial_row(cfg, arch) for cfg in cfgs])
    x = torch.randn(3, 4, 7, 3, generator=torch.Generator().manual_seed(0))
    outputs, gradients = [], []
    for states in (None, []):  # None: the kernel; a list: stepping (it collects h_t)
        network = RecurrentNetwork(arch, rows)
        out = network.forward(x, states)
        out.square().sum().backward()
        outputs.append(out.detach())
        gradients.append(network.params.grad)
    assert RecurrentNetwork(arch, rows)._native is not None
    assert torch.allclose(outputs[0], outputs[1], atol=1e-6)
    assert torch.allclose(gradients[0], gradients[1], atol=1e-5)
    assert gradients[0].abs().sum() > 0


@pytest.mark.parametrize("model", ["rnn", "gru"])
def test_plain_and_gru_cells_step_in_python(model):
    arch = RecurrentArchitecture(model, n_in=1, n_out=1, depth=1, width=2)
    assert RecurrentNetwork(arch, torch.zeros(1, sum(arch.sizes())))._native is None


def test_the_distance_grid_is_log_spaced_and_ends_at_the_first_step():
    assert distance_grid(100) == [0, 1, 2, 4, 8, 16, 32, 64, 99]
    assert distance_grid(2) == [0, 1]
    assert distance_grid(9) == [0, 1, 2, 4, 8]


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("start", ["normal", "orthogonal", "identity", "init"])
def test_w_h_is_rescaled_to_the_spectral_radius_asked_for(model, start):
    cfg = _config(
        f"model={model}", f"model.recurrent_init={start}", "+model.spectral_radius=0.95",
        "width=12", *SEQUENCE_TASK,
    )  # fmt: skip
    arch = RecurrentArchitecture.of(cfg, 2, 0)
    w_h = initial_row(cfg, arch)[: sum(arch.sizes()[:2])][arch.sizes()[0] :]
    for block in w_h.view(arch.gates, 12, 12):
        radius = torch.linalg.eigvals(block.double()).abs().max().item()
        assert radius == pytest.approx(0.95, abs=1e-6)


def test_recurrent_inits_fill_w_h_as_named():
    arch = RecurrentArchitecture("rnn", n_in=2, n_out=1, depth=1, width=5)
    w_h = lambda cfg: initial_row(cfg, arch)[10:35].view(5, 5)  # noqa: E731
    assert torch.equal(w_h(_config("model=rnn", "model.recurrent_init=identity")), torch.eye(5))
    orthogonal = w_h(_config("model=rnn"))
    assert torch.allclose(orthogonal @ orthogonal.T, torch.eye(5), atol=1e-5)
    small = w_h(_config("model=rnn", "model.recurrent_init=normal", "init.std=0.001"))
    assert 0 < small.abs().max() < 0.005


@pytest.mark.parametrize("model", ["rnn", "lstm"])
def test_a_stacked_recurrent_run_gives_the_history_it_gives_alone(model):
    cfgs = [
        _config(f"model={model}", "activation=tanh", "epochs=3", f"seed={s}", *SEQUENCE_TASK)
        for s in (0, 1, 2)
    ]
    for stacked, alone in zip(train_stack(cfgs), [train_run(c) for c in cfgs], strict=True):
        assert stacked.history[-1].keys() == alone.history[-1].keys()
        for row_a, row_b in zip(stacked.history, alone.history, strict=True):
            for key, value in row_b.items():
                assert row_a[key] == pytest.approx(value, rel=1e-4, abs=1e-7), key


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["model=rnn", "dataset=moons"], "dataset"),
        (["model=lstm", "dataset=adding", "norm=batch"], "norm"),
        (["model=rnn", "dataset=adding", "residual=true"], "residual"),
        (["model=gru", "dataset=adding", "regularizer.dropout=0.2"], "regularizer.dropout"),
        (["model=rnn", "dataset=adding", "dataset.length=1"], "dataset.length"),
        (["model=rnn", "dataset=adding", "+model.spectral_radius=-1"], "model.spectral_radius"),
        (["model=rnn", "dataset=adding", "model.recurrent_init=zeros"], "model.recurrent_init"),
        (["dataset=adding", "loss=bce"], "loss"),
        (["dataset=moons", "loss=cross_entropy"], "loss"),
        (["dataset=digits", "loss=bce"], "loss"),
    ],
)
def test_a_recurrent_config_the_training_cannot_honour_is_refused_by_key(overrides, key):
    from vgx.config import validate

    with pytest.raises(ConfigError) as refused:
        validate(_config(*overrides))
    assert refused.value.key == key


def _series(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


# one case a model and a task in the default suite, the whole matrix in the slow one
FAST_CASES = {("rnn", "adding"), ("lstm", "temporal_order"), ("gru", "mnist1d"), ("mlp", "adding")}


@pytest.mark.parametrize(
    ("model", "task"),
    [
        pytest.param(m, t, marks=() if (m, t) in FAST_CASES else pytest.mark.slow, id=f"{m}-{t}")
        for m in ("rnn", "lstm", "gru", "mlp")
        for t in ("adding", "temporal_order", "mnist1d")
    ],
)
def test_every_model_on_every_task_is_recorded_in_mlflow(model, task, store_uri, tmp_path):
    samples = 200 if task == "mnist1d" else 60
    cfg, resolved = compose_config(
        ["progress=false", "epochs=2", f"model={model}", "activation=tanh", f"dataset={task}",
         f"dataset.n_samples={samples}", "dataset.length=12", "width=8",
         "depth=1" if model != "mlp" else "depth=3"]
    )  # fmt: skip
    outcome = run_experiment(cfg, resolved, tmp_path / "run", store_uri)
    client = MlflowClient(store_uri)
    run = client.get_run(outcome.run_id)
    metrics = set(run.data.metrics)
    score = "mse" if task == "adding" else "acc"
    assert {f"{score}/train", f"{score}/val", f"{score}/test", "loss/constant"} <= metrics
    assert not {"acc/train", "mse/train"} - {f"{score}/train"} & metrics  # one of the two
    if model == "mlp":
        assert _series(client, run.info.run_id, "grad_norm/layer_1") == [0, 1, 2]
        assert not any(k.startswith(("delta_norm/step", "spectral_radius")) for k in metrics)
        return
    for key in ("grad_norm/W_h", "grad_norm/W_x", "grad_norm/W_out", "spectral_radius/W_h",
                "singular_max/W_h", "delta_norm/step_0", "delta_norm/step_11"):  # fmt: skip
        assert _series(client, run.info.run_id, key) == [0, 1, 2], key
    # a feed-forward-only metric never appears on a recurrent run; the curve stays in history.csv
    assert not any(k.endswith("layer_1") or k.startswith(("saturation", "dead")) for k in metrics)
    assert not any(k.startswith("delta_norm/t_") for k in metrics)
    history = (tmp_path / "run" / "artifacts" / "history.csv").read_text().splitlines()
    assert "delta_norm/t_1" in history[0] and "delta_norm/t_12" in history[0]
    assert len(history) == 1 + 3
    assert run.data.params["model.name"] == model
    assert "norm" not in run.data.params and "residual" not in run.data.params
    if model != "rnn":
        assert "activation.name" not in run.data.params
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert figures == {
        "figures/loss_curves.png",
        "figures/delta_through_time.png",
        "figures/gradient_lines.png",
    }


def test_the_adding_tasks_constant_predictor_is_the_targets_variance():
    result = train_run(_config("model=rnn", "epochs=1", "dataset=adding", "dataset.n_samples=2000"))
    assert result.final["loss/constant"] == pytest.approx(1 / 6, rel=0.1)
    assert "acc/test" not in result.final and result.final["mse/test"] > 0
