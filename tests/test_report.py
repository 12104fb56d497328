"""The report's pure parts, and its one-line errors."""

from __future__ import annotations

import socket
import time

import pytest

from vgx.cli import EXIT_USER_ERROR, main
from vgx.report import diagnose


@pytest.mark.parametrize(
    ("train_error", "dev_error", "expected"),
    [  # seed 003's table
        (0.01, 0.11, "high variance"),
        (0.15, 0.16, "high bias"),
        (0.15, 0.30, "high bias and high variance"),
        (0.005, 0.01, "neither"),
    ],
)
def test_bias_variance_labels_follow_seed_003(train_error, dev_error, expected):
    assert diagnose(train_error, dev_error) == expected


def test_optimal_error_moves_the_bias_line():
    assert diagnose(0.15, 0.16, optimal_error=0.14) == "neither"


def test_nan_errors_get_no_label():
    assert diagnose(float("nan"), 0.1) == "no result"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def store_with_one_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["train", "epochs=1", "depth=2"]) == 0
    return tmp_path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--filter", "params.depth = '99'"], ["no runs found", "params.depth = '99'"]),
        (["--experiment", "nope"], ["--experiment='nope'", "unknown", "vgx"]),
        (["--filter", "params.depth >>> 3"], ["--filter", "MLflow refused"]),
        (["--sweep", "latest"], ["no sweep"]),
        (["--experiment", "vgx", "--name", "../escape"], ["--name", "plain folder name"]),
    ],
)
def test_report_mistakes_give_one_line(store_with_one_run, capsys, args, words):
    assert main(["report", *args]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err


def test_report_on_an_unreachable_server_fails_within_seconds(capsys):
    uri = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    assert main(["report", "--uri", uri, "--experiment", "vgx"]) == EXIT_USER_ERROR
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err.strip()
    assert f"tracking server {uri} cannot be reached" in err
    assert len(err.splitlines()) == 1


def test_report_of_an_experiment_writes_table_and_figures(store_with_one_run, capsys):
    assert main(["report", "--experiment", "vgx"]) == 0
    folder = store_with_one_run / "outputs" / "reports" / "vgx"
    assert (folder / "runs.csv").read_text().count("\n") == 2  # header + one run
    assert (folder / "figures" / "loss_curves.png").exists()
    assert "1 runs" in capsys.readouterr().out
