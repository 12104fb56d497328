"""Configs built the way `vgx train` builds them (Hydra's compose API), and a store per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from vgx.config import TrainConfig, conf_dir
from vgx.sweeps.composition import register_configs


def compose_config(overrides: list[str]) -> tuple[TrainConfig, dict]:
    """(the typed config, the resolved dict) for these command-line overrides."""
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    return OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def small_config():
    """seed 002's network for a few epochs: enough to see every metric, fast enough for CI."""

    def make(*overrides: str) -> tuple[TrainConfig, dict]:
        return compose_config(["epochs=3", "progress=false", *overrides])

    return make
