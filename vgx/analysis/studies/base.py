"""What every study shares: the verdict's shape, the measurements each run gives the judges, and
the helpers that put numbers with their spread over seeds into words and tables.

A claim holds when every part of it holds; each judge says in its module, beside its thresholds,
over what it judges a part: every seed, or the median over seeds."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

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
    """A comparison of the source texts: its sweep is conf/study/NAME.yaml; its judge and
    figure read the runs' measurements."""

    name: str
    claim: str
    source: str
    judge: Callable[[pd.DataFrame], Verdict]
    figure: Callable[[pd.DataFrame, object], object] | None = None  # (measurements, folder)
    headline_figure: str | None = None  # the figure file the README shows for it
    tags: dict[str, str] = field(default_factory=dict)


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


def layer_spread(norms: list[float]) -> float:
    """max / min of the per-layer gradient norms (1 = level)."""
    return max(norms) / min(norms) if min(norms) > 0 else math.inf


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


FLAT_LOSS = 0.05  # "nearly flat": the training loss falls by less than 5% of its start
FALLING_LOSS = 0.5  # "the loss falls": by more than half


def fix_trains(frame: pd.DataFrame, key: str, off: str, label: str) -> Verdict:
    """A fix lets the deep net train: on every seed, the net without it stalls (its loss falls
    by less than FLAT_LOSS) and the net with it trains (by more than FALLING_LOSS)."""
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
    rows = settings_table(frame, ["activation", key], ["loss_drop", "val_error"])
    return Verdict(combine(parts), "; ".join(words), rows)
