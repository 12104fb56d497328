"""The recording process: records what inline recording records, outlives Ctrl-C, and closes a
run whose trainer died with every epoch it was sent."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from mlflow.tracking import MlflowClient

from vgx.analysis.commands import report_command
from vgx.errors import UsageError
from vgx.store import recording
from vgx.store.recording import BackgroundRecorder, background
from vgx.store.tracking import start_sweep
from vgx.sweeps.batched import plan_chunks
from vgx.sweeps.job import run_experiment


@pytest.fixture(autouse=True)
def _records_in_background(monkeypatch):
    """This test process records as the `vgx` command does: in a recording process."""
    monkeypatch.setattr(recording, "_enabled", True)


def _recorded(uri: str, run_id: str) -> tuple[dict, dict, dict, list[str]]:
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    histories = {
        key: [
            (m.step, m.value)
            for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
        ]
        for key in run.data.metrics
    }
    tags = {
        k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.") and k != "vgx.owner"
    }
    files = [f.path for f in client.list_artifacts(run_id)]
    files += [f.path for f in client.list_artifacts(run_id, "figures")]
    return run.data.params, tags, histories, sorted(files)


def test_background_records_what_inline_records(small_config, store_uri, tmp_path, monkeypatch):
    cfg, resolved = small_config("depth=3")
    monkeypatch.setattr(recording, "_enabled", True)
    background = run_experiment(cfg, resolved, tmp_path / "a", store_uri)
    monkeypatch.setenv("VGX_BACKGROUND_RECORDING", "0")
    inline = run_experiment(cfg, resolved, tmp_path / "b", store_uri)
    ours, theirs = _recorded(store_uri, background.run_id), _recorded(store_uri, inline.run_id)
    assert ours[0] == theirs[0]  # params
    assert ours[1] == theirs[1]  # tags, status and config_hash included
    assert ours[2].keys() == theirs[2].keys()
    for key, history in theirs[2].items():
        once = key.endswith(("/test", "/constant")) or key.startswith("jacobian/")  # end, epoch 0
        assert len(history) == (1 if once else 4), key  # 0..3
        for (s1, v1), (s2, v2) in zip(ours[2][key], history, strict=True):
            assert s1 == s2 and (v1 == v2 or (math.isnan(v1) and math.isnan(v2))), key
    assert ours[3] == theirs[3]
    assert "figures/grad_norm_heatmap.png" in ours[3]
    assert MlflowClient(store_uri).get_run(background.run_id).info.status == "FINISHED"


def test_the_recording_process_ignores_ctrl_c(store_uri):
    process = background()
    assert process is not None
    os.kill(process.process.pid, signal.SIGINT)
    time.sleep(0.5)
    assert process.alive()
    recorder = BackgroundRecorder(process, store_uri, "signals")
    recorder.start("r", {}, {})
    recorder.log_epoch(0, {"loss/train": 1.0})
    recorder.finish("finished", {}, None)
    assert MlflowClient(store_uri).get_run(recorder.run_id).data.metrics["loss/train"] == 1.0


def test_a_store_mistake_reaches_the_trainer_as_one_line(store_uri):
    client = MlflowClient(store_uri)
    client.delete_experiment(client.create_experiment("gone"))
    recorder = BackgroundRecorder(background(), store_uri, "gone")
    recorder.start("r", {}, {})
    with pytest.raises(UsageError, match="deleted"):
        for epoch in range(200):
            recorder.log_epoch(epoch, {"loss/train": 1.0})
            time.sleep(0.05)
        recorder.finish("finished", {}, None)
    assert recorder.finish("failed", {}, None) == {}  # raised once; closing after it is quiet


def test_a_dead_trainer_leaves_a_closed_run_with_every_epoch_it_sent(store_uri, tmp_path):
    script = textwrap.dedent(
        f"""
        import os
        from vgx.store.recording import BackgroundRecorder, background, start_background
        start_background()
        process = background()
        recorder = BackgroundRecorder(process, {store_uri!r}, "orphan")
        recorder.start("r", {{}}, {{}})
        for epoch in range(5):
            recorder.log_epoch(epoch, {{"loss/train": float(epoch)}})
        print(process.process.pid, flush=True)
        os._exit(1)  # no finish: killed mid-run
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _exists(child):
        time.sleep(0.2)
    client = MlflowClient(store_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("orphan").experiment_id])
    assert run.info.status == "KILLED"
    assert run.data.tags["status"] == "interrupted"
    history = client.get_metric_history(run.info.run_id, "loss/train")
    assert sorted(m.step for m in history) == [0, 1, 2, 3, 4]


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _history(seed: int, depth: int, epochs: int) -> list[dict[str, float]]:
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(epochs):
        row = {f"grad_norm/layer_{i}": rng.random() * 10.0**-i for i in range(1, depth + 1)}
        row.update({k: rng.random() * (seed + 1) for k in ("loss/train", "loss/val")})
        row["weight_change/layer_1"] = rng.random() * 3
        rows.append(row)
    return rows


