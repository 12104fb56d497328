"""Where a batched sweep's stacks train: local worker processes, submitit's jobs. Whichever
trains a stack, every run is recorded once with the history it has alone; a stack that fails
marks only its own runs failed and the sweep names it."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import compose_config
from vgx.cli import main
from vgx.core.loop import train_run
from vgx.store.tracking import start_sweep
from vgx.sweeps.stacks import Stack, StackRun
from vgx.sweeps.workers import LocalWorkers

TOLERANCE = 1e-4  # a stacked run against the same run alone (tests/test_batched.py)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def _children(uri: str, experiment: str = "vgx") -> list:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id])
    return [r for r in runs if r.data.tags.get("vgx.kind") != "sweep"]


def _assert_history_as_alone(uri: str, run, overrides: list[str]) -> None:
    alone = train_run(compose_config(["progress=false", *overrides])[0])
    client = MlflowClient(uri)
    for key in ("loss/train", "grad_norm/layer_1", "weight_change/layer_1"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == list(range(len(alone.history)))
        for metric in history:
            assert metric.value == pytest.approx(
                alone.history[metric.step][key], rel=TOLERANCE, abs=1e-7
            ), key


def _stack_runs(tmp_path: Path, uri: str, parent: str, seeds, activation=None) -> list[StackRun]:
    runs = []
    for seed in seeds:
        overrides = [f"seed={seed}", "epochs=2", "progress=false"]
        cfg, resolved = compose_config([*overrides, f"tracking.parent_run_id={parent}"])
        if activation is not None:  # what validation refuses, given to the stack behind its back
            cfg = dataclasses.replace(
                cfg, activation=dataclasses.replace(cfg.activation, name=activation)
            )
        runs.append(
            StackRun(seed, cfg, resolved, tmp_path / f"job{seed}", uri, f"s{seed}", overrides)
        )
    return runs


@pytest.mark.parametrize(
    "record_in_worker_from",
    [pytest.param(1, marks=pytest.mark.slow), 100],  # workers record stacks of 32 runs or more
    ids=["worker records", "sweep records"],
)
def test_a_failing_stack_marks_only_its_own_runs_failed(tmp_path, record_in_worker_from):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = start_sweep(uri, "vgx", ["seed=0,1,2,3"])
    good = Stack(1, 2, _stack_runs(tmp_path, uri, parent, [0, 1]))
    bad = Stack(2, 2, _stack_runs(tmp_path, uri, parent, [2, 3], activation="no_such_function"))
    heard = []
    workers = LocalWorkers(2, record_in_worker_from)
    outcomes = workers.run([good, bad], heard.append, say=lambda line: None)
    assert sorted(o.number for o in heard) == [1, 2]
    by_number = {o.number: o for o in outcomes}
    assert not by_number[1].failed and set(by_number[1].losses) == {0, 1}
    assert all(math.isfinite(v) for v in by_number[1].losses.values())
    assert by_number[2].failed and "no_such_function" in by_number[2].error
    runs = {r.info.run_name: r for r in _children(uri)}
    assert sorted(runs) == ["s0", "s1", "s2", "s3"]  # each once
    assert {runs[n].info.status for n in ("s0", "s1")} == {"FINISHED"}
    assert {runs[n].info.status for n in ("s2", "s3")} == {"FAILED"}
    assert "no_such_function" in runs["s2"].data.tags["vgx.error"]
    assert runs["s2"].data.tags["mlflow.parentRunId"] == parent
    _assert_history_as_alone(uri, runs["s1"], ["seed=1", "epochs=2"])


def test_stacks_on_local_workers_record_every_job_once_as_alone(workdir, capsys):
    args = ["train", "-m", "hydra/launcher=batched", "hydra.launcher.max_batch=2"]
    assert main([*args, "seed=0,1,2,3", "epochs=2", "progress=false"]) == 0
    out = capsys.readouterr().out
    assert out.count("training in worker pid") == 2  # two stacks, on workers
    uri = f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}"
    runs = _children(uri)
    assert sorted(r.info.run_name for r in runs) == ["s0", "s1", "s2", "s3"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    (third,) = [r for r in runs if r.info.run_name == "s2"]
    _assert_history_as_alone(uri, third, ["seed=2", "epochs=2"])


def test_an_executor_vgx_does_not_have_is_one_line(workdir, capsys):
    args = ["train", "-m", "hydra/launcher=batched", "hydra.launcher.executor=ray", "seed=0,1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "hydra.launcher.executor='ray'" in err and "local or submitit" in err
    assert len(err.strip().splitlines()) == 1
    assert not (workdir / "outputs" / "mlflow.db").exists()  # refused before the parent run


@pytest.mark.slow
def test_stacks_as_submitit_local_jobs_record_every_job_once_as_alone(workdir):
    args = ["train", "-m", "hydra/launcher=batched", "hydra.launcher.max_batch=2"]
    local = ["hydra.launcher.executor=submitit", "hydra.launcher.submitit.cluster=local"]
    assert main([*args, *local, "seed=0,1,2", "epochs=2", "progress=false"]) == 0
    uri = f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}"
    runs = _children(uri)
    assert sorted(r.info.run_name for r in runs) == ["s0", "s1", "s2"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    hosts = {r.data.tags.get("vgx.owner") for r in runs}
    assert len(hosts) == 2  # two jobs, two processes: one a stack
    (last,) = [r for r in runs if r.info.run_name == "s2"]
    _assert_history_as_alone(uri, last, ["seed=2", "epochs=2"])
    assert list(
        (workdir / "outputs" / "sweeps").glob("*/*/.submitit/*/*_log.out")
    )  # submitit's own logs


@pytest.mark.slow
def test_a_worker_killed_fails_its_stack_alone_and_the_sweep_says_which(workdir):
    command = [sys.executable, "-m", "vgx.cli", "train", "-m", "hydra/launcher=batched"]
    command += ["hydra.launcher.max_batch=2", "seed=0,1,2,3", "epochs=300", "progress=false"]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: dict[str, int] = {}
    deadline = time.monotonic() + 120
    while len(workers) < 2 and time.monotonic() < deadline:
        line = sweep.stdout.readline()
        if "training in worker pid" in line:
            stack = line.split()[2]  # "1/2"
            workers[stack] = int(line.rsplit(" ", 1)[1])
    assert len(workers) == 2, "the two stacks did not start"
    os.kill(workers["2/2"], signal.SIGKILL)
    out, err = sweep.communicate(timeout=240)
    assert sweep.returncode == 1, err
    assert "1 of 2 stacks failed" in err and "stack 2 (s2, s3)" in err
    assert f"pid {workers['2/2']}) died" in err
    runs = {r.info.run_name: r for r in _children(f"sqlite:///{workdir / 'outputs/mlflow.db'}")}
    assert sorted(runs) == ["s0", "s1", "s2", "s3"]
    assert {runs[n].info.status for n in ("s0", "s1")} == {"FINISHED"}
    assert {runs[n].info.status for n in ("s2", "s3")} == {"FAILED"}
    with pytest.raises(ProcessLookupError):  # the other worker is gone too
        os.kill(workers["1/2"], 0)


@pytest.mark.slow
def test_a_signal_stops_the_workers_stacks_and_records_their_runs_as_interrupted(workdir):
    command = [sys.executable, "-m", "vgx.cli", "train", "-m", "hydra/launcher=batched"]
    command += ["hydra.launcher.max_batch=2", "seed=0,1,2,3", "epochs=2000", "progress=false"]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while len(workers) < 2 and time.monotonic() < deadline:
        line = sweep.stdout.readline()
        if "training in worker pid" in line:
            workers.append(int(line.rsplit(" ", 1)[1]))
    assert len(workers) == 2, "the two stacks did not start"
    time.sleep(3)  # some epochs measured
    sweep.send_signal(signal.SIGTERM)  # as `timeout` or systemd would send it
    out, err = sweep.communicate(timeout=240)
    assert sweep.returncode == 130, err
    assert "interrupted; what was recorded is kept" in err
    uri = f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}"
    runs = {r.info.run_name: r for r in _children(uri)}
    assert sorted(runs) == ["s0", "s1", "s2", "s3"]
    assert {r.info.status for r in runs.values()} == {"KILLED"}
    assert {r.data.tags["status"] for r in runs.values()} == {"interrupted"}
    client = MlflowClient(uri)
    for run in runs.values():  # what was measured before the signal is kept, each epoch once
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss/train")]
        assert 1 < len(steps) < 2001 and len(steps) == len(set(steps))
    for pid in workers:  # the workers are gone with the sweep
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
