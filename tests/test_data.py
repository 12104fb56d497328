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
    expected = {"digits": 10, "blobs": 3, "adding": 0, "temporal_order": 4, "mnist1d": 10}
    assert splits.n_classes == expected.get(name, 2)


def test_adding_marks_one_step_in_the_first_tenth_and_one_in_the_next_four_tenths():
    cfg = DatasetConfig(name="adding", n_samples=4000, length=100)
    x, y = GENERATORS["adding"](cfg, np.random.default_rng(1))
    assert x.shape == (4000, 100, 2)
    markers = x[..., 1]
    assert np.array_equal(markers.sum(axis=1), np.full(4000, 2.0))
    first = markers.argmax(axis=1)
    second = 99 - markers[:, ::-1].argmax(axis=1)
    assert first.min() == 0 and first.max() == 9  # the first 10%
    assert second.min() == 10 and second.max() == 49  # the next 40%
    assert np.allclose(y, (x[..., 0] * markers).sum(axis=1))
    assert x[..., 0].min() >= 0 and x[..., 0].max() < 1
    # the sum of two U(0, 1): mean 1, variance 1/6 (the mean predictor's MSE)
    assert abs(y.mean() - 1) < 0.02 and abs(y.var() - 1 / 6) < 0.01


def test_temporal_order_classes_are_the_order_of_two_far_apart_symbols():
    cfg = DatasetConfig(name="temporal_order", n_samples=4000, length=50)
    x, y = GENERATORS["temporal_order"](cfg, np.random.default_rng(2))
    assert x.shape == (4000, 50, 6) and np.array_equal(x.sum(axis=-1), np.ones((4000, 50)))
    symbols = x.argmax(axis=-1)
    relevant = symbols >= 4  # X or Y
    assert np.array_equal(relevant.sum(axis=1), np.full(4000, 2))
    steps = np.nonzero(relevant)[1].reshape(4000, 2)
    assert steps[:, 0].min() >= 5 and steps[:, 0].max() < 10  # 10-20% of 50 steps
    assert steps[:, 1].min() >= 25 and steps[:, 1].max() < 30  # 50-60%
    rows = np.arange(4000)
    order = 2 * (symbols[rows, steps[:, 0]] - 4) + (symbols[rows, steps[:, 1]] - 4)
    assert np.array_equal(order, y)
    shares = np.bincount(y, minlength=4) / 4000
    assert np.all(np.abs(shares - 0.25) < 0.03)


def test_mnist1d_is_generated_never_downloaded_and_leaves_numpys_random_state(monkeypatch):
    import requests

    def no_network(*args, **kwargs):
        raise AssertionError("mnist1d tried to download")

    monkeypatch.setattr(requests, "get", no_network)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    splits = load(DatasetConfig(name="mnist1d", n_samples=1000, length=40))
    assert np.array_equal(np.random.get_state()[1], state)
    assert splits.x_train.shape == (800, 40, 1) and splits.n_classes == 10
    labels = np.concatenate([splits.y_train, splits.y_val, splits.y_test])
    assert np.array_equal(np.bincount(labels), np.full(10, 100))  # the generator's balance
    assert abs(float(splits.x_train.mean())) < 0.1  # the package centres the set


def test_a_sequence_reads_flat_for_a_feed_forward_net():
    splits = load(DatasetConfig(name="adding", n_samples=50, length=7))
    flat = splits.flat()
    assert flat.x_train.shape == (40, 14) and flat.n_features == 14 and splits.n_features == 2
    assert np.array_equal(flat.x_train[:, :2].numpy(), splits.x_train[:, 0].numpy())
