"""Interruptions and a tracking server that goes away: nothing recorded is lost, errors are fast."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from vgx.cli import EXIT_INTERRUPTED


def _wait_for(condition, timeout: float, what: str, process: subprocess.Popen | None = None):
    """condition()'s first true value; fails at once with the process's output if it ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"vgx ended ({process.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(0.3)
    output = ""
    if process is not None:
        process.kill()
        output = "\n".join(process.communicate())
    raise AssertionError(f"timed out waiting for {what}\n{output}")


def _runs(uri: str):
    client = MlflowClient(uri)
    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
        return client.search_runs(experiments) if experiments else []
    except Exception:  # the store is being created by the other process
        return []


def _metric_recorded(database: Path, key: str) -> bool:
    """Read-only: the test must not create the store that the process under test is creating."""
    if not database.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            query = "SELECT 1 FROM metrics WHERE key = ? LIMIT 1"
            return db.execute(query, (key,)).fetchone() is not None
    except sqlite3.Error:  # no tables yet
        return False


def _signal_once_training(args: list[str], sig: signal.Signals, uri: str, cwd: Path):
    """Start `vgx ARGS`, send `sig` once its first metrics are in the store; (exit code, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vgx.cli", *args],
        cwd=cwd,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri, "VGX_FLUSH_SECONDS": "0.5"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(
            lambda: _metric_recorded(Path(uri.removeprefix("sqlite:///")), "loss/train"),
            120,
            "the first metrics",
            process,
        )
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, err


@pytest.mark.parametrize(
    "sig",
    [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM],  # and Ctrl-C below
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_marks_the_run_killed_and_keeps_what_it_recorded(sig, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["train", "epochs=100000", "depth=3", "width=8"]
    returncode, err = _signal_once_training(args, sig, uri, tmp_path)
    assert returncode == EXIT_INTERRUPTED, err
    assert "interrupted; what was recorded is kept" in err
    (run,) = _runs(uri)
    assert run.info.status == "KILLED"
    assert run.data.tags["status"] == "interrupted"
    client = MlflowClient(uri)
    steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "loss/train"))
    history = Path(client.download_artifacts(run.info.run_id, "history.csv", str(tmp_path)))
    epochs_in_history = len(history.read_text().splitlines()) - 1
    assert epochs_in_history >= 1
    assert steps == list(range(epochs_in_history))  # every epoch it measured is in MLflow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_runs_record_to_a_server_and_a_stopped_server_fails_within_seconds(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--default-artifact-root",
            str(tmp_path / "artifacts"),
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    sweep = None
    try:
        _wait_for(lambda: _healthy(url), 90, "mlflow server")
        env = {**os.environ, "MLFLOW_TRACKING_URI": url}
        sweep = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vgx.cli",
                "train",
                "-m",
                "seed=range(0,40)",
                "epochs=30",
                "depth=3",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(
            lambda: any(r.data.tags.get("status") == "finished" for r in _runs(url)),
            180,
            "a first finished run on the server",
        )
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        stopped = time.monotonic()
        _, err = sweep.communicate(timeout=120)
        elapsed = time.monotonic() - stopped
    finally:
        if sweep is not None:
            sweep.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
    assert sweep.returncode != 0
    assert "tracking server stopped answering" in err.strip().splitlines()[-1]
    assert elapsed < 60, elapsed
    Path(tmp_path / "elapsed.txt").write_text(f"{elapsed:.1f}")
    print(f"vgx stopped {elapsed:.1f} s after the server")


@pytest.mark.slow
def test_two_parallel_sweeps_into_one_store_lose_nothing(tmp_path):
    """Two joblib sweeps of 2 workers each write the same SQLite store at once."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    assert (
        subprocess.run(  # the store's tables, so that the two sweeps race only on writes
            [sys.executable, "-m", "vgx.cli", "train", "epochs=1", "depth=2"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=300,
        ).returncode
        == 0
    )
    sweeps = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vgx.cli",
                "train",
                "-m",
                "hydra/launcher=joblib",
                "hydra.launcher.n_jobs=2",
                f"seed={seeds}",
                "epochs=5",
                "depth=3",
                f"hydra.sweep.dir={tmp_path / name}",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, seeds in (("a", "0,1,2,3"), ("b", "4,5,6,7"))
    ]
    errors = [sweep.communicate(timeout=600)[1] for sweep in sweeps]
    assert [s.returncode for s in sweeps] == [0, 0], errors
    assert not any("locked" in e for e in errors)
    runs = [r for r in _runs(uri) if r.data.tags.get("vgx.kind") != "sweep"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 8
    client = MlflowClient(uri)
    written = 0
    for run in children:
        assert run.data.tags["status"] == "finished"
        for key in run.data.metrics:
            if key in ("loss/test", "acc/test", "loss/constant"):  # once, at the end
                continue
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            once = key.startswith("jacobian/")  # the untrained net's only
            assert sorted(steps) == ([0] if once else list(range(6))), key
            written += len(steps)
    print(f"{len(children)} runs, {written} metric values, all present")


def test_ctrl_c_stops_a_sweep_cleanly(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["train", "-m", "seed=0,1,2", "epochs=100000", "depth=3", "width=8"]
    returncode, err = _signal_once_training(args, signal.SIGINT, uri, tmp_path)
    assert returncode == EXIT_INTERRUPTED, err
    runs = _runs(uri)
    assert all(r.info.status != "RUNNING" for r in runs)
    (parent,) = [r for r in runs if r.data.tags.get("vgx.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("vgx.kind") != "sweep"]
    assert parent.info.status == "KILLED" and parent.data.tags["status"] == "interrupted"
    assert len(children) == 1  # the jobs after the interrupted one never started
    assert children[0].data.tags["status"] == "interrupted"
