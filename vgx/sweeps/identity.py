"""What a run is called and how it is recognised: its flat params, its config hash (resume matches
finished runs by it, and by the version of what runs measure) and its name."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from vgx import results
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
    """Same science measured the same way, same hash: resume (sweeps) matches finished runs
    by it."""
    tree = {k: v for k, v in asdict(cfg).items() if k not in BOOKKEEPING_KEYS}
    measured = {"config": tree, "measures": results.MEASURES_VERSION}
    return hashlib.sha256(json.dumps(measured, sort_keys=True).encode()).hexdigest()[:16]


def run_name(cfg: TrainConfig) -> str:
    """`sigmoid-d9-w10-adam-s0`; a recurrent run names its cell first: `rnn-tanh-d1-…`,
    `lstm-d1-…`."""
    cell = {"mlp": cfg.activation.name, "rnn": f"rnn-{cfg.activation.name}"}
    kind = cell.get(cfg.model.name, cfg.model.name)
    return f"{kind}-d{cfg.depth}-w{cfg.width}-{cfg.optimizer.name}-s{cfg.seed}"


# Short prefixes for numeric values in a child's name: `d6` for depth=6, `s2` for seed=2.
NAME_PREFIXES = {
    "seed": "s",
    "depth": "d",
    "width": "w",
    "epochs": "e",
    "batch_size": "b",
    "lr": "lr",
    "lam": "lam",
    "dropout": "p",
    "threshold": "clip",
    "momentum": "m",
    "length": "T",
    "spectral_radius": "rho",
    "std": "std",
}
MAX_NAME = 29  # MLflow's runs table shows about 30 characters of a name


def sweep_run_name(sweep_keys: list[str], job_overrides: list[str]) -> str | None:
    """A child run is named by the values that differ between the sweep's jobs, seed last:
    `relu,adam,s2`, `d6,lam0.01`. Names stay short and unique within the sweep; the full
    overrides go to the run's `vgx.overrides` tag."""
    values = {}
    for override in job_overrides:
        key, _, value = override.partition("=")
        values[key.lstrip("+~")] = value
    keys = sorted((k for k in sweep_keys if k in values), key=lambda k: k == "seed")
    name = ",".join(_part(key, values[key]) for key in keys)
    if len(name) > MAX_NAME:  # cut, with a digest of the whole to keep it unique
        digest = hashlib.sha256(name.encode()).hexdigest()[:6]
        name = f"{name[: MAX_NAME - 7]}~{digest}"
    return name or None


def _part(key: str, value: str) -> str:
    """One value of a child's name: a choice by itself (`relu`), a number after its key's
    prefix (`d6`), a switch by its key (`residual`, `no-residual`)."""
    path = key.split(".")
    # `activation.name=relu`, `regularizer.kind=none`: the group's choice, named by the group
    leaf = path[-2] if path[-1] in ("name", "kind") and len(path) > 1 else path[-1]
    if value.lower() in ("true", "false"):
        return leaf if value.lower() == "true" else f"no-{leaf}"
    if value == "none":
        return f"no-{leaf}"
    try:
        float(value)
    except ValueError:
        return value
    return f"{NAME_PREFIXES.get(leaf, leaf)}{_short(value)}"


def _short(value: str) -> str:
    """0.48159606969527924 → 0.4816 (an optimizer's samples); 0.01 and 6 stay as they are."""
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.4g}" if len(value) > 8 else value
