"""What every study shares: the verdict's shape, the measurements each run gives the judges, and
the helpers that put numbers with their spread over seeds into words and tables.

The rule: a claim holds when every part of it holds on every seed (EVERY_SEED); a study whose
claim is a trend across a knob judges medians over seeds and says so in its `rule`. A verdict
names every part that was not met, with its numbers."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vgx.analysis.runs import Runs
from vgx.config import ActivationConfig, DatasetConfig
from vgx.results import CURVE_PREFIX, time_ratio

HOLDS, FAILS, MIXED = "holds", "does not hold", "mixed"


EVERY_SEED = "every part on every seed"


@dataclass
class Verdict:
    outcome: str  # holds, does not hold, mixed
    measured: str  # the numbers behind it, in words
    rows: pd.DataFrame  # one row per setting: medians and spreads over seeds
    parts: dict[str, bool] = field(default_factory=dict)  # each part of the claim: met?


@dataclass(frozen=True)
class Paper:
    """The published result a study reproduces small: where it stands and what it reported."""

    reference: str  # authors, year and title
    where: str  # the figure or table
    published: str  # the number or shape the paper reported


@dataclass
class Study:
    """A comparison of the source texts: its sweep is conf/study/NAME.yaml; its judge and
    figure read the runs' measurements. A study of a paper names it, the figure or table, and
    the published result, which its verdict shows beside vgx's."""

    name: str
    claim: str
    source: str
    judge: Callable[[pd.DataFrame], Verdict]
    figure: Callable[[pd.DataFrame, object], object] | None = None  # (measurements, folder)
    headline_figure: str | None = None  # the figure file the README shows for it
    tags: dict[str, str] = field(default_factory=dict)
    rule: str = EVERY_SEED  # over what each part is judged
    paper: Paper | None = None

    @property
    def group(self) -> str:
        """Where the claim comes from: the tutorials (seeds) or a paper behind them."""
        return "the papers" if self.paper is not None else "the tutorials"


def bars(
    frame: pd.DataFrame, keys: list[str], column: str
) -> dict[str, tuple[float, float, float]]:
    """{setting: (median, min, max)} of `column` over seeds."""
    out = {}
    for setting, group in frame.groupby(keys, sort=True):
        setting = setting if isinstance(setting, tuple) else (setting,)
        name = ", ".join(str(v) for v in setting)
        out[name] = (group[column].median(), group[column].min(), group[column].max())
    return out


def curves(frame: pd.DataFrame, keys: list[str], column: str) -> dict[str, list[list[float]]]:
    out = {}
    for setting, group in frame.groupby(keys, sort=True):
        setting = setting if isinstance(setting, tuple) else (setting,)
        out[", ".join(str(v) for v in setting)] = group[column].tolist()
    return out


def _recorded(run: pd.Series, column: str) -> object | None:
    """A column of the runs table, None where the run has no value (pandas fills NaN)."""
    value = run.get(column)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _param(run: pd.Series, key: str, default: str = "") -> str:
    value = _recorded(run, f"params.{key}")
    return default if value is None else value


def dataset_config(run: pd.Series) -> DatasetConfig:
    """The run's data set, rebuilt from its params (the theory needs the data's scale)."""
    default = DatasetConfig()
    return DatasetConfig(
        name=_param(run, "dataset.name", default.name),
        n_samples=int(_param(run, "dataset.n_samples", str(default.n_samples))),
        noise=float(_param(run, "dataset.noise", str(default.noise))),
        n_classes=int(_param(run, "dataset.n_classes", str(default.n_classes))),
        random_state=int(_param(run, "dataset.random_state", str(default.random_state))),
        split=list(ast.literal_eval(_param(run, "dataset.split", str(default.split)))),
    )


def _constant_loss(run: pd.Series, dataset: DatasetConfig) -> float:
    """The run's recorded `loss/constant`; for a run recorded without it, from its data."""
    value = _recorded(run, "metrics.loss/constant")
    if value is not None:
        return float(value)
    from vgx.core.data import load
    from vgx.core.objective import constant_loss

    splits = load(dataset)
    return constant_loss(splits.y_train, splits.n_classes)


