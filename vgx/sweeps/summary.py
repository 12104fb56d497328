"""What a person reads when a run ends: the lines printed on the terminal, and the run's
description in MLflow (the same numbers as Markdown, with a key to the metrics)."""

from __future__ import annotations

from vgx.config import RECURRENT_MODELS, TrainConfig
from vgx.results import RunOutcome, TrainResult, time_ratio

NAN = float("nan")

# What MLflow's UI shows under a run's Description: the metric families, in a line each.
METRIC_KEY = """**Metrics** (step = epoch; step 0 is the untrained net; every formula in
vgx's `docs/metrics.md`):

- `loss/*`, `acc/*`: data loss (nats) and accuracy on train / val every epoch, test at the end;
  `loss/constant` is the class prior's loss, the level of a net that learned nothing.
- `grad_norm/layer_i`: ‖∂J/∂W_i‖, layer 1 nearest the input. Vanishing gradients: layer 1 orders
  of magnitude below the last. The figure `figures/gradient_lines.png` puts every layer on one
  log axis (MLflow's own charts give each layer its own linear axis).
- `delta_norm/layer_i`: ‖∂J/∂b_i‖, the back-propagated error signal at layer i.
- `weight_change/layer_i`: ‖W_i(t) − W_i(0)‖ / ‖W_i(0)‖; `layer_1` is the first-layer change.
- `update_ratio/layer_i`, `weight_norm/layer_i`, `near_zero/layer_i`: one step's relative size,
  ‖W_i‖, the share of weights below 0.01 (L1's sparsity).
- `saturation/layer_i`: share of units with φ′ below 1% of its maximum; `dead/layer_i`: ReLU
  units that output 0 on every validation example. A sigmoid net can fail with saturation 0
  everywhere: σ′ ≤ 1/4 shrinks the error signal 4× a layer without saturating any unit.
"""


# The same key for a recurrent run (model=rnn, lstm, gru).
METRIC_KEY_THROUGH_TIME = """**Metrics** (step = epoch; step 0 is the untrained net; every formula
in vgx's `docs/metrics.md`):

- `loss/*` and `acc/*` (or `mse/*` on a regression task): data loss and accuracy (squared error)
  on train / val every epoch, test at the end; `loss/constant` is the constant predictor's loss.
- `delta_norm/step_k`: ‖∂ℓ/∂h_t‖ at k = T − t steps back from the read-out (k = 0 is the last
  step). Vanishing through time: step_{T−1} orders of magnitude below step_0. The whole curve
  over t is in `history.csv` and `figures/delta_through_time.png`.
- `grad_norm/W_x`, `grad_norm/W_h`, `grad_norm/W_out`: ‖∂J/∂W‖ of the input, recurrent and
  read-out weights (`…/layer_i` for stacked layers); `weight_change/W_*`: ‖W(t) − W(0)‖ / ‖W(0)‖.
- `spectral_radius/W_h`, `singular_max/W_h`: W_h's largest |eigenvalue| and largest singular
  value λ₁. With |φ′| ≤ γ, λ₁ < 1/γ makes the gradient vanish; λ₁ > 1/γ is needed to explode.
"""


def measure_lines(first: dict, last: dict, cfg: TrainConfig, end: int) -> list[str]:
    """The lines that say whether the gradient reached the input side: by layer, or through time."""
    if cfg.model.name in RECURRENT_MODELS:
        steps = cfg.dataset.length
        return [
            f"gradient through time ‖∂ℓ/∂h_1‖ / ‖∂ℓ/∂h_{steps}‖: epoch 0 "
            f"{time_ratio(first, steps):.3g}, epoch {end} {time_ratio(last, steps):.3g}",
            f"spectral radius of W_h: epoch 0 {first.get('spectral_radius/W_h', NAN):.3g}, "
            f"epoch {end} {last.get('spectral_radius/W_h', NAN):.3g}",
        ]
    return [
        "first-layer weight change ‖W₁(t) − W₁(0)‖ / ‖W₁(0)‖: "
        f"{last.get('weight_change/layer_1', NAN):.4g}",
        f"gradient norm layer 1 / layer {cfg.depth}: epoch 0 {gradient_ratio(first, cfg.depth):.3g}"
        f", epoch {end} {gradient_ratio(last, cfg.depth):.3g}",
    ]


