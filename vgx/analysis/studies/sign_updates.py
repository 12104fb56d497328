"""seed 004: sign-based updates train a deep sigmoid net where gradient descent stalls."""

from __future__ import annotations

import pandas as pd

from vgx.analysis.studies.base import (
    Study,
    Verdict,
    fix_trains,
)


def judge_sign_updates(frame: pd.DataFrame) -> Verdict:
    frame = frame.assign(update=frame.optimizer)
    return fix_trains(frame.assign(activation="sigmoid"), "update", "gd", "sign updates")


STUDY = Study(
    "sign_updates",
    "Sign-based updates train a deep sigmoid net where plain gradient descent stalls",
    "seed 004",
    judge_sign_updates,
)