def test_reused_figure_canvases_draw_what_fresh_ones_draw(tmp_path):
    from vgx.store import run_figures as figures

    first, second = _history(0, 4, 30), _history(1, 4, 12)
    figures.run_figures(first, 4, "first", tmp_path / "first")
    reused = figures.run_figures(second, 4, "second", tmp_path / "reused")
    figures._CANVASES.clear()
    fresh = figures.run_figures(second, 4, "second", tmp_path / "fresh")
    for a, b in zip(reused, fresh, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    nan_row = {k: math.nan for k in second[0]}
    blank = figures.run_figures([nan_row] * 3, 4, "diverged", tmp_path / "nan")
    assert all(p.stat().st_size > 0 for p in blank)


def test_a_call_returns_its_value_and_raises_its_error(store_uri):
    process = background()
    made = process.call(start_sweep, store_uri, "calls", ["seed=1,2"])
    parent = made()
    assert MlflowClient(store_uri).get_run(parent).data.tags["vgx.kind"] == "sweep"
    assert process.call(plan_chunks, [], 8, 1)() == []  # no jobs: an empty plan
    refused = process.call(report_command, ["--uri", store_uri, "--sweep", "nope"])
    with pytest.raises(UsageError, match="nope"):
        refused()
    broken = process.call(start_sweep)  # a bug: missing arguments
    with pytest.raises(recording.RecordingFailed, match="TypeError"):
        broken()
    assert process.call(plan_chunks, [], 8, 1)() == []  # and it goes on


def test_a_batched_sweep_leaves_mlflow_to_the_recording_process(tmp_path):
    """The launcher's process trains; MLflow's import (~2 s) and writes happen beside it."""
    script = textwrap.dedent(
        """
        import sys
        from vgx.cli import main
        code = main(["train", "-m", "hydra/launcher=batched", "seed=1,2", "epochs=2"])
        print("exit", code, "mlflow imported:", "mlflow" in sys.modules)
        """
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "exit 0 mlflow imported: False" in done.stdout, done.stderr[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert sorted(r.data.tags.get("vgx.kind", "run") for r in runs) == ["run", "run", "sweep"]
    assert all(r.info.status == "FINISHED" for r in runs)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    for run in children:
        assert len(client.get_metric_history(run.info.run_id, "loss/train")) == 3


def test_a_history_file_is_what_the_csv_module_writes(tmp_path):
    import csv
    import math

    import numpy as np

    from vgx.store.history import write_history

    history = [
        {"loss/train": 0.1, "grad_norm/layer_1": math.nan, "acc/train": 1},
        {"loss/train": math.inf, "acc/train": np.float32(0.25)},  # a key missing
        {"loss/train": -1e-300, "grad_norm/layer_1": np.float64(2.0) / 3, "acc/train": 0.0},
    ]
    written = write_history(history, tmp_path / "history.csv").read_bytes()
    with (tmp_path / "by_csv.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", *history[0]])
        for epoch, row in enumerate(history):
            writer.writerow([epoch, *(row.get(k, "") for k in history[0])])
    assert written == (tmp_path / "by_csv.csv").read_bytes()
    assert write_history([], tmp_path / "empty.csv").read_bytes() == b"epoch\r\n"
