"""Update rules and gradient clipping on the flat parameter rows [K, P] of a stack, each run with
its own learning rate and clip threshold.

The formulas are torch.optim's (SGD, Adam, RMSprop, Rprop with their default constants), written
once for a whole stack: every rule is element-wise, so a [K, 1] learning rate broadcasts over a
run's row, and one call updates every parameter of every run.
"""

from __future__ import annotations

import math

import torch

ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults
RMSPROP_ALPHA, RMSPROP_EPS = 0.99, 1e-8  # torch.optim.RMSprop's defaults
RPROP_ETAS, RPROP_STEP_SIZES = (0.5, 1.2), (1e-6, 50.0)  # torch.optim.Rprop's defaults
CLIP_NORM_EPS = 1e-6  # as torch.nn.utils.clip_grad_norm_


class StackedOptimizer:
    """gd (plain gradient descent), sgd (with momentum), adam, rmsprop (with momentum), sign
    (seed 004's Δw = −lr·sign(g): every weight moves by lr, however small its gradient) and
    rprop, on [K, P] rows."""

    def __init__(self, name: str, lr: torch.Tensor, momentum: float = 0.0) -> None:
        self.name, self.momentum = name, momentum
        self.lr = lr.view(-1, 1)  # [K, 1]: a run's rate over its whole row
        self.state: dict[str, torch.Tensor] = {}
        self.steps = 0

    def forget(self, run: int) -> None:
        """Clear one run's state (a diverged run, frozen for the rest of the training)."""
        for t in self.state.values():
            t[run] = 0.0

    @torch.no_grad()
    def step(self, p: torch.Tensor, g: torch.Tensor) -> None:
        self.steps += 1
        lr, state = self.lr, self.state
        if self.name == "sign":
            p.sub_(lr * torch.sign(g))
        elif self.name in ("gd", "sgd"):
            if self.momentum:
                buf = state.get("buf")
                buf = g.clone() if buf is None else buf.mul_(self.momentum).add_(g)
                state["buf"], g = buf, buf
            p.sub_(lr * g)
        elif self.name == "adam":
            m = state.setdefault("m", torch.zeros_like(p))
            v = state.setdefault("v", torch.zeros_like(p))
            m.lerp_(g, 1 - ADAM_BETAS[0])
            v.mul_(ADAM_BETAS[1]).addcmul_(g, g, value=1 - ADAM_BETAS[1])
            bias1 = 1 - ADAM_BETAS[0] ** self.steps
            bias2_sqrt = math.sqrt(1 - ADAM_BETAS[1] ** self.steps)
            denom = (v.sqrt() / bias2_sqrt).add_(ADAM_EPS)
            p.sub_((lr / bias1) * m / denom)
        elif self.name == "rmsprop":
            square = state.setdefault("square", torch.zeros_like(p))
            square.mul_(RMSPROP_ALPHA).addcmul_(g, g, value=1 - RMSPROP_ALPHA)
            avg = square.sqrt().add_(RMSPROP_EPS)
            if self.momentum:
                buf = state.setdefault("buf", torch.zeros_like(p))
                buf.mul_(self.momentum).addcdiv_(g, avg)
                p.sub_(lr * buf)
            else:
                p.sub_(lr * g / avg)
        else:  # rprop: a step size per weight, grown while the gradient keeps its sign
            previous = state.setdefault("previous", torch.zeros_like(p))
            size = state.setdefault("size", lr.expand_as(p).clone())
            agreement = (g * previous).sign()
            factor = torch.where(
                agreement > 0,
                RPROP_ETAS[1],
                torch.where(agreement < 0, RPROP_ETAS[0], 1.0),
            )
            size.mul_(factor).clamp_(*RPROP_STEP_SIZES)
            g = torch.where(agreement < 0, 0.0, g)
            p.addcmul_(g.sign(), size, value=-1)
            previous.copy_(g)


@torch.no_grad()
def clip(g: torch.Tensor, kind: str, threshold: torch.Tensor) -> None:
    """Per run: clamp each entry to ±threshold (value, seed 004), or rescale the run's whole
    gradient to total L2 norm ≤ threshold (norm). g [K, P], threshold [K]."""
    t = threshold.view(-1, 1)
    if kind == "value":
        torch.maximum(torch.minimum(g, t), -t, out=g)
    elif kind == "norm":
        total = torch.linalg.vector_norm(g, dim=1, keepdim=True)
        g.mul_((t / (total + CLIP_NORM_EPS)).clamp(max=1.0))
