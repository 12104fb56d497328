import pytest
import torch

from vgx.config import ClipConfig, OptimizerConfig, RegularizerConfig
from vgx.objective import penalty
from vgx.optim import build_optimizer, clip_gradients

W = [torch.tensor([[1.0, -2.0], [3.0, 0.0]]), torch.tensor([[-1.0, 1.0]])]
SQUARES = 1 + 4 + 9 + 0 + 1 + 1  # Σ‖W‖²_F = 16
ABSOLUTES = 1 + 2 + 3 + 0 + 1 + 1  # Σ‖W‖₁ = 8


def test_l2_penalty_is_lambda_over_2m_times_squared_frobenius():
    value = penalty(W, RegularizerConfig(kind="l2", lam=0.5), m=10)
    assert float(value) == pytest.approx(0.5 / 20 * SQUARES)


def test_l1_penalty_is_lambda_over_2m_times_absolute_sum():
    value = penalty(W, RegularizerConfig(kind="l1", lam=0.5), m=10)
    assert float(value) == pytest.approx(0.5 / 20 * ABSOLUTES)


def test_elastic_mixes_l1_and_l2():
    value = penalty(W, RegularizerConfig(kind="elastic", lam=1.0, l1_ratio=0.25), m=4)
    assert float(value) == pytest.approx(1 / 8 * (0.25 * ABSOLUTES + 0.75 * SQUARES))


def test_no_penalty_when_lambda_is_zero_or_kind_none():
    assert float(penalty(W, RegularizerConfig(kind="l2", lam=0.0), m=4)) == 0
    assert float(penalty(W, RegularizerConfig(kind="none", lam=3.0), m=4)) == 0


def test_l2_gradient_is_lambda_over_m_times_w():
    w = W[0].clone().requires_grad_(True)
    penalty([w], RegularizerConfig(kind="l2", lam=2.0), m=8).backward()
    assert torch.allclose(w.grad, 2.0 / 8 * W[0])


def _param_with_grad(grad: list[float]) -> torch.Tensor:
    p = torch.zeros(len(grad), requires_grad=True)
    p.grad = torch.tensor(grad)
    return p


def test_clip_by_value_clamps_each_entry():
    p = _param_with_grad([3.0, -0.2, -5.0])
    clip_gradients([p], ClipConfig(kind="value", threshold=1.0))
    assert p.grad.tolist() == pytest.approx([1.0, -0.2, -1.0])


def test_clip_by_norm_rescales_the_whole_gradient():
    p, q = _param_with_grad([3.0, 0.0]), _param_with_grad([4.0])  # total norm 5
    clip_gradients([p, q], ClipConfig(kind="norm", threshold=1.0))
    assert p.grad.tolist() == pytest.approx([0.6, 0.0], rel=1e-5)
    assert q.grad.tolist() == pytest.approx([0.8], rel=1e-5)


def test_clip_none_leaves_the_gradient():
    p = _param_with_grad([30.0])
    clip_gradients([p], ClipConfig(kind="none"))
    assert p.grad.tolist() == [30.0]


def test_sign_update_moves_every_weight_by_lr():
    p = _param_with_grad([1e-9, -4.0, 0.0])
    optimizer = build_optimizer([p], OptimizerConfig(name="sign", lr=0.1))
    optimizer.step()
    assert p.detach().tolist() == pytest.approx([-0.1, 0.1, 0.0])


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "sign", "rprop"])
def test_every_optimizer_lowers_a_quadratic(name):
    p = torch.tensor([2.0, -3.0], requires_grad=True)
    optimizer = build_optimizer([p], OptimizerConfig(name=name, lr=0.05))
    start = float((p**2).sum())
    for _ in range(20):
        optimizer.zero_grad()
        (p**2).sum().backward()
        optimizer.step()
    assert float((p**2).sum()) < start
