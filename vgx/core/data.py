"""Datasets made in code or bundled with scikit-learn: nothing is downloaded at run time.

Points and digits are [examples, features]; a sequence task is [examples, time steps, inputs a
step], which a feed-forward net reads flat (`Splits.flat`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vgx.config import DatasetConfig, dataset_classes


@dataclass
class Splits:
    """Train/val/test tensors; `n_classes == 2` means one logit and binary cross-entropy, 0 a
    regression target (one output, squared error)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def n_features(self) -> int:
        """Inputs of one example, or of one time step of a sequence."""
        return self.x_train.shape[-1]

    @property
    def steps(self) -> int:
        return self.x_train.shape[1] if self.x_train.dim() == 3 else 1

    def flat(self) -> Splits:
        """A sequence's steps side by side: what a feed-forward net reads."""
        if self.x_train.dim() == 2:
            return self
        tensors = {k: v.flatten(1) if k.startswith("x") else v for k, v in self.tensors().items()}
        return Splits(**tensors, n_classes=self.n_classes)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.Tensor)}

    def to(self, device: torch.device) -> Splits:
        moved = {k: v.to(device) for k, v in self.tensors().items()}
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


def _marked_steps(
    rng: np.random.Generator, n: int, length: int, first: tuple[float, float], second: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """Two marked steps per sequence, the first drawn in the share `first` of the sequence, the
    second in `second` (each at least one step wide, the second after the first)."""
    lo1 = int(first[0] * length)
    hi1 = max(lo1 + 1, int(first[1] * length))
    lo2 = max(hi1, int(second[0] * length))
    hi2 = min(length, max(lo2 + 1, int(second[1] * length)))
    return rng.integers(lo1, hi1, size=n), rng.integers(lo2, hi2, size=n)


def _adding(cfg: DatasetConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hochreiter & Schmidhuber 1997's adding problem in Pascanu et al. 2013's form: each step a
    value in U(0, 1) and a marker; one step marked in the first 10% of the sequence, one in the
    next 40%; the target is the sum of the two marked values (the mean predictor's MSE is 1/6)."""
    n, length = cfg.n_samples, cfg.length
    values = rng.uniform(0, 1, size=(n, length))
    first, second = _marked_steps(rng, n, length, (0.0, 0.1), (0.1, 0.5))
    markers = np.zeros((n, length))
    rows = np.arange(n)
    markers[rows, first] = markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return np.stack([values, markers], axis=-1), target


def _temporal_order(cfg: DatasetConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hochreiter & Schmidhuber 1997's temporal order task: random distractors a-d, one-hot;
    a symbol X or Y at one step in 10-20% of the sequence and one in 50-60%; the class (XX, XY,
    YX, YY) is their order."""
    n, length = cfg.n_samples, cfg.length
    symbols = rng.integers(0, 4, size=(n, length))
    first, second = _marked_steps(rng, n, length, (0.1, 0.2), (0.5, 0.6))
    which = rng.integers(0, 2, size=(n, 2))
    rows = np.arange(n)
    symbols[rows, first] = 4 + which[:, 0]
    symbols[rows, second] = 4 + which[:, 1]
    return np.eye(6)[symbols], 2 * which[:, 0] + which[:, 1]


def _mnist1d(cfg: DatasetConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Greydanus 2020's MNIST-1D, made by its package's generator from its ten templates (never
    its download): `length` steps of one value, 10 classes. The generator seeds numpy's and
    Python's global random state; both are put back."""
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.final_seq_length, args.seed = cfg.n_samples, cfg.length, cfg.random_state
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        made = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    x = np.concatenate([made["x"], made["x_test"]])[..., None]
    return x, np.concatenate([made["y"], made["y_test"]])


GENERATORS: dict[str, Callable[[DatasetConfig, np.random.Generator], tuple]] = {
    "moons": _moons,
    "circles": _circles,
    "xor": _xor,
    "spirals": _spirals,
    "blobs": _blobs,
    "digits": _digits,
    "adding": _adding,
    "temporal_order": _temporal_order,
    "mnist1d": _mnist1d,
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
    n_classes = dataset_classes(cfg)
    label_type = torch.int64 if n_classes > 2 else torch.float32
    tensors: list[torch.Tensor] = []
    for idx in parts:
        tensors.append(torch.as_tensor(x[idx], dtype=torch.float32))
        tensors.append(torch.as_tensor(y[idx], dtype=label_type))
    return Splits(*tensors, n_classes=n_classes)
