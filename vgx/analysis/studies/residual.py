"""seed 002: skip connections let a deep sigmoid/tanh net train."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    Study,
    Verdict,
    fix_trains,
)


def judge_residual(frame: pd.DataFrame) -> Verdict:
    return fix_trains(frame, "residual", "False", "skip connections")


STUDY = Study(
    "residual",
    "Skip connections let a deep sigmoid/tanh net train",
    "seed 002",
    judge_residual,
)
