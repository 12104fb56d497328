"""seed 002: batch normalization lets a deep sigmoid net train."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    Study,
    Verdict,
    fix_trains,
)


def judge_batchnorm(frame: pd.DataFrame) -> Verdict:
    return fix_trains(frame, "norm", "none", "batch norm")


STUDY = Study(
    "batchnorm",
    "Batch normalization lets a deep sigmoid net train",
    "seed 002",
    judge_batchnorm,
)
