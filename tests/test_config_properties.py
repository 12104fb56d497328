"""Property-based checks of `validate`: any value is either accepted and usable, or refused with
a ConfigError that names its key."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from vgx.config import ACTIVATIONS, TrainConfig, validate
from vgx.errors import ConfigError

numbers = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.integers(-(10**6), 10**6)


def _outcome(cfg: TrainConfig, key: str) -> bool:
    """True when accepted; when refused, the error must be about `key`."""
    try:
        validate(cfg)
    except ConfigError as error:
        assert error.key == key, (error.key, key)
        assert key in str(error) and "expected" in str(error)
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(lam=numbers)
def test_lambda_accepted_exactly_when_finite_and_non_negative(lam):
    cfg = TrainConfig()
    cfg.regularizer.lam = lam
    assert _outcome(cfg, "regularizer.lam") == (math.isfinite(lam) and lam >= 0)


@settings(max_examples=200, deadline=None)
@given(rate=numbers)
def test_dropout_accepted_exactly_in_zero_one(rate):
    cfg = TrainConfig()
    cfg.regularizer.dropout = rate
    assert _outcome(cfg, "regularizer.dropout") == (0 <= rate < 1)


@settings(max_examples=200, deadline=None)
@given(lr=numbers)
def test_learning_rate_accepted_exactly_when_positive_and_finite(lr):
    cfg = TrainConfig()
    cfg.optimizer.lr = lr
    assert _outcome(cfg, "optimizer.lr") == (math.isfinite(lr) and lr > 0)


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(-100, 100), width=st.integers(-100, 100))
def test_depth_and_width_accepted_from_one(depth, width):
    cfg = TrainConfig()
    cfg.depth, cfg.width = depth, width
    try:
        validate(cfg)
        accepted = True
    except ConfigError as error:
        assert error.key in ("depth", "width")
        accepted = False
    assert accepted == (depth >= 1 and width >= 1)


@settings(max_examples=200, deadline=None)
@given(split=st.lists(st.floats(-1, 2, allow_nan=False), min_size=1, max_size=4))
def test_split_accepted_only_as_three_non_negative_fractions_summing_to_one(split):
    cfg = TrainConfig()
    cfg.dataset.split = split
    valid = (
        len(split) == 3
        and all(f >= 0 for f in split)
        and abs(sum(split) - 1) <= 1e-6
        and split[0] > 0
        and split[1] > 0
        and round(split[0] * cfg.dataset.n_samples) >= 1  # at least one example in each
        and round(split[1] * cfg.dataset.n_samples) >= 1
    )
    assert _outcome(cfg, "dataset.split") == valid


@settings(max_examples=100, deadline=None)
@given(name=st.text(max_size=12))
def test_activation_names_outside_the_registry_are_refused(name):
    cfg = TrainConfig()
    cfg.activation.name = name
    assert _outcome(cfg, "activation") == (name in ACTIVATIONS)