def score_name(final: dict[str, float]) -> tuple[str, str]:
    """(metric family, label) of a run's second number: accuracy, or a regression's MSE."""
    return ("mse", "mse") if "mse/test" in final else ("acc", "accuracy")


def gradient_ratio(row: dict[str, float], depth: int) -> float:
    """‖∂J/∂W₁‖ / ‖∂J/∂W_depth‖ of one epoch's row: how much of the gradient reaches layer 1."""
    top = row.get(f"grad_norm/layer_{depth}", NAN)
    return row.get("grad_norm/layer_1", NAN) / top if top else NAN


def headline(name: str, result: TrainResult, cfg: TrainConfig) -> str:
    diverged = result.diverged_epoch
    text = f"{name} {result.status} after {len(result.history) - 1} of {cfg.epochs} epochs"
    return text + (f" (diverged at epoch {diverged})" if diverged is not None else "")


def summary(outcome: RunOutcome, cfg: TrainConfig) -> str:
    """What a person wants to read when the run ends."""
    result = outcome.result
    if result is None:
        return (
            f"vgx: {outcome.run_name}: a finished run with the same config_hash exists "
            f"({outcome.run_id}); reused, nothing trained (resume=false trains again)"
        )
    first = result.history[0] if result.history else {}
    last = result.history[-1] if result.history else {}
    score, label = score_name(result.final)
    end = len(result.history) - 1
    lines = [
        "vgx: " + headline(outcome.run_name, result, cfg),
        f"  loss      train {last.get('loss/train', NAN):.4f}   val {last.get('loss/val', NAN):.4f}"
        f"   test {result.final['loss/test']:.4f}"
        f"   (constant predictor {result.final.get('loss/constant', NAN):.4f})",
        f"  {label:<9} train {last.get(f'{score}/train', NAN):.3f}"
        f"   val {last.get(f'{score}/val', NAN):.3f}   test {result.final[f'{score}/test']:.3f}",
        *(f"  {line}" for line in measure_lines(first, last, cfg, end)),
        f"  MLflow run {outcome.run_id} in experiment '{cfg.tracking.experiment}';"
        " open it with `vgx ui`",
    ]
    return "\n".join(lines)


def description(name: str, result: TrainResult, cfg: TrainConfig, figures: bool = True) -> str:
    """The run's description in MLflow (Markdown): its summary and a key to the metrics."""
    first = result.history[0] if result.history else {}
    last = result.history[-1] if result.history else {}
    final = result.final
    end = len(result.history) - 1

    def cell(row: dict, key: str, fmt: str) -> str:
        value = row.get(key, NAN)
        return "–" if value != value else f"{value:{fmt}}"

    score, label = score_name(final)
    recurrent = cfg.model.name in RECURRENT_MODELS
    lines = [
        f"**{headline(name, result, cfg)}**",
        "",
        "| | train | val | test |",
        "|---|---|---|---|",
        f"| loss | {cell(last, 'loss/train', '.4f')} | {cell(last, 'loss/val', '.4f')} "
        f"| {cell(final, 'loss/test', '.4f')} |",
        f"| {label} | {cell(last, f'{score}/train', '.3f')} | {cell(last, f'{score}/val', '.3f')} "
        f"| {cell(final, f'{score}/test', '.3f')} |",
        "",
        f"- constant predictor's loss: {cell(final, 'loss/constant', '.4f')}",
        *(f"- {line}" for line in measure_lines(first, last, cfg, end)),
        "",
        METRIC_KEY_THROUGH_TIME if recurrent else METRIC_KEY,
    ]
    if not figures:
        lines.append(
            "This run's own figures were not drawn (a sweep's child): `vgx report --run "
            "RUN_ID` draws them into its artifacts; the sweep's report compares every run."
        )
    return "\n".join(lines)
