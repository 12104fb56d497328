import pytest
import torch

from vgx.config import RegularizerConfig
from vgx.core.objective import penalty
from vgx.core.optim import StackedOptimizer, clip

# two layers' weights of one run, as a flat row [K = 1, entries]
W = torch.tensor([[1.0, -2.0, 3.0, 0.0, -1.0, 1.0]])
LAM = torch.tensor([0.5])
SQUARES = 1 + 4 + 9 + 0 + 1 + 1  # Σ‖W‖²_F = 16
ABSOLUTES = 1 + 2 + 3 + 0 + 1 + 1  # Σ‖W‖₁ = 8


def test_l2_penalty_is_lambda_over_2m_times_squared_frobenius():
    value = penalty(W, RegularizerConfig(kind="l2", lam=0.5), 10, LAM)
    assert float(value) == pytest.approx(0.5 / 20 * SQUARES)


def test_l1_penalty_is_lambda_over_2m_times_absolute_sum():
    value = penalty(W, RegularizerConfig(kind="l1", lam=0.5), 10, LAM)
    assert float(value) == pytest.approx(0.5 / 20 * ABSOLUTES)


def test_elastic_mixes_l1_and_l2():
    value = penalty(W, RegularizerConfig(kind="elastic", l1_ratio=0.25), 4, torch.tensor([1.0]))
    assert float(value) == pytest.approx(1 / 8 * (0.25 * ABSOLUTES + 0.75 * SQUARES))


def test_no_penalty_when_lambda_is_zero_or_kind_none():
    assert float(penalty(W, RegularizerConfig(kind="l2"), 4, torch.tensor([0.0]))) == 0
    assert float(penalty(W, RegularizerConfig(kind="none"), 4, torch.tensor([3.0]))) == 0


def test_each_run_of_a_stack_has_its_own_lambda():
    rows = torch.cat([W, 2 * W])
    value = penalty(rows, RegularizerConfig(kind="l2"), 10, torch.tensor([0.5, 1.0]))
    assert value.tolist() == pytest.approx([0.5 / 20 * SQUARES, 1.0 / 20 * 4 * SQUARES])


def test_l2_gradient_is_lambda_over_m_times_w():
    w = W.clone().requires_grad_(True)
    penalty(w, RegularizerConfig(kind="l2"), 8, torch.tensor([2.0])).backward()
    assert torch.allclose(w.grad, 2.0 / 8 * W)


def test_clip_by_value_clamps_each_entry_with_each_runs_threshold():
    g = torch.tensor([[3.0, -0.2, -5.0], [3.0, -0.2, -5.0]])
    clip(g, "value", torch.tensor([1.0, 4.0]))
    assert g.tolist() == [pytest.approx([1.0, -0.2, -1.0]), pytest.approx([3.0, -0.2, -4.0])]


def test_clip_by_norm_rescales_each_runs_whole_gradient():
    g = torch.tensor([[3.0, 0.0, 4.0], [0.3, 0.0, 0.4]])  # norms 5 and 0.5
    clip(g, "norm", torch.tensor([1.0, 1.0]))
    assert g[0].tolist() == pytest.approx([0.6, 0.0, 0.8], rel=1e-5)
    assert g[1].tolist() == pytest.approx([0.3, 0.0, 0.4])


def test_clip_none_leaves_the_gradient():
    g = torch.tensor([[30.0]])
    clip(g, "none", torch.tensor([1.0]))
    assert g.tolist() == [[30.0]]


def test_sign_update_moves_every_weight_by_lr():
    p, g = torch.zeros(1, 3), torch.tensor([[1e-9, -4.0, 0.0]])
    StackedOptimizer("sign", torch.tensor([0.1])).step(p, g)
    assert p[0].tolist() == pytest.approx([-0.1, 0.1, 0.0])


TORCH_OPTIMIZERS = {
    "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
    "adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
    "rmsprop": lambda p, lr: torch.optim.RMSprop(p, lr=lr, momentum=0.5),
    "rprop": lambda p, lr: torch.optim.Rprop(p, lr=lr),
}
MOMENTUM = {"sgd": 0.9, "rmsprop": 0.5, "adam": 0.0, "rprop": 0.0}


@pytest.mark.parametrize("name", list(TORCH_OPTIMIZERS))
def test_each_update_rule_follows_torch_optim_for_every_run(name):
    """Two runs with their own learning rates against torch.optim on each alone."""
    torch.manual_seed(0)
    target = torch.randn(2, 5)
    start = torch.randn(2, 5)
    lrs = [0.05, 0.01]
    stacked = start.clone()
    rule = StackedOptimizer(name, torch.tensor(lrs), MOMENTUM[name])
    alone = [start[j].clone().requires_grad_(True) for j in range(2)]
    optimizers = [TORCH_OPTIMIZERS[name]([alone[j]], lrs[j]) for j in range(2)]
    for _ in range(15):
        rule.step(stacked, 2 * (stacked - target) + torch.sin(3 * stacked))
        for j in range(2):
            optimizers[j].zero_grad()
            p = alone[j]
            ((p - target[j]).pow(2).sum() - torch.cos(3 * p).sum() / 3).backward()
            optimizers[j].step()
    for j in range(2):
        assert stacked[j].tolist() == pytest.approx(alone[j].tolist(), rel=1e-5, abs=1e-6)


def test_squared_error_on_a_sigmoid_output_has_the_hand_computed_gradient():
    """ℓ = (σ(z) − y)²: ∂ℓ/∂z = 2(σ(z) − y)·σ(z)(1 − σ(z)); cross-entropy's is σ(z) − y. At a
    saturated wrong prediction (z = −10, y = 1) the first is ~1e-4 of the second."""
    from vgx.core.objective import Loss, example_losses

    z = torch.tensor([[[-10.0], [0.5], [3.0]]], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 1.0])
    example_losses(z, y, Loss.of("mse", 2)).sum().backward()
    s = torch.sigmoid(z.detach()).flatten()
    assert torch.allclose(z.grad.flatten(), 2 * (s - y) * s * (1 - s), rtol=1e-5)
    z.grad = None
    example_losses(z, y, Loss.of("bce", 2)).sum().backward()
    assert torch.allclose(z.grad.flatten(), s - y, rtol=1e-5)
    ratio = 2 * s[0] * (1 - s[0])  # squared error's over cross-entropy's at the wrong one
    assert ratio < 1e-4


def test_squared_error_over_classes_and_for_regression():
    from vgx.core.objective import Loss, constant_loss, example_losses

    logits = torch.tensor([[[2.0, 0.0, -1.0]]])
    p = torch.softmax(logits, -1)[0, 0]
    expected = ((p - torch.tensor([0.0, 1.0, 0.0])) ** 2).mean()
    assert example_losses(logits, torch.tensor([1]), Loss.of("mse", 3)).item() == pytest.approx(
        expected.item()
    )
    out = torch.tensor([[[1.5], [0.2]]])
    assert example_losses(out, torch.tensor([1.0, 0.7]), Loss.of(None, 0)).tolist()[0] == [
        pytest.approx(0.25),
        pytest.approx(0.25),
    ]
    assert constant_loss(torch.tensor([0.0, 1.0, 2.0]), 0) == pytest.approx(2 / 3)
    assert constant_loss(torch.tensor([0, 0, 0, 1]), 2, "mse") == pytest.approx(0.25 * 0.75)
    assert constant_loss(torch.tensor([0, 1, 2]), 3, "mse") == pytest.approx((1 - 1 / 3) / 3)
