"""seed 003: as λ grows the model moves from high variance to high bias."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    Study,
    Verdict,
    combine,
    settings_table,
)

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
    rows = settings_table(
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


STUDY = Study(
    "lambda_bias_variance",
    "As λ grows, weights shrink, tanh units run in their linear range, and the model "
    "moves from high variance to high bias",
    "seed 003",
    judge_lambda_bias_variance,
    headline_figure="error_vs_lambda.png",
)
