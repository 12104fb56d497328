"""`tracking.every=N`: MLflow gets every N-th epoch (always 0 and the last); history.csv all."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from vgx.cli import main
from vgx.sweeps.job import recorded_epoch


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_the_recorded_epochs_are_every_nth_with_the_first_and_the_last():
    assert [e for e in range(11) if recorded_epoch(e, 10, 4)] == [0, 4, 8, 10]
    assert [e for e in range(4) if recorded_epoch(e, 3, 1)] == [0, 1, 2, 3]


@pytest.mark.parametrize("launcher", ["basic", "batched"])
def test_a_sweep_records_exactly_the_stated_steps(workdir, launcher):
    args = ["train", "-m", f"hydra/launcher={launcher}", "seed=0,1", "epochs=7"]
    assert main([*args, "tracking.every=3", "depth=3", "progress=false"]) == 0
    client = MlflowClient(f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("vgx").experiment_id])
    children = [r for r in runs if r.data.tags.get("vgx.kind") != "sweep"]
    assert len(children) == 2
    for run in children:
        for key in ("loss/train", "grad_norm/layer_1", "weight_change/layer_1"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert sorted(steps) == [0, 3, 6, 7], key
        assert [m.step for m in client.get_metric_history(run.info.run_id, "loss/test")] == [7]
        history = client.download_artifacts(run.info.run_id, "history.csv", str(workdir))
        assert len(Path(history).read_text().splitlines()) == 1 + 8  # every epoch in the file


def test_a_run_that_stops_early_still_records_its_last_epoch(workdir):
    # plain SGD at lr 1 on a deep ReLU net with N(0, 1) weights diverges within a few epochs
    args = ["train", "activation=relu", "init=normal", "depth=12", "width=32", "optimizer=sgd"]
    assert main([*args, "optimizer.lr=1", "epochs=50", "tracking.every=20", "progress=false"]) == 0
    client = MlflowClient(f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("vgx").experiment_id])
    assert run.data.tags["status"] == "diverged"
    last = int(run.data.tags["diverged_epoch"])
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss/train")]
    assert max(steps) == last and 0 in steps
