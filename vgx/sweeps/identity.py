"""What a run is called and how it is recognised: its flat params, its config hash (resume matches
finished runs by it) and its name."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from vgx.config import BOOKKEEPING_KEYS, TrainConfig


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    """{'optimizer': {'lr': 0.001}} → {'optimizer.lr': '0.001'}: MLflow params are flat strings."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


def config_hash(cfg: TrainConfig) -> str:
    """Same science, same hash: resume (sweeps) matches finished runs by it."""
    tree = {k: v for k, v in asdict(cfg).items() if k not in BOOKKEEPING_KEYS}
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:16]


def run_name(cfg: TrainConfig) -> str:
    return f"{cfg.activation.name}-d{cfg.depth}-w{cfg.width}-{cfg.optimizer.name}-s{cfg.seed}"


def sweep_run_name(sweep_keys: list[str], job_overrides: list[str]) -> str | None:
    """A child run is named by what differs between the sweep's jobs: `depth=6,lam=0.01`."""
    values = {}
    for override in job_overrides:
        key, _, value = override.partition("=")
        values[key.lstrip("+~")] = value
    parts = [f"{key.split('.')[-1]}={_short(values[key])}" for key in sweep_keys if key in values]
    return ",".join(parts) or None


def _short(value: str) -> str:
    """0.48159606969527924 → 0.4816 (an optimizer's samples); 0.01 and 6 stay as they are."""
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.4g}" if len(value) > 8 else value
