"""User mistakes: exit code ≠ 0, one line naming key, value and what is allowed, no run left."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vgx.cli import EXIT_USER_ERROR, main

# (command-line arguments, words the one line must contain)
MISTAKES = [
    (["activation=swish"], ["activation", "swish", "sigmoid", "relu"]),
    (["init=glorot"], ["init", "glorot", "xavier_uniform"]),
    (["dataset=mnist"], ["dataset", "mnist", "moons", "digits"]),
    (["optimizer=lbfgs"], ["optimizer", "lbfgs", "adam"]),
    (["regularizer=l3"], ["regularizer", "l3", "l2"]),
    (["clip=soft"], ["clip", "soft", "value", "norm"]),
    (["norm=group"], ["norm", "group", "batch", "layer"]),
    (["depth=0"], ["depth", "0", ">= 1"]),
    (["width=0"], ["width", "0", ">= 1"]),
    (["regularizer.lam=-0.1"], ["regularizer.lam", "-0.1", ">= 0"]),
    (["regularizer.dropout=1"], ["regularizer.dropout", "1.0", "[0, 1)"]),
    (["regularizer.dropout=-0.2"], ["regularizer.dropout", "-0.2", "[0, 1)"]),
    (["optimizer.lr=0"], ["optimizer.lr", "0.0", "> 0"]),
    (["optimizer.lr=-1e-3"], ["optimizer.lr", "> 0"]),
    (["epochs=0"], ["epochs", "0", ">= 1"]),
    (["batch_size=0"], ["batch_size", "0", ">= 1"]),
    (["dataset.split=[0.5,0.2,0.2]"], ["dataset.split", "sum to 1"]),
    (["dataset.split=[-0.2,0.6,0.6]"], ["dataset.split", ">= 0"]),
    (["dataset.n_samples=10", "dataset.split=[0.9,0.04,0.06]"], ["dataset.split", "validation"]),
    (["depth_of_net=3"], ["depth_of_net", "unknown config key"]),
    (["optimizer.beta=0.9"], ["optimizer.beta", "unknown config key"]),
    (["depth=nine"], ["depth", "nine", "Integer"]),
    (["norm=batch", "batch_size=1"], ["batch_size", "1", "norm=batch"]),
    (["-m", "depth=3,6,0"], ["depth", "0", ">= 1"]),
    (["-m", "activation=relu,swish"], ["activation", "swish"]),
    (["device=tpu"], ["device", "tpu", "cuda"]),
]


@pytest.mark.parametrize(("args", "words"), MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_mistake_gives_one_clear_line_and_no_run(args, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    code = main(["train", *args])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USER_ERROR
    assert len(err.splitlines()) == 1, err
    assert err.startswith("vgx train: error: ")
    for word in words:
        assert word in err
    assert not (tmp_path / "mlflow.db").exists()  # no store opened, so no run at all
    assert not (tmp_path / "outputs").exists()


def test_mistake_in_a_subprocess_has_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "vgx.cli", "train", "regularizer.lam=-1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'db.sqlite'}"},
    )
    assert done.returncode == EXIT_USER_ERROR
    assert done.stderr.strip() == (
        "vgx train: error: regularizer.lam=-1.0: not allowed; expected a finite number >= 0"
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "db.sqlite").exists()


def test_debug_flag_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="depth"):
        main(["train", "depth=0", "--debug"])


def test_unknown_command(capsys):
    assert main(["trian"]) == EXIT_USER_ERROR
    assert "unknown command 'trian'" in capsys.readouterr().err


def test_a_bad_combination_deep_in_a_large_sweep_is_refused_before_anything_runs(
    capsys, tmp_path, monkeypatch
):
    """520 jobs; only the 130 that pair 10 samples with a 4% validation share are invalid,
    and no single value is wrong on its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    args = ["train", "-m", "seed=range(0,130)", "dataset.n_samples=250,10"]
    code = main([*args, "dataset.split=[0.6,0.2,0.2],[0.9,0.04,0.06]"])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USER_ERROR
    assert err.startswith("vgx train: error: dataset.split=") and "validation" in err
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "outputs").exists()
