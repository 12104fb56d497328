"""What a person reads when a run ends."""

from __future__ import annotations

from vgx.config import TrainConfig
from vgx.sweeps.job import RunOutcome


def gradient_ratio(row: dict[str, float], depth: int) -> float:
    """‖∂J/∂W₁‖ / ‖∂J/∂W_depth‖ of one epoch's row: how much of the gradient reaches layer 1."""
    top = row.get(f"grad_norm/layer_{depth}", float("nan"))
    return row.get("grad_norm/layer_1", float("nan")) / top if top else float("nan")


def summary(outcome: RunOutcome, cfg: TrainConfig) -> str:
    """What a person wants to read when the run ends."""
    result = outcome.result
    if result is None:
        return (
            f"vgx: {outcome.run_name}: a finished run with the same config_hash exists "
            f"({outcome.run_id}); reused, nothing trained (resume=false trains again)"
        )
    nan = float("nan")
    first = result.history[0] if result.history else {}
    last = result.history[-1] if result.history else {}
    diverged = result.diverged_epoch
    headline = f"vgx: {outcome.run_name} {result.status} after {len(result.history) - 1} of "
    headline += f"{cfg.epochs} epochs" + (
        f" (diverged at epoch {diverged})" if diverged is not None else ""
    )
    lines = [
        headline,
        f"  loss      train {last.get('loss/train', nan):.4f}   val {last.get('loss/val', nan):.4f}"
        f"   test {result.final['loss/test']:.4f}",
        f"  accuracy  train {last.get('acc/train', nan):.3f}   val {last.get('acc/val', nan):.3f}"
        f"   test {result.final['acc/test']:.3f}",
        "  first-layer weight change ‖W1(t)−W1(0)‖/‖W1(0)‖: "
        f"{last.get('weight_change/layer_1', nan):.4g}",
        f"  gradient norm layer 1 / layer {cfg.depth}:"
        f"   epoch 0 {gradient_ratio(first, cfg.depth):.3g}"
        f"   epoch {len(result.history) - 1} {gradient_ratio(last, cfg.depth):.3g}",
        f"  MLflow run {outcome.run_id} in experiment '{cfg.tracking.experiment}';"
        " open it with `vgx ui`",
    ]
    return "\n".join(lines)