def measurements(runs: Runs) -> pd.DataFrame:
    """One row per run: its settings and the numbers the judges read, from its history."""
    rows = []
    for _, run in runs.table.iterrows():
        history = runs.histories.get(run["run_id"])
        if history is None or history.empty:
            continue
        depth = int(_param(run, "depth", "0"))
        first, last = history.iloc[0], history.iloc[-1]
        row = {
            "dataset": _param(run, "dataset.name"),
            "dataset_cfg": dataset_config(run),
            "model": _param(run, "model.name", "mlp"),
            "activation": _param(run, "activation.name"),
            "slope": float(_param(run, "activation.slope", str(ActivationConfig.slope))),
            "init": _param(run, "init.name"),
            "bias": float(_param(run, "init.bias", "0")),
            "bias_std": float(_param(run, "init.bias_std", "0")),
            "depth": depth,
            "width": int(_param(run, "width", "0")),
            "init_std": float(_param(run, "init.std", "1")),
            "init_scale": float(_param(run, "init.scale", "0.05")),
            "init_gain": float(_param(run, "init.gain", "1")),
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
        }
        if "acc/train" in history:
            row["train_accuracy"] = last["acc/train"]
            row["train_error"] = 1 - last["acc/train"]
            row["val_error"] = 1 - last["acc/val"]
            row["train_error_curve"] = (1 - history["acc/train"]).tolist()
            test_accuracy = _recorded(run, "metrics.acc/test")
            row["test_error"] = math.nan if test_accuracy is None else 1 - float(test_accuracy)
        row["loss"] = _param(run, "loss", "None")
        row["loss_drop"] = (row["loss_start"] - row["loss_end"]) / row["loss_start"]
        row["loss_constant"] = _constant_loss(run, row["dataset_cfg"])
        # the share of the best constant predictor's loss the training removed (≤ 0: nothing
        # beyond the class prior was learned)
        row["learned"] = 1 - row["loss_end"] / row["loss_constant"]
        row["loss_curve"] = history["loss/train"].tolist()
        for name in ("max", "min", "spread"):
            column = f"jacobian/sv_{name}"
            row[f"jacobian_{name}"] = float(first[column]) if column in history else math.nan
        if "grad_norm/W_h" in history:
            row.update(_through_time(run, history))
        else:
            row.update(_by_layer(history, depth))
        rows.append(row)
    return pd.DataFrame(rows)


def _by_layer(history: pd.DataFrame, depth: int) -> dict[str, object]:
    """A feed-forward run's measures by layer."""
    first, last = history.iloc[0], history.iloc[-1]
    hidden = range(1, depth)
    row: dict[str, object] = {
        "first_layer_weight_change": last["weight_change/layer_1"],
        "grad_norms_0": [first[f"grad_norm/layer_{i}"] for i in range(1, depth + 1)],
        "weight_change_curve": history["weight_change/layer_1"].tolist(),
        "deltas_0": [first[f"delta_norm/layer_{i}"] for i in range(1, depth + 1)],
        "dead_end": float(np.mean([last[f"dead/layer_{i}"] for i in hidden])) if depth > 1 else 0.0,
    }
    row["saturation_0"] = (
        float(np.mean([first[f"saturation/layer_{i}"] for i in hidden])) if depth > 1 else 0.0
    )
    for cut in ("5pct", "10pct"):
        name = f"saturation_at/{cut}"
        row[f"saturation_0_{cut}"] = float(first[name]) if name in history else math.nan
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
    return row


