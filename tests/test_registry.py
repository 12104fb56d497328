"""Every name a user can choose builds and trains: each option of each config group, each study.
The names come from the config groups and the study registry, so a new option is tested as
soon as it exists."""

from __future__ import annotations

import math

import pytest

from tests.conftest import compose_config
from vgx.analysis.studies import STUDIES
from vgx.config import ACTIVATIONS, DATASETS, INITS, OPTIMIZERS, conf_dir
from vgx.core.loop import train_run


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


@pytest.mark.parametrize(
    ("group", "names"),
    [("activation", ACTIVATIONS), ("init", INITS), ("dataset", DATASETS)],
)
def test_each_config_group_offers_exactly_the_names_the_code_accepts(group, names):
    assert _options(group) == sorted(names)


def test_each_optimizer_option_names_an_update_rule():
    for option in _options("optimizer"):
        cfg, _ = compose_config([f"optimizer={option}"])
        assert cfg.optimizer.name in OPTIMIZERS, option


CHOICES = [
    f"{group}={option}"
    for group in ("activation", "init", "optimizer", "dataset", "regularizer", "clip")
    for option in _options(group)
]


@pytest.mark.parametrize("choice", CHOICES)
def test_every_option_trains_for_one_epoch(choice):
    cfg, _ = compose_config(["epochs=1", "depth=3", "progress=false", choice])
    result = train_run(cfg)
    assert len(result.history) == 2  # epoch 0 and epoch 1
    assert math.isfinite(result.history[0]["loss/train"])


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_study_trains_its_base_config_for_one_epoch(name):
    cfg, _ = compose_config([f"+study={name}", "epochs=1", "progress=false"])
    result = train_run(cfg)
    assert len(result.history) == 2
    assert STUDIES[name].claim and STUDIES[name].source
