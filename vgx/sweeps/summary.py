"""What a person reads when a run ends."""

from __future__ import annotations

from vgx.config import TrainConfig
from vgx.sweeps.job import RunOutcome


def summary(outcome: RunOutcome, cfg: TrainConfig) -> str:
    """What a person wants to read when the run ends."""
    result = outcome.result
    if result is None:
        return (
            f"vgx: {outcome.run_name}: a finished run with the same config_hash exists "
            f"({outcome.run_id}); reused, nothing trained (resume=false trains again)"
        )
    nan = float("nan")
    last = result.history[-1] if result.history else {}
    top = last.get(f"grad_norm/layer_{cfg.depth}", nan)
    ratio = last.get("grad_norm/layer_1", nan) / top if top else nan
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
        f"  gradient norm layer 1 / layer {cfg.depth}: {ratio:.3g}",
        f"  MLflow run {outcome.run_id} in experiment '{cfg.tracking.experiment}';"
        " open it with `vgx ui`",
    ]
    return "\n".join(lines)
