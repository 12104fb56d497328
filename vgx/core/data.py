"""Datasets made in code or bundled with scikit-learn: nothing is downloaded at run time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vgx.config import DatasetConfig


@dataclass
class Splits:
    """Train/val/test tensors; `n_classes == 2` means one logit and binary cross-entropy."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    def to(self, device: torch.device) -> Splits:
        moved = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return Splits(**moved, n_classes=self.n_classes)


def _moons(cfg: DatasetConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's make_moons, bit for bit (a test compares them), without importing
    scikit-learn: that import costs ~0.85 s of every default run."""
    generator = np.random.RandomState(cfg.random_state)
    n_out = cfg.n_samples // 2
    n_in = cfg.n_samples - n_out
    outer, inner = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    x = np.vstack(
        [
            np.append(np.cos(outer), 1 - np.cos(inner)),
            np.append(np.sin(outer), 1 - np.sin(inner) - 0.5),
        ]
    ).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    order = np.arange(cfg.n_samples)
    generator.shuffle(order)
    x, y = x[order], y[order]
    x += generator.normal(scale=cfg.noise, size=x.shape)
    return x, y


def _circles(cfg: DatasetConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_circles

    return make_circles(
        n_samples=cfg.n_samples, noise=cfg.noise, factor=0.5, random_state=cfg.random_state
    )


def _xor(cfg: DatasetConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points in [-1, 1]²; the class is whether the two coordinates have the same sign."""
    x = rng.uniform(-1, 1, size=(cfg.n_samples, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return x + rng.normal(0, cfg.noise, size=x.shape), y


def _spirals(cfg: DatasetConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved arms of one and a half turns each."""
    y = np.arange(cfg.n_samples) % 2
    t = np.sqrt(rng.uniform(0.05, 1, size=cfg.n_samples)) * 3 * np.pi
    sign = np.where(y == 0, 1.0, -1.0)
    x = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], axis=1) / (3 * np.pi)
    return x + rng.normal(0, cfg.noise, size=x.shape), y


def _blobs(cfg: DatasetConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_blobs

    return make_blobs(
        n_samples=cfg.n_samples,
        centers=cfg.n_classes,
        cluster_std=1.0 + 10 * cfg.noise,
        random_state=cfg.random_state,
    )


def _digits(cfg: DatasetConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's bundled 8×8 digits, pixel values scaled from 0…16 to 0…1."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data / 16.0, bunch.target


GENERATORS: dict[str, Callable[[DatasetConfig, np.random.Generator], tuple]] = {
    "moons": _moons,
    "circles": _circles,
    "xor": _xor,
    "spirals": _spirals,
    "blobs": _blobs,
    "digits": _digits,
}


def load(cfg: DatasetConfig) -> Splits:
    """Draw the dataset and split it with its own random_state, so `seed` never moves the data."""
    rng = np.random.default_rng(cfg.random_state)
    x, y = GENERATORS[cfg.name](cfg, rng)
    n = len(y)
    order = rng.permutation(n)
    n_train = round(cfg.split[0] * n)
    n_val = round(cfg.split[1] * n)
    parts = np.split(order, [n_train, n_train + n_val])
    n_classes = int(np.max(y)) + 1
    label_type = torch.float32 if n_classes == 2 else torch.int64
    tensors: list[torch.Tensor] = []
    for idx in parts:
        tensors.append(torch.as_tensor(x[idx], dtype=torch.float32))
        tensors.append(torch.as_tensor(y[idx], dtype=label_type))
    return Splits(*tensors, n_classes=n_classes)