def _through_time(run: pd.Series, history: pd.DataFrame) -> dict[str, object]:
    """A recurrent run's measures through time: the epoch-0 ratio and per-step factor of
    ‖∂ℓ/∂h_1‖ to ‖∂ℓ/∂h_T‖, its curve over t, W_h's gradient and spectral radius, the test
    error (squared error on a regression task)."""
    first = history.iloc[0]
    steps = int(_param(run, "dataset.length", "0"))
    ratio = time_ratio(first, steps)
    curve = [f"{CURVE_PREFIX}{t}" for t in range(1, steps + 1)]
    test = _recorded(run, "metrics.mse/test")
    accuracy = _recorded(run, "metrics.acc/test")
    spectral = _param(run, "model.spectral_radius", "None")
    return {
        "length": steps,
        "recurrent_init": _param(run, "model.recurrent_init", "orthogonal"),
        "spectral_radius": math.nan if spectral in ("None", "") else float(spectral),
        "time_ratio_0": ratio,
        "time_factor_0": ratio ** (1 / (steps - 1)) if ratio > 0 and steps > 1 else math.nan,
        "time_curve_0": [first[c] for c in curve] if all(c in history for c in curve) else [],
        "grad_h_curve": history["grad_norm/W_h"].tolist(),
        "grad_h_max": float(history["grad_norm/W_h"].max()),
        "radius_0": float(first["spectral_radius/W_h"]),
        "singular_0": float(first["singular_max/W_h"]),
        "loss_max": float(history["loss/train"].max()),
        "test_mse": math.nan if test is None else float(test),
        "test_error": math.nan if accuracy is None else 1 - float(accuracy),
    }


def depth_and_data(frame: pd.DataFrame) -> str:
    """'9-layer net on moons', from the runs' own config: a title never names a set not used."""
    depths = sorted(set(frame.depth))
    depth = f"{depths[0]}-layer net" if len(depths) == 1 else "nets"
    return f"{depth} on {', '.join(sorted(set(frame.dataset)))}"


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


def conclude(
    parts: dict[str, tuple[bool, str]], rows: pd.DataFrame, words: list[str] | None = None
) -> Verdict:
    """A verdict from the claim's parts, each (met, the numbers behind it): the words end by
    naming every part that was not met, with its numbers."""
    met = {name: bool(ok) for name, (ok, _) in parts.items()}
    failed = [f"{name} ({numbers})" for name, (ok, numbers) in parts.items() if not ok]
    text = list(words or []) + ["not met: " + "; ".join(failed) if failed else "every part met"]
    return Verdict(combine(met), "; ".join(text), rows, met)


def settings_table(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    rows = []
    for setting, group in frame.groupby(keys, sort=True):
        setting = setting if isinstance(setting, tuple) else (setting,)
        row = dict(zip(keys, setting, strict=True))
        row["seeds"] = len(group)
        for column in columns:
            row[column] = spread(group[column])
        rows.append(row)
    return pd.DataFrame(rows)


# Losses are judged against the best constant predictor's (the label entropy: ln 2 for balanced
# binary classes), not the untrained net's: a net that learns only the class prior is flat.
FLAT_LOSS = 0.05  # "nearly flat": ends above 95% of the constant predictor's loss
FALLING_LOSS = 0.5  # "the loss falls": ends below half of it
LEVEL_BAND = (0.8, 1.25)  # "level": a per-layer factor of the error signal within this band


def level_or_not(factor: float) -> str:
    low, high = LEVEL_BAND
    return "vanishes" if factor < low else "explodes" if factor > high else "level"


def fix_trains(frame: pd.DataFrame, key: str, off: str, label: str) -> Verdict:
    """A fix lets the deep net train: on every seed, the net without it stays flat (ends above
    95% of the constant predictor's loss) and the net with it trains (below half of it)."""
    parts, words = {}, []
    for activation, group in frame.groupby("activation"):
        without = group[group[key].astype(str) == off]
        with_fix = group[group[key].astype(str) != off]
        parts[f"{activation} without stays flat"] = (
            bool((without.learned < FLAT_LOSS).all()),
            f"share of the constant predictor's loss removed {spread(without.learned)}",
        )
        parts[f"{activation} with {label} trains"] = (
            bool((with_fix.learned > FALLING_LOSS).all()),
            f"share removed {spread(with_fix.learned)}",
        )
        words.append(
            f"{activation}: share of the constant predictor's loss removed without "
            f"{spread(without.learned)}, with {label} {spread(with_fix.learned)}; validation "
            f"error {spread(without.val_error)} → {spread(with_fix.val_error)}"
        )
    rows = settings_table(frame, ["activation", key], ["learned", "val_error"])
    return conclude(parts, rows, words)
