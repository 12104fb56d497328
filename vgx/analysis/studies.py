"""The source texts' comparisons as studies: a sweep (conf/study/NAME.yaml) and a verdict computed
here from the recorded metrics. Every threshold sits next to the judge that uses it; the README
explains them. A claim may come out "does not hold": that is reported with its numbers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vgx.analysis.runs import Runs

HOLDS, FAILS, MIXED = "holds", "does not hold", "mixed"


@dataclass
class Verdict:
    outcome: str  # holds, does not hold, mixed
    measured: str  # the numbers behind it, in words
    rows: pd.DataFrame  # one row per setting: medians and spreads over seeds


@dataclass
class Study:
    name: str
    claim: str
    source: str
    judge: Callable[[pd.DataFrame], Verdict]
    figure: Callable[[pd.DataFrame, object], object] | None = None  # (measurements, folder)


def _bars(
    frame: pd.DataFrame, keys: list[str], column: str
) -> dict[str, tuple[float, float, float]]:
    """{setting: (median, min, max)} of `column` over seeds."""
    out = {}
    for setting, group in frame.groupby(keys, sort=True):
        setting = setting if isinstance(setting, tuple) else (setting,)
        name = ", ".join(str(v) for v in setting)
        out[name] = (group[column].median(), group[column].min(), group[column].max())
    return out


def figure_depth_activation(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import bar_chart
    from vgx.analysis.theory import predict, weight_variance

    frame = _factors(frame)
    theory = {}
    for activation, group in frame.groupby("activation"):
        sigma_w2 = weight_variance(group.init.iloc[0], 32, 1, 0.05, 1)
        theory[activation] = predict(activation, sigma_w2).factor
    return bar_chart(
        _bars(frame, ["activation"], "factor"),
        "Per-layer factor of the back-propagated gradient at initialisation",
        "‖δ_i‖ / ‖δ_(i+1)‖ (1 = level)",
        folder / "factor_vs_theory.png",
        reference=theory,
        reference_label="mean-field theory √χ₁",
    )


def _curves(frame: pd.DataFrame, keys: list[str], column: str) -> dict[str, list[list[float]]]:
    out = {}
    for setting, group in frame.groupby(keys, sort=True):
        setting = setting if isinstance(setting, tuple) else (setting,)
        out[", ".join(str(v) for v in setting)] = group[column].tolist()
    return out


def figure_sigmoid_vs_relu(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import median_curves

    # the values start at 0 (epoch 0): the log scale starts from epoch 1
    frame = frame.assign(
        weight_change_curve=frame.weight_change_curve.apply(lambda c: [math.nan] + c[1:])
    )
    return median_curves(
        _curves(frame, ["optimizer", "activation"], "weight_change_curve"),
        "First-layer weight change, 9-layer net on moons (optimizer, activation)",
        "‖W₁(t) − W₁(0)‖ / ‖W₁(0)‖ (log scale)",
        folder / "first_layer_change_by_setting.png",
    )


def figure_exploding_clip(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import median_curves

    return median_curves(
        _curves(frame, ["clip"], "loss_curve"),
        "Training loss of a 12-layer ReLU net with N(0,1) weights, by clipping",
        "training loss (log scale; a line that stops has diverged)",
        folder / "loss_by_clipping.png",
    )


def figure_dying_relu(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import bar_chart

    return bar_chart(
        _bars(frame, ["activation", "bias"], "dead_end"),
        "Dead hidden units after training (activation, initial bias)",
        "share of units outputting 0 on every validation example",
        folder / "dead_units.png",
    )


def figure_init(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import bar_chart

    frame = frame.assign(layer_spread=frame.grad_norms_0.apply(_level))
    return bar_chart(
        _bars(frame, ["activation", "init"], "layer_spread"),
        "Spread of per-layer gradient norms at initialisation",
        "max / min of ‖∂J/∂W_i‖ over layers (log scale; 1 = level)",
        folder / "layer_spread.png",
        log=True,
    )


def figure_l1_sparsity(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    from vgx.analysis.figures import bar_chart

    return bar_chart(
        _bars(frame, ["regularizer"], "near_zero_end"),
        "Weights near zero after training, by penalty",
        "share of weights with |w| < 0.01",
        folder / "near_zero_weights.png",
    )


def _param(run: pd.Series, key: str, default: str = "") -> str:
    value = run.get(f"params.{key}")
    return default if value is None or (isinstance(value, float) and math.isnan(value)) else value


def measurements(runs: Runs) -> pd.DataFrame:
    """One row per run: its settings and the numbers the judges read, from its history."""
    rows = []
    for _, run in runs.table.iterrows():
        history = runs.histories.get(run["run_id"])
        if history is None or history.empty:
            continue
        depth = int(_param(run, "depth", "0"))
        first, last = history.iloc[0], history.iloc[-1]
        hidden = range(1, depth)
        row = {
            "activation": _param(run, "activation.name"),
            "init": _param(run, "init.name"),
            "bias": float(_param(run, "init.bias", "0")),
            "depth": depth,
            "optimizer": _param(run, "optimizer.name"),
            "lr": float(_param(run, "optimizer.lr", "nan")),
            "clip": _param(run, "clip.kind"),
            "norm": _param(run, "norm"),
            "residual": _param(run, "residual"),
            "regularizer": _param(run, "regularizer.kind"),
            "lam": float(_param(run, "regularizer.lam", "0")),
            "dropout": float(_param(run, "regularizer.dropout", "0")),
            "seed": int(_param(run, "seed", "0")),
            "status": run.get("tags.status"),
            "epochs_run": len(history) - 1,
            "loss_start": first["loss/train"],
            "loss_end": last["loss/train"],
            "val_loss_end": last["loss/val"],
            "train_error": 1 - last["acc/train"],
            "val_error": 1 - last["acc/val"],
            "first_layer_weight_change": last["weight_change/layer_1"],
        }
        row["loss_drop"] = (row["loss_start"] - row["loss_end"]) / row["loss_start"]
        row["grad_norms_0"] = [first[f"grad_norm/layer_{i}"] for i in range(1, depth + 1)]
        row["weight_change_curve"] = history["weight_change/layer_1"].tolist()
        row["loss_curve"] = history["loss/train"].tolist()
        row["deltas_0"] = [first[f"delta_norm/layer_{i}"] for i in range(1, depth + 1)]
        row["dead_end"] = (
            float(np.mean([last[f"dead/layer_{i}"] for i in hidden])) if depth > 1 else 0.0
        )
        row["saturation_0"] = (
            float(np.mean([first[f"saturation/layer_{i}"] for i in hidden])) if depth > 1 else 0.0
        )
        row["saturation_end"] = (
            float(np.mean([last[f"saturation/layer_{i}"] for i in hidden])) if depth > 1 else 0.0
        )
        if "weight_norm/layer_1" in history:
            row["weight_norm_end"] = float(
                np.sqrt(sum(last[f"weight_norm/layer_{i}"] ** 2 for i in range(1, depth + 1)))
            )
            row["near_zero_end"] = float(
                np.mean([last[f"near_zero/layer_{i}"] for i in range(1, depth + 1)])
            )
        rows.append(row)
    return pd.DataFrame(rows)


def per_layer_factor(deltas: list[float]) -> float:
    """Geometric mean of ‖δ_i‖/‖δ_{i+1}‖ over consecutive hidden layers (the output layer left out:
    it has one unit and no activation); NaN when there are fewer than two hidden layers."""
    hidden = [d for d in deltas[:-1]]
    ratios = [a / b for a, b in zip(hidden[:-1], hidden[1:], strict=True) if a > 0 and b > 0]
    return float(np.exp(np.mean(np.log(ratios)))) if ratios else float("nan")


def spread(values: pd.Series, fmt: str = ".3g") -> str:
    """median [min–max] over seeds."""
    return f"{values.median():{fmt}} [{values.min():{fmt}}–{values.max():{fmt}}]"


def combine(parts: dict[str, bool]) -> str:
    if all(parts.values()):
        return HOLDS
    if not any(parts.values()):
        return FAILS
    return MIXED


def _settings_table(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    rows = []
    for setting, group in frame.groupby(keys, sort=True):
        setting = setting if isinstance(setting, tuple) else (setting,)
        row = dict(zip(keys, setting, strict=True))
        row["seeds"] = len(group)
        for column in columns:
            row[column] = spread(group[column])
        rows.append(row)
    return pd.DataFrame(rows)


# --- sigmoid_vs_relu (seed 002) -----------------------------------------------------------------
FLAT_LOSS = 0.05  # "nearly flat": the training loss falls by less than 5% of its start
FALLING_LOSS = 0.5  # "the loss falls": by more than half
STILL_WEIGHTS = 0.01  # "barely change": ‖W₁(T) − W₁(0)‖ below 1% of ‖W₁(0)‖


def judge_sigmoid_vs_relu(frame: pd.DataFrame) -> Verdict:
    parts, words = {}, []
    for optimizer, group in frame.groupby("optimizer"):
        sigmoid = group[group.activation == "sigmoid"]
        relu = group[group.activation == "relu"]
        flat = bool((sigmoid.loss_drop < FLAT_LOSS).all())
        still = bool((sigmoid.first_layer_weight_change < STILL_WEIGHTS).all())
        falls = bool((relu.loss_drop > FALLING_LOSS).all())
        parts[optimizer] = flat and still and falls
        words.append(
            f"{optimizer}: sigmoid loss drop {spread(sigmoid.loss_drop)}, first-layer change "
            f"{spread(sigmoid.first_layer_weight_change)}; ReLU loss drop {spread(relu.loss_drop)}"
            f" ({HOLDS if parts[optimizer] else FAILS}"
            + ("" if still else ": the sigmoid net's first layer moved")
            + ")"
        )
    rows = _settings_table(
        frame, ["optimizer", "activation"], ["loss_drop", "first_layer_weight_change", "val_error"]
    )
    return Verdict(combine(parts), "; ".join(words), rows)


# --- depth_activation (seeds 001/003/004) -------------------------------------------------------
VANISHING_FACTOR = 0.5  # sigmoid: the error signal loses at least half its norm per layer
LEVEL_FACTOR = 0.8  # ReLU family: "does not shrink" = keeps ≥ 80% of its norm per layer


def _factors(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[frame.depth >= 4].copy()  # two hidden-to-hidden steps at least
    frame["factor"] = frame.deltas_0.apply(per_layer_factor)
    frame["layer1_gradient"] = frame.grad_norms_0.apply(lambda g: g[0])
    return frame


def judge_depth_activation(frame: pd.DataFrame) -> Verdict:
    from vgx.analysis.theory import predict, weight_variance

    frame = _factors(frame)
    factor = frame.groupby("activation").factor.apply(lambda f: float(np.exp(np.log(f).mean())))
    slope = {}
    for activation, group in frame.groupby("activation"):
        fit = np.polyfit(group.depth, np.log10(group.layer1_gradient), 1)
        slope[activation] = fit[0]
    parts = {
        "sigmoid vanishes": factor.get("sigmoid", 1) < VANISHING_FACTOR,
        "tanh less": factor.get("sigmoid", 1) < factor.get("tanh", 0),
        "ReLU family level": all(factor.get(a, 0) >= LEVEL_FACTOR for a in ("relu", "leaky_relu")),
    }
    rows = _settings_table(frame, ["activation", "depth"], ["factor", "layer1_gradient"])
    width = 32
    theory = {}
    for activation in factor.index:
        init = frame[frame.activation == activation].init.iloc[0]
        theory[activation] = predict(activation, weight_variance(init, width, 1, 0.05, 1)).factor
    rows["theory_factor"] = rows.activation.map(lambda a: f"{theory[a]:.3g}")
    words = [
        f"{a}: measured per-layer factor {factor[a]:.3g} (theory √χ₁ {theory[a]:.3g}), "
        f"log10 ‖∂J/∂W₁‖ falls {-slope[a]:.3g} per added layer"
        for a in factor.index
    ]
    failed = [k for k, ok in parts.items() if not ok]
    words.append("not met: " + ", ".join(failed) if failed else "all three parts met")
    return Verdict(combine(parts), "; ".join(words), rows)


# --- init (seeds 001/002) -----------------------------------------------------------------------
SATURATED = 0.5  # "saturates": more than half of the unit × example pairs have φ′ < 1% of its max
BLOWS_UP = 100  # "blows up": ‖∂J/∂W₁‖ at epoch 0 over 100× that of the same net under He init
LEVEL_SPREAD = 10  # "level": the largest and smallest per-layer gradient norms within 10×


def _level(norms: list[float]) -> float:
    return max(norms) / min(norms) if min(norms) > 0 else math.inf


def judge_init(frame: pd.DataFrame) -> Verdict:
    frame = frame.copy()
    frame["layer_spread"] = frame.grad_norms_0.apply(_level)
    frame["layer1_gradient"] = frame.grad_norms_0.apply(lambda g: g[0])
    med = frame.groupby(["activation", "init"]).median(numeric_only=True)

    def value(activation: str, init: str, column: str) -> float:
        return (
            float(med.loc[(activation, init), column])
            if (activation, init) in med.index
            else math.nan
        )

    parts = {
        "N(0,1) saturates sigmoid": value("sigmoid", "normal", "saturation_0") > SATURATED,
        "N(0,1) saturates tanh": value("tanh", "normal", "saturation_0") > SATURATED,
        "N(0,1) blows up ReLU": value("relu", "normal", "layer1_gradient")
        > BLOWS_UP * value("relu", "he_normal", "layer1_gradient"),
        "Xavier keeps tanh level": value("tanh", "xavier_normal", "layer_spread") < LEVEL_SPREAD,
        "Xavier keeps sigmoid level": value("sigmoid", "xavier_normal", "layer_spread")
        < LEVEL_SPREAD,
        "He keeps ReLU level": value("relu", "he_normal", "layer_spread") < LEVEL_SPREAD,
    }
    rows = _settings_table(
        frame, ["activation", "init"], ["saturation_0", "layer_spread", "layer1_gradient"]
    )
    words = [f"{k}: {'yes' if ok else 'no'}" for k, ok in parts.items()]
    return Verdict(combine(parts), "; ".join(words), rows)


# --- exploding_clip (seeds 003/004) -------------------------------------------------------------
def judge_exploding_clip(frame: pd.DataFrame) -> Verdict:
    none = frame[frame["clip"] == "none"]
    clipped = frame[frame["clip"] != "none"]
    parts = {"unclipped explodes": bool((none.status == "diverged").all())}
    for kind, group in clipped.groupby("clip"):
        parts[f"clip by {kind} stable"] = bool((group.status == "finished").all())
    rows = _settings_table(frame, ["clip"], ["epochs_run", "loss_end", "val_error"])
    rows["diverged"] = rows["clip"].map(
        lambda c: (
            f"{int((frame[frame['clip'] == c].status == 'diverged').sum())} of "
            f"{int((frame['clip'] == c).sum())}"
        )
    )
    words = [
        f"clip={c}: {r.diverged} runs diverged, final loss {r.loss_end}"
        for c, r in zip(rows["clip"], rows.itertuples(), strict=True)
    ]
    return Verdict(combine(parts), "; ".join(words), rows)


# --- dying_relu (seed 001) ----------------------------------------------------------------------
MOSTLY_DEAD = 0.5  # "kills ReLU units": over half the hidden units dead at the end


def judge_dying_relu(frame: pd.DataFrame) -> Verdict:
    worst_bias = frame.bias.min()
    relu = frame[(frame.activation == "relu") & (frame.bias == worst_bias)]
    leaky = frame[(frame.activation == "leaky_relu") & (frame.bias == worst_bias)]
    parts = {
        f"ReLU with bias {worst_bias:g} mostly dead": bool((relu.dead_end > MOSTLY_DEAD).all()),
        "leaky ReLU alive": bool((leaky.dead_end == 0).all()),
    }
    rows = _settings_table(frame, ["activation", "bias"], ["dead_end", "val_error"])
    words = [
        f"ReLU, bias {worst_bias:g}: dead share {spread(relu.dead_end)}; leaky ReLU: "
        f"{spread(leaky.dead_end)}; validation error {spread(relu.val_error)} vs "
        f"{spread(leaky.val_error)}"
    ]
    return Verdict(combine(parts), "; ".join(words), rows)


# --- batchnorm, residual, sign_updates: a fix lets the deep sigmoid net train -------------------
def _fix_trains(frame: pd.DataFrame, key: str, off: str, label: str) -> Verdict:
    parts, words = {}, []
    for activation, group in frame.groupby("activation"):
        without = group[group[key].astype(str) == off]
        with_fix = group[group[key].astype(str) != off]
        parts[f"{activation} without stalls"] = bool((without.loss_drop < FLAT_LOSS).all())
        parts[f"{activation} with {label} trains"] = bool((with_fix.loss_drop > FALLING_LOSS).all())
        words.append(
            f"{activation}: loss drop without {spread(without.loss_drop)}, with {label} "
            f"{spread(with_fix.loss_drop)}; validation error {spread(without.val_error)} → "
            f"{spread(with_fix.val_error)}"
        )
    rows = _settings_table(frame, ["activation", key], ["loss_drop", "val_error"])
    return Verdict(combine(parts), "; ".join(words), rows)


def judge_batchnorm(frame: pd.DataFrame) -> Verdict:
    return _fix_trains(frame, "norm", "none", "batch norm")


def judge_residual(frame: pd.DataFrame) -> Verdict:
    return _fix_trains(frame, "residual", "False", "skip connections")


def judge_sign_updates(frame: pd.DataFrame) -> Verdict:
    frame = frame.assign(update=frame.optimizer)
    return _fix_trains(frame.assign(activation="sigmoid"), "update", "sgd", "sign updates")


# --- lambda_bias_variance (seed 003) ------------------------------------------------------------
# Steps smaller than this share of the largest value count as level (weights that collapsed to
# ~0 wobble around it).
MONOTONE_SLACK = 0.01


def _monotone(values: list[float], falling: bool) -> bool:
    slack = MONOTONE_SLACK * max(abs(v) for v in values)
    pairs = zip(values[:-1], values[1:], strict=True)
    return all(b <= a + slack if falling else b >= a - slack for a, b in pairs)


def judge_lambda_bias_variance(frame: pd.DataFrame) -> Verdict:
    from vgx.analysis.report import diagnose

    med = frame.groupby("lam").median(numeric_only=True).sort_index()
    gap = (med.val_error - med.train_error).tolist()
    labels = [diagnose(t, v) for t, v in zip(med.train_error, med.val_error, strict=True)]
    parts = {
        "weights shrink": _monotone(med.weight_norm_end.tolist(), falling=True),
        "tanh saturation does not rise": _monotone(med.saturation_end.tolist(), falling=True),
        "train error rises": med.train_error.iloc[-1] > med.train_error.iloc[0],
        "train/dev gap narrows": gap[-1] < gap[0],
        "ends in high bias": "high bias" in labels[-1],
    }
    rows = _settings_table(
        frame, ["lam"], ["weight_norm_end", "saturation_end", "train_error", "val_error"]
    )
    rows["diagnosis"] = labels
    words = [
        f"λ={lam:g}: ‖W‖ {w:.3g}, train/dev error {t:.3f}/{v:.3f} ({label})"
        for lam, w, t, v, label in zip(
            med.index, med.weight_norm_end, med.train_error, med.val_error, labels, strict=True
        )
    ]
    failed = [k for k, ok in parts.items() if not ok]
    words.append("not met: " + ", ".join(failed) if failed else "every part met")
    return Verdict(combine(parts), "; ".join(words), rows)


# --- l1_sparsity (seed 000) ---------------------------------------------------------------------
SPARSER = 2.0  # "many weights to zero": L1 leaves at least twice the share of near-zero weights


def judge_l1_sparsity(frame: pd.DataFrame) -> Verdict:
    l1 = frame[frame.regularizer == "l1"]
    l2 = frame[frame.regularizer == "l2"]
    parts = {
        "L1 sparser than L2": l1.near_zero_end.median() > SPARSER * l2.near_zero_end.median(),
        "L2 shrinks the weights": l2.weight_norm_end.median()
        < frame[frame.regularizer == "none"].weight_norm_end.median(),
    }
    rows = _settings_table(
        frame, ["regularizer"], ["near_zero_end", "weight_norm_end", "val_error"]
    )
    words = [
        f"share of weights under 0.01 in size: L1 {spread(l1.near_zero_end)}, L2 "
        f"{spread(l2.near_zero_end)}; "
        f"‖W‖: L1 {spread(l1.weight_norm_end)}, L2 {spread(l2.weight_norm_end)}"
    ]
    return Verdict(combine(parts), "; ".join(words), rows)


# --- dropout (seed 003) -------------------------------------------------------------------------
def judge_dropout(frame: pd.DataFrame) -> Verdict:
    frame = frame.assign(gap=frame.val_loss_end - frame.loss_end)
    without = frame[frame.dropout == 0]
    with_dropout = frame[frame.dropout > 0]
    parts = {"gap narrows": with_dropout.gap.median() < without.gap.median()}
    rows = _settings_table(frame, ["dropout"], ["gap", "loss_end", "val_loss_end", "val_error"])
    words = [
        f"val − train loss without dropout {spread(without.gap)}, with dropout "
        f"{spread(with_dropout.gap)}"
    ]
    return Verdict(combine(parts), "; ".join(words), rows)


STUDIES = {
    s.name: s
    for s in [
        Study(
            "sigmoid_vs_relu",
            "In the 9-layer net on moons, with sigmoid the loss stays nearly flat and the first "
            "layer's weights barely change; with ReLU they move and the loss falls",
            "seed 002",
            judge_sigmoid_vs_relu,
            figure_sigmoid_vs_relu,
        ),
        Study(
            "depth_activation",
            "The gradient reaching layer 1 shrinks exponentially with depth for sigmoid "
            "(σ′ ≤ 1/4), less for tanh, not for ReLU/leaky ReLU",
            "seeds 001, 003, 004",
            judge_depth_activation,
            figure_depth_activation,
        ),
        Study(
            "init",
            "N(0,1) init saturates sigmoid/tanh and blows up deep ReLU nets; Xavier (tanh/sigmoid) "
            "and He (ReLU) keep per-layer gradient norms level",
            "seeds 001, 002",
            judge_init,
            figure_init,
        ),
        Study(
            "exploding_clip",
            "Large weights with ReLU units make gradients explode (the loss diverges); clipping "
            "by value or by norm keeps training stable",
            "seeds 003, 004",
            judge_exploding_clip,
            figure_exploding_clip,
        ),
        Study(
            "dying_relu",
            "A negative bias kills ReLU units; leaky ReLU keeps them alive",
            "seed 001",
            judge_dying_relu,
            figure_dying_relu,
        ),
        Study(
            "batchnorm",
            "Batch normalization lets a deep sigmoid net train",
            "seed 002",
            judge_batchnorm,
        ),
        Study(
            "residual",
            "Skip connections let a deep sigmoid/tanh net train",
            "seed 002",
            judge_residual,
        ),
        Study(
            "lambda_bias_variance",
            "As λ grows, weights shrink, tanh units run in their linear range, and the model "
            "moves from high variance to high bias",
            "seed 003",
            judge_lambda_bias_variance,
        ),
        Study(
            "l1_sparsity",
            "L1 drives many weights to zero, L2 shrinks them evenly",
            "seed 000",
            judge_l1_sparsity,
            figure_l1_sparsity,
        ),
        Study(
            "sign_updates",
            "Sign-based updates train a deep sigmoid net where plain gradient descent stalls",
            "seed 004",
            judge_sign_updates,
        ),
        Study(
            "dropout",
            "Dropout narrows the train/dev gap of a wide ReLU net",
            "seed 003",
            judge_dropout,
        ),
    ]
}


def verdict_markdown(study: Study, verdict: Verdict) -> str:
    return "\n".join(
        [
            f"## {study.name}: {verdict.outcome}",
            "",
            f"**Claim** ({study.source}): {study.claim}.",
            "",
            f"**Measured**: {verdict.measured}.",
            "",
            verdict.rows.to_markdown(index=False),
            "",
        ]
    )


def write_verdict(runs: Runs, name: str, folder) -> Verdict:  # noqa: ANN001 - a Path
    """verdict.md and verdict.csv beside the sweep's report; the verdict is printed too."""
    study = STUDIES[name]
    frame = measurements(runs)
    verdict = study.judge(frame)
    folder.mkdir(parents=True, exist_ok=True)
    if study.figure is not None:
        study.figure(frame, folder / "figures")
    (folder / "verdict.md").write_text(verdict_markdown(study, verdict))
    verdict.rows.assign(study=name, outcome=verdict.outcome).to_csv(
        folder / "verdict.csv", index=False
    )
    print(f"\nstudy {name} — {study.claim} ({study.source})")
    print(f"verdict: {verdict.outcome.upper()}\n  {verdict.measured}")
    return verdict
