import numpy as np
import pytest
from sklearn.datasets import make_moons

from vgx.config import DatasetConfig
from vgx.core.data import GENERATORS, load


@pytest.mark.parametrize(("n", "noise", "seed"), [(250, 0.05, 42), (101, 0.3, 0), (10, 0.0, 7)])
def test_moons_are_scikit_learns_bit_for_bit(n, noise, seed):
    cfg = DatasetConfig(n_samples=n, noise=noise, random_state=seed)
    x, y = GENERATORS["moons"](cfg, np.random.default_rng(0))
    x_ref, y_ref = make_moons(n_samples=n, noise=noise, random_state=seed)
    assert np.array_equal(x, x_ref) and np.array_equal(y, y_ref)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_every_dataset_splits_80_10_10_and_ignores_seed(name):
    """Seed 002 trains on 80% of its points: 200 of the 250 moons."""
    splits = load(DatasetConfig(name=name))
    n = len(splits.y_train) + len(splits.y_val) + len(splits.y_test)
    assert len(splits.y_train) == round(0.8 * n) and len(splits.y_val) == round(0.1 * n)
    if name == "moons":
        assert len(splits.y_train) == 200
    again = load(DatasetConfig(name=name))
    assert np.array_equal(splits.x_train.numpy(), again.x_train.numpy())
    assert splits.n_classes == (10 if name == "digits" else 3 if name == "blobs" else 2)
