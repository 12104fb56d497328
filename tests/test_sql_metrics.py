"""The bulk SQLite metric path stores exactly what MLflow's own log_batch stores."""

from __future__ import annotations

import contextlib
import math
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
from mlflow.entities import Metric

from vgx.store.sql_metrics import SqliteMetricWriter
from vgx.store.tracking import RunRecorder, mlflow_client, runs_written_together, start_sweep

KEYS = ("loss/train", "grad_norm/layer_1", "weight_change/layer_1")


def _batches() -> list[list[Metric]]:
    """Two flushes as a run sends them, with what makes the latest-value logic non-trivial: NaN
    and infinite values, a repeated value, a step sent again later, a tie on step."""
    first = [
        Metric(k, float(step * (i + 1)), 1000 + step, step)
        for step in range(5)
        for i, k in enumerate(KEYS)
    ]
    first.append(Metric("loss/train", math.nan, 2000, 5))
    first.append(Metric("grad_norm/layer_1", math.inf, 2000, 5))
    first.append(Metric("weight_change/layer_1", -math.inf, 2000, 5))
    second = [first[0], first[1]]  # a cut-off flush sent again: no duplicate rows
    second.append(Metric("loss/train", 7.0, 3000, 6))
    second.append(Metric("grad_norm/layer_1", 9.0, 1500, 4))  # older step: not the latest
    second.append(Metric("weight_change/layer_1", 3.0, 2000, 5))  # ties step and timestamp
    second.append(Metric("weight_change/layer_1", 2.0, 2000, 5))
    return [first, second]


def _stored(client, run_id: str) -> tuple[dict, dict]:  # noqa: ANN001
    histories = {}
    for key in KEYS:
        rows = client.get_metric_history(run_id, key)
        histories[key] = sorted(
            (m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value) for m in rows
        )
    return histories, client.get_run(run_id).data.metrics


def test_bulk_writes_what_log_batch_writes(store_uri: str) -> None:
    client = mlflow_client(store_uri)
    writer = SqliteMetricWriter.for_client(client)
    assert writer is not None
    experiment = client.create_experiment("bulk")
    ours = client.create_run(experiment).info.run_id
    theirs = client.create_run(experiment).info.run_id
    for batch in _batches():
        writer.write(ours, [(m.key, m.value, m.timestamp, m.step) for m in batch])
        client.log_batch(theirs, metrics=batch)
    our_history, our_latest = _stored(client, ours)
    their_history, their_latest = _stored(client, theirs)
    assert our_history == their_history
    assert len(our_history["loss/train"]) == 7  # five steps, NaN, step 6: nothing twice
    assert our_latest.keys() == their_latest.keys()
    for key in their_latest:
        assert our_latest[key] == pytest.approx(their_latest[key], nan_ok=True), key
    assert our_latest["loss/train"] == 7.0


def test_a_recorded_run_reads_back_every_value(store_uri: str) -> None:
    recorder = RunRecorder(store_uri, "bulk")
    run_id = recorder.start("r", {"depth": "3"}, {})
    for epoch in range(50):
        recorder.log_epoch(epoch, {k: epoch + 0.5 for k in KEYS})
    recorder.finish("finished", {}, None)
    client = mlflow_client(store_uri)
    for key in KEYS:
        history = client.get_metric_history(run_id, key)
        assert sorted(m.step for m in history) == list(range(50))
    assert client.get_run(run_id).data.metrics["loss/train"] == 49.5


def test_other_stores_keep_log_batch(tmp_path) -> None:  # noqa: ANN001
    class NotSql:
        class _tracking_client:  # noqa: N801 - mimics MlflowClient's attribute
            store = object()

    assert SqliteMetricWriter.for_client(NotSql()) is None


def test_a_schema_it_does_not_know_falls_back_to_log_batch_with_one_warning(
    store_uri, monkeypatch, capsys
):
    from vgx.store import sql_metrics

    client = mlflow_client(store_uri)
    assert SqliteMetricWriter.for_client(client) is not None
    monkeypatch.setattr(sql_metrics, "COLUMNS", (*sql_metrics.COLUMNS, "renamed_column"))
    assert SqliteMetricWriter.for_client(client) is None
    assert SqliteMetricWriter.for_client(client) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "renamed_column" in err[0] and "log_batch" in err[0]
    recorder = RunRecorder(store_uri, "vgx")  # and a run still records every value
    run_id = recorder.start("fallback", {}, {})
    assert recorder._sqlite is None
    recorder.log_epoch(0, {"loss/train": 0.5})
    recorder.log_epoch(1, {"loss/train": 0.25})
    recorder.finish("finished", {}, None)
    assert [m.value for m in client.get_metric_history(run_id, "loss/train")] == [0.5, 0.25]


