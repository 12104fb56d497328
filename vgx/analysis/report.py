"""Tables and diagnoses of a set of runs: seed 003's bias/variance labels, the runs table, the
report folder with its figures."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from vgx.analysis.runs import Runs
from vgx.config import RECURRENT_MODELS
from vgx.results import time_ratio

# Seed 003's bias/variance table, with the optimal (Bayes) error taken as ~0 on these toy sets:
# train 1% / dev 11% → high variance; 15% / 16% → high bias; 15% / 30% → both; 0.5% / 1% → neither.
BIAS_THRESHOLD = 0.05  # train error above optimal + this → high bias
VARIANCE_THRESHOLD = 0.05  # dev error above train error + this → high variance

FINAL_COLUMNS = ["loss/train", "loss/val", "loss/test", "acc/train", "acc/val", "acc/test"]


def diagnose(
    train_error: float,
    dev_error: float,
    optimal_error: float = 0.0,
    bias_threshold: float = BIAS_THRESHOLD,
    variance_threshold: float = VARIANCE_THRESHOLD,
) -> str:
    """Seed 003's labels from train and dev (validation) errors."""
    if math.isnan(train_error) or math.isnan(dev_error):
        return "no result"
    high_bias = train_error > optimal_error + bias_threshold
    high_variance = dev_error > train_error + variance_threshold
    if high_bias and high_variance:
        return "high bias and high variance"
    if high_bias:
        return "high bias"
    if high_variance:
        return "high variance"
    return "neither"


def summary_table(
    runs: Runs,
    bias_threshold: float = BIAS_THRESHOLD,
    variance_threshold: float = VARIANCE_THRESHOLD,
) -> pd.DataFrame:
    """One row per run: the varied params, final numbers, gradient ratio, status, diagnosis."""
    rows = []
    for _, run in runs.table.iterrows():
        depth = int(run.get("params.depth", 0) or 0)

        def metric(key: str, run: pd.Series = run) -> float:
            return float(run.get(f"metrics.{key}", float("nan")))

        row = {
            "run": run.get("tags.mlflow.runName"),
            **{k: run.get(f"params.{k}") for k in runs.varied},
        }
        regression = not math.isnan(metric("mse/test"))
        columns = [c.replace("acc/", "mse/") if regression else c for c in FINAL_COLUMNS]
        row.update({key: metric(key) for key in columns})
        steps = int(run.get("params.dataset.length", 0) or 0)
        if run.get("params.model.name") in RECURRENT_MODELS:  # through time, not by layer
            last = {
                k.removeprefix("metrics."): v for k, v in run.items() if k.startswith("metrics.")
            }
            row["grad_ratio_h1_to_hT"] = time_ratio(last, steps)
            row["spectral_radius_W_h"] = metric("spectral_radius/W_h")
        else:
            row["first_layer_weight_change"] = metric("weight_change/layer_1")
            top = metric(f"grad_norm/layer_{depth}")
            row["grad_ratio_1_to_last"] = metric("grad_norm/layer_1") / top if top else math.nan
        row["status"] = run.get("tags.status")
        row["diverged_epoch"] = run.get("tags.diverged_epoch") or ""
        row["diagnosis"] = (
            "–"
            if regression  # seed 003's labels are about classification errors
            else diagnose(
                1 - row["acc/train"],
                1 - row["acc/val"],
                bias_threshold=bias_threshold,
                variance_threshold=variance_threshold,
            )
        )
        row["run_id"] = run["run_id"]
        rows.append(row)
    table = pd.DataFrame(rows)
    for key in runs.varied:  # params come back as strings: sort 3, 6, 12 as numbers
        numeric = pd.to_numeric(table[key], errors="coerce")
        if numeric.notna().all():
            table[key] = numeric
    return table.sort_values([*runs.varied, "run"], kind="stable").reset_index(drop=True)


def write_report(runs: Runs, folder: Path, title: str) -> pd.DataFrame:
    """runs.csv, runs.md, figures under `folder`; the table is also printed, and returned."""
    from vgx.analysis.figures import report_figures

    folder.mkdir(parents=True, exist_ok=True)
    table = summary_table(runs)
    table.to_csv(folder / "runs.csv", index=False)
    shown = table.drop(columns=["run_id"])
    markdown = shown.to_markdown(index=False, floatfmt=".4g")
    (folder / "runs.md").write_text(f"# {title}\n\n{markdown}\n")
    report_figures(runs, folder / "figures", title)
    print(f"{title}\n{shown.to_string(index=False, float_format=lambda v: f'{v:.4g}')}")
    return table


def reports_root(workdir: Path | None = None) -> Path:
    """outputs/reports under the working directory (a recording process is told the command's)."""
    return (workdir or Path.cwd()) / "outputs" / "reports"
