"""Runs read back from MLflow into pandas: one row per run, and each run's per-epoch history."""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vgx.config import BOOKKEEPING_KEYS
from vgx.errors import UsageError


@dataclass
class Runs:
    """The selected runs, one row each, and their per-epoch histories keyed by run id."""

    table: pd.DataFrame
    histories: dict[str, pd.DataFrame]
    varied: list[str]  # param keys that differ between the runs


def _client(uri: str):
    from vgx.store.tracking import check_reachable, mlflow_client, reconcile_once

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # one bar per run is noise
    check_reachable(uri)
    client = mlflow_client(uri)
    closed = reconcile_once(client, uri)
    if closed:
        print(f"vgx: {len(closed)} runs left running by a process that is gone: now interrupted")
    return client


def latest_sweep(uri: str) -> str | None:
    from vgx.store.tracking import latest_sweep_run

    client = _client(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = latest_sweep_run(client, experiments) if experiments else None
    return found.info.run_id if found else None


def load_runs(
    uri: str,
    experiment: str | None = None,
    sweep: str | None = None,
    filter_string: str | None = None,
) -> Runs:
    """Select runs by experiment, sweep (parent run id) and/or an MLflow filter string."""
    from vgx.store.tracking import StoreRefused, find_run, runs_table

    client = _client(uri)
    if sweep:
        parent = find_run(client, sweep)
        if parent is None:
            raise UsageError(f"--sweep={sweep}: no such run in {uri}")
        experiment_ids = [parent.info.experiment_id]
    elif experiment:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise UsageError(f"--experiment={experiment!r}: unknown; existing: {names}")
        experiment_ids = [found.experiment_id]
    else:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
    try:
        table = runs_table(uri, experiment_ids, filter_string or "", sweep or None)
    except StoreRefused as exc:
        raise UsageError(f"--filter={filter_string!r}: MLflow refused it ({exc})") from None
    if "tags.vgx.kind" in table.columns:
        table = table[table["tags.vgx.kind"] != "sweep"]
    if table.empty:
        what = f"sweep {sweep}" if sweep else f"experiment {experiment!r}" if experiment else uri
        extra = f" with filter {filter_string!r}" if filter_string else ""
        raise UsageError(f"no runs found in {what}{extra}")
    table = table.reset_index(drop=True)
    histories = _histories(client, list(zip(table["run_id"], table["artifact_uri"], strict=True)))
    return Runs(table, histories, varied_keys(table))


def load_run(uri: str, run_id: str) -> tuple[object, pd.DataFrame]:
    """One run (MLflow's Run) and its per-epoch history."""
    from vgx.store.tracking import find_run

    client = _client(uri)
    run = find_run(client, run_id)
    if run is None:
        raise UsageError(f"--run={run_id}: no such run in {uri}")
    history = _history(client, run.info.run_id, run.info.artifact_uri)
    if history.empty:
        raise UsageError(f"--run={run_id}: the run has no history.csv (it failed before training)")
    return run, history


def _history(client, run_id: str, artifact_uri: str) -> pd.DataFrame:  # noqa: ANN001
    """The run's per-epoch metrics, from its history.csv artifact: read in place where the
    artifacts are local files (a download through MLflow took ~30 ms a run), else downloaded."""
    local = _local_folder(artifact_uri)
    if local is not None:
        path = local / "history.csv"
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "history.csv", tmp)
        except Exception:  # a run without the artifact (failed early): no curves for it
            return pd.DataFrame()
        return pd.read_csv(path)


def _histories(client, runs: list[tuple[str, str]]) -> dict[str, pd.DataFrame]:  # noqa: ANN001
    """`_history` of each (run id, artifact URI). The local files with the same columns are
    parsed in one go: a `read_csv` call costs ~4 ms however short its file, 4 s of a
    1,000-run sweep's report; one call over all their rows takes half of that. (A column's
    type is then that of all its files: integers beside decimals read as decimals.)"""
    histories: dict[str, pd.DataFrame] = {}
    same_columns: dict[str, list[tuple[str, str, str]]] = {}  # header -> (run, URI, rows)
    for run_id, artifact_uri in runs:
        local = _local_folder(artifact_uri)
        path = local / "history.csv" if local is not None else None
        text = path.read_text() if path is not None and path.is_file() else ""
        header, _, rows = text.partition("\n")
        if rows.endswith("\n"):  # as vgx writes it: a row a line
            same_columns.setdefault(header, []).append((run_id, artifact_uri, rows))
        else:
            histories[run_id] = _history(client, run_id, artifact_uri)
    for header, files in same_columns.items():
        counts = [rows.count("\n") for _, _, rows in files]
        together = pd.read_csv(io.StringIO(header + "\n" + "".join(f[2] for f in files)))
        if len(together) != sum(counts):  # a blank line somewhere: each file on its own
            for run_id, artifact_uri, _ in files:
                histories[run_id] = _history(client, run_id, artifact_uri)
            continue
        start = 0
        for (run_id, _, _), count in zip(files, counts, strict=True):
            history = together.iloc[start : start + count]  # a view: not copied unless changed
            history.index = pd.RangeIndex(count)
            histories[run_id] = history
            start += count
    return {run_id: histories[run_id] for run_id, _ in runs}


def _local_folder(artifact_uri: str) -> Path | None:
    """The folder of a `file:` (or plain path) artifact URI; None for a remote store."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "" and artifact_uri:
        return Path(artifact_uri)
    return None


def varied_keys(table: pd.DataFrame) -> list[str]:
    keys = []
    for column in table.columns:
        if not column.startswith("params."):
            continue
        key = column.removeprefix("params.")
        if key.split(".")[0] in BOOKKEEPING_KEYS:
            continue
        if table[column].astype(str).nunique() > 1:
            keys.append(key)
    return keys


def label(row: pd.Series, varied: list[str]) -> str:
    """What tells this run apart from the others: `depth=6, regularizer.lam=0.01`."""
    parts = [f"{key.removesuffix('.name')}={row.get('params.' + key)}" for key in varied]
    return ", ".join(parts) or str(row.get("tags.mlflow.runName", row["run_id"][:8]))
