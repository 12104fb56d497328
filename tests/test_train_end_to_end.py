"""`vgx train` end to end: in-process through Hydra's compose API, once as a subprocess, then the
run read back from MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from vgx.sweeps.identity import config_hash
from vgx.sweeps.job import run_experiment

EPOCHS = 3


def _per_layer_keys(depth: int) -> set[str]:
    keys = {"loss/train", "loss/val", "acc/train", "acc/val", "loss/penalty"}
    for i in range(1, depth + 1):
        keys |= {f"grad_norm/layer_{i}", f"delta_norm/layer_{i}"}
        keys |= {f"weight_change/layer_{i}", f"update_ratio/layer_{i}"}
        keys |= {f"weight_norm/layer_{i}", f"near_zero/layer_{i}"}
    for i in range(1, depth):  # hidden layers only
        keys |= {f"saturation/layer_{i}", f"dead/layer_{i}"}
    return keys


def _only_run(uri: str):
    client = MlflowClient(uri)
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments])
    assert len(runs) == 1
    return client, runs[0]


def test_in_process_run_records_every_metric_param_tag_and_artifact(
    small_config, store_uri, tmp_path
):
    cfg, resolved = small_config("regularizer=l2")
    outcome = run_experiment(cfg, resolved, tmp_path / "run", store_uri)
    client, run = _only_run(store_uri)
    assert run.info.run_id == outcome.run_id
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "sigmoid-d9-w10-adam-s0"
    assert run.data.tags["status"] == "finished"
    assert run.data.tags["config_hash"] == config_hash(cfg)
    assert run.data.params["depth"] == "9"
    assert run.data.params["optimizer.lr"] == "0.001"
    assert run.data.params["dataset.split"] == "[0.8, 0.1, 0.1]"  # seed 002 trains on 200
    for key in _per_layer_keys(9):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert sorted(steps) == list(range(EPOCHS + 1)), key
    assert {"loss/test", "acc/test", "loss/constant"} <= set(run.data.metrics)
    assert run.data.metrics["loss/penalty"] > 0
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "history.csv", "figures"} <= artifacts
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert figures == {
        "figures/loss_curves.png",
        "figures/grad_norm_heatmap.png",
        "figures/gradient_lines.png",
        "figures/first_layer_weight_change.png",
    }


def test_same_seed_twice_gives_identical_histories(small_config, store_uri, tmp_path):
    cfg, resolved = small_config("activation=relu", "regularizer=dropout")
    first = run_experiment(cfg, resolved, tmp_path / "a", store_uri).result.history
    second = run_experiment(cfg, resolved, tmp_path / "b", store_uri).result.history
    assert first == second


def test_another_seed_gives_another_history(small_config, store_uri, tmp_path):
    cfg, resolved = small_config()
    other, other_resolved = small_config("seed=1")
    first = run_experiment(cfg, resolved, tmp_path / "a", store_uri).result.history
    second = run_experiment(other, other_resolved, tmp_path / "b", store_uri).result.history
    assert first[0]["grad_norm/layer_1"] != second[0]["grad_norm/layer_1"]


def test_epoch_zero_describes_the_untrained_network(small_config, store_uri, tmp_path):
    cfg, resolved = small_config()
    history = run_experiment(cfg, resolved, tmp_path, store_uri).result.history
    assert history[0]["weight_change/layer_1"] == 0
    assert history[0]["update_ratio/layer_1"] == 0
    assert history[1]["weight_change/layer_1"] > 0
    # the documents' picture: seed 002's sigmoid net gets a far smaller gradient at layer 1
    assert history[0]["grad_norm/layer_1"] < history[0]["grad_norm/layer_9"] / 100


def test_divergence_is_a_result_not_a_crash(small_config, store_uri, tmp_path):
    cfg, resolved = small_config(
        "activation=relu",
        "init=normal",
        "init.std=3",
        "depth=20",
        "width=64",
        "optimizer=sgd",
        "optimizer.lr=1",
        "epochs=20",
    )
    outcome = run_experiment(cfg, resolved, tmp_path, store_uri)
    assert outcome.result.status == "diverged"
    _, run = _only_run(store_uri)
    assert run.info.status == "FINISHED"
    assert run.data.tags["status"] == "diverged"
    diverged_at = int(run.data.tags["diverged_epoch"])
    assert diverged_at < 20
    assert len(outcome.result.history) == diverged_at + 1


@pytest.mark.parametrize(
    "overrides",
    [
        # the gradient is already infinite at epoch 0: clipping cannot rescue it
        ["activation=relu", "init=normal", "init.std=3", "depth=20", "width=64", "clip=norm"],
        # batch norm keeps activations finite, an absurd step size still blows the weights up
        [
            "activation=linear",
            "init=normal",
            "init.std=3",
            "depth=30",
            "width=64",
            "norm=batch",
            "optimizer.lr=1e6",
        ],
    ],
    ids=["with-clipping", "with-batch-norm"],
)
def test_divergence_is_caught_in_any_configuration(overrides, small_config, store_uri, tmp_path):
    cfg, resolved = small_config("optimizer=sgd", *overrides)
    outcome = run_experiment(cfg, resolved, tmp_path, store_uri)
    assert outcome.result.status == "diverged"
    _, run = _only_run(store_uri)
    assert run.data.tags["status"] == "diverged"
    assert int(run.data.tags["diverged_epoch"]) == len(outcome.result.history) - 1


def test_multiclass_digits_uses_softmax_output(small_config, store_uri, tmp_path):
    cfg, resolved = small_config(
        "dataset=digits", "depth=2", "width=32", "activation=relu", "epochs=5"
    )
    result = run_experiment(cfg, resolved, tmp_path, store_uri).result
    assert result.history[-1]["acc/val"] > 0.5  # ten classes: chance is 0.1


def test_subprocess_vgx_train_prints_summary_and_records(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    done = subprocess.run(
        [sys.executable, "-m", "vgx.cli", "train", "epochs=2", "depth=4", "activation=tanh"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "tanh-d4-w10-adam-s0 finished after 2 of 2 epochs" in done.stdout
    assert "vgx ui" in done.stdout
    _, run = _only_run(uri)
    assert run.data.metrics["weight_change/layer_1"] > 0
    assert list(Path(tmp_path, "outputs", "runs").glob("*/*/artifacts/history.csv"))