def _rows(database: Path, run_id: str) -> dict[str, list]:
    """A run's rows in MLflow's tables, its id and artifact folder written as <run>."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        out = {}
        for table in ("runs", "tags", "params", "metrics", "latest_metrics"):
            rows = db.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (run_id,)).fetchall()
            out[table] = sorted(
                tuple(v.replace(run_id, "<run>") if isinstance(v, str) else v for v in row)
                for row in rows
            )
    return out


def _record(uri: str, tmp_path: Path, label: str, whole: bool, epochs: int = 4) -> str:
    """A diverged run with NaN and infinite values recorded by a RunRecorder; its id."""
    values = [{"loss/train": 1.0 / (e + 1), "grad_norm/layer_1": e * 0.5} for e in range(4)]
    values[2]["loss/train"] = math.nan
    values[3]["grad_norm/layer_1"] = math.inf
    artifacts = tmp_path / f"artifacts-{label}"
    artifacts.mkdir()
    (artifacts / "history.csv").write_text("epoch\n0\n")
    recorder = RunRecorder(uri, "whole", whole=whole)
    params = {"depth": "3", "optimizer.lr": "0.1"}
    recorder.start("d3", params, {"config_hash": "abc"}, parent="p0", started_ms=1000)
    for epoch, row in enumerate(values[:epochs]):
        recorder.log_epoch(epoch, row)
    if epochs:
        recorder.log_epoch(3, {"loss/test": 0.3})
    end_tags = {"diverged_epoch": "3", "mlflow.note.content": "**d3 diverged**"}
    recorder.finish("diverged", end_tags, artifacts, ended_ms=5000)
    return recorder.run_id


def test_a_whole_run_in_one_transaction_is_what_mlflows_calls_write(tmp_path, monkeypatch):
    database = tmp_path / "mlflow.db"
    uri = f"sqlite:///{database}"
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)  # equal timestamps both ways
    run_ids = {whole: _record(uri, tmp_path, str(whole), whole) for whole in (False, True)}
    by_calls, whole = _rows(database, run_ids[False]), _rows(database, run_ids[True])
    assert whole == by_calls
    assert len(whole["metrics"]) == 9 and whole["runs"][0][6] == "FINISHED"
    client = mlflow_client(uri)
    listed = [[a.path for a in client.list_artifacts(run_ids[w])] for w in (False, True)]
    assert listed[0] == listed[1] == ["history.csv"]


def test_whole_runs_written_together_are_what_mlflows_calls_write(tmp_path, monkeypatch):
    database = tmp_path / "mlflow.db"
    uri = f"sqlite:///{database}"
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    by_calls = _rows(database, _record(uri, tmp_path, "calls", whole=False))
    empty = _rows(database, _record(uri, tmp_path, "calls-empty", whole=False, epochs=0))
    counted = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(runs_written_together(size=3))
        original = SqliteMetricWriter.write_runs
        monkeypatch.setattr(
            SqliteMetricWriter,
            "write_runs",
            lambda self, runs: counted.append(len(runs)) or original(self, runs),
        )
        together = [_record(uri, tmp_path, "together-empty", whole=True, epochs=0)]
        together += [_record(uri, tmp_path, f"together{i}", whole=True) for i in range(3)]
        assert counted == [3]  # the first three, once there were three
    assert counted == [3, 1]  # the rest on the way out
    assert [_rows(database, run_id) for run_id in together] == [empty] + [by_calls] * 3


def test_runs_waiting_to_be_written_together_are_written_when_a_later_one_fails(tmp_path):
    database = tmp_path / "mlflow.db"
    uri = f"sqlite:///{database}"
    with pytest.raises(RuntimeError), runs_written_together(size=4):
        written = _record(uri, tmp_path, "first", whole=True)
        raise RuntimeError("the next run's recording failed")
    assert len(_rows(database, written)["metrics"]) == 9


def test_a_sweeps_parent_made_under_a_chosen_id_is_what_mlflows_calls_make(tmp_path, monkeypatch):
    database = tmp_path / "mlflow.db"
    uri = f"sqlite:///{database}"
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    by_mlflow = start_sweep(uri, "sweeps", ["depth=2,3", "seed=0"], "init")
    chosen = uuid.uuid4().hex
    assert start_sweep(uri, "sweeps", ["depth=2,3", "seed=0"], "init", run_id=chosen) == chosen
    assert _rows(database, chosen) == _rows(database, by_mlflow)
    assert _rows(database, chosen)["runs"][0][6] == "RUNNING"


def test_a_store_that_cannot_take_the_chosen_id_gives_the_parent_one_of_mlflows(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(SqliteMetricWriter, "for_client", classmethod(lambda cls, client: None))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    chosen = uuid.uuid4().hex
    made = start_sweep(uri, "sweeps", ["depth=2,3"], run_id=chosen)
    assert made != chosen
    assert mlflow_client(uri).get_run(made).data.tags["vgx.kind"] == "sweep"
