"""`vgx report`: runs read back from MLflow into pandas, then tables, figures and diagnoses."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vgx.errors import UsageError

# Seed 003's bias/variance table, with the optimal (Bayes) error taken as ~0 on these toy sets:
# train 1% / dev 11% → high variance; 15% / 16% → high bias; 15% / 30% → both; 0.5% / 1% → neither.
BIAS_THRESHOLD = 0.05  # train error above optimal + this → high bias
VARIANCE_THRESHOLD = 0.05  # dev error above train error + this → high variance

# Params that say where a run was recorded, not what it computed: never "varied keys".
BOOKKEEPING = ("tracking.", "progress", "resume", "device")

FINAL_COLUMNS = ["loss/train", "loss/val", "loss/test", "acc/train", "acc/val", "acc/test"]


def diagnose(
    train_error: float,
    dev_error: float,
    optimal_error: float = 0.0,
    bias_threshold: float = BIAS_THRESHOLD,
    variance_threshold: float = VARIANCE_THRESHOLD,
) -> str:
    """Seed 003's labels from train and dev (validation) errors."""
    if math.isnan(train_error) or math.isnan(dev_error):
        return "no result"
    high_bias = train_error > optimal_error + bias_threshold
    high_variance = dev_error > train_error + variance_threshold
    if high_bias and high_variance:
        return "high bias and high variance"
    if high_bias:
        return "high bias"
    if high_variance:
        return "high variance"
    return "neither"


@dataclass
class Runs:
    """The selected runs, one row each, and their per-epoch histories keyed by run id."""

    table: pd.DataFrame
    histories: dict[str, pd.DataFrame]
    varied: list[str]  # param keys that differ between the runs


def _check_reachable(uri: str) -> None:
    """A tracking server that is down is said so in seconds, not after minutes of retries."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=3):
            pass
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"tracking server {uri} cannot be reached ({exc})") from None


def _client(uri: str):
    from vgx.tracking import mlflow_client

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # one bar per run is noise
    _check_reachable(uri)
    return mlflow_client(uri)


def latest_sweep(uri: str) -> str | None:
    client = _client(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return None
    found = client.search_runs(
        experiments,
        filter_string="tags.`vgx.kind` = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0].info.run_id if found else None


def load_runs(
    uri: str,
    experiment: str | None = None,
    sweep: str | None = None,
    filter_string: str | None = None,
) -> Runs:
    """Select runs by experiment, sweep (parent run id) and/or an MLflow filter string."""
    from vgx.tracking import StoreRefused, find_run, runs_table

    client = _client(uri)
    if sweep:
        parent = find_run(client, sweep)
        if parent is None:
            raise UsageError(f"--sweep={sweep}: no such run in {uri}")
        experiment_ids = [parent.info.experiment_id]
        clauses = [f"tags.sweeps LIKE '%{sweep}%'"]
    elif experiment:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise UsageError(f"--experiment={experiment!r}: unknown; existing: {names}")
        experiment_ids = [found.experiment_id]
        clauses = []
    else:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
        clauses = []
    if filter_string:
        clauses.append(filter_string)
    try:
        table = runs_table(uri, experiment_ids, " and ".join(clauses))
    except StoreRefused as exc:
        raise UsageError(f"--filter={filter_string!r}: MLflow refused it ({exc})") from None
    if "tags.vgx.kind" in table.columns:
        table = table[table["tags.vgx.kind"] != "sweep"]
    if table.empty:
        what = f"sweep {sweep}" if sweep else f"experiment {experiment!r}" if experiment else uri
        extra = f" with filter {filter_string!r}" if filter_string else ""
        raise UsageError(f"no runs found in {what}{extra}")
    table = table.reset_index(drop=True)
    histories = {
        run_id: _history(client, run_id, artifact_uri)
        for run_id, artifact_uri in zip(table["run_id"], table["artifact_uri"], strict=True)
    }
    return Runs(table, histories, varied_keys(table))


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
        if key.startswith(BOOKKEEPING):
            continue
        if table[column].astype(str).nunique() > 1:
            keys.append(key)
    return keys


def label(row: pd.Series, varied: list[str]) -> str:
    """What tells this run apart from the others: `depth=6, regularizer.lam=0.01`."""
    parts = [f"{key.removesuffix('.name')}={row.get('params.' + key)}" for key in varied]
    return ", ".join(parts) or str(row.get("tags.mlflow.runName", row["run_id"][:8]))


def summary_table(
    runs: Runs,
    bias_threshold: float = BIAS_THRESHOLD,
    variance_threshold: float = VARIANCE_THRESHOLD,
) -> pd.DataFrame:
    """One row per run: the varied params, final numbers, gradient ratio, status, diagnosis."""
    rows = []
    for _, run in runs.table.iterrows():
        depth = int(run.get("params.depth", 0) or 0)

        def metric(key: str, run: pd.Series = run) -> float:
            return float(run.get(f"metrics.{key}", float("nan")))

        row = {
            "run": run.get("tags.mlflow.runName"),
            **{k: run.get(f"params.{k}") for k in runs.varied},
        }
        row.update({key: metric(key) for key in FINAL_COLUMNS})
        row["first_layer_weight_change"] = metric("weight_change/layer_1")
        top = metric(f"grad_norm/layer_{depth}")
        row["grad_ratio_1_to_last"] = metric("grad_norm/layer_1") / top if top else float("nan")
        row["status"] = run.get("tags.status")
        row["diverged_epoch"] = run.get("tags.diverged_epoch") or ""
        row["diagnosis"] = diagnose(
            1 - row["acc/train"],
            1 - row["acc/val"],
            bias_threshold=bias_threshold,
            variance_threshold=variance_threshold,
        )
        row["run_id"] = run["run_id"]
        rows.append(row)
    table = pd.DataFrame(rows)
    for key in runs.varied:  # params come back as strings: sort 3, 6, 12 as numbers
        numeric = pd.to_numeric(table[key], errors="coerce")
        if numeric.notna().all():
            table[key] = numeric
    return table.sort_values([*runs.varied, "run"], kind="stable").reset_index(drop=True)


def write_report(runs: Runs, folder: Path, title: str) -> Path:
    """runs.csv, runs.md, figures under `folder`; the table is also printed."""
    from vgx.figures import report_figures

    folder.mkdir(parents=True, exist_ok=True)
    table = summary_table(runs)
    table.to_csv(folder / "runs.csv", index=False)
    shown = table.drop(columns=["run_id"])
    markdown = shown.to_markdown(index=False, floatfmt=".4g")
    (folder / "runs.md").write_text(f"# {title}\n\n{markdown}\n")
    report_figures(runs, folder / "figures", title)
    print(f"{title}\n{shown.to_string(index=False, float_format=lambda v: f'{v:.4g}')}")
    return folder


def reports_root(workdir: Path | None = None) -> Path:
    """outputs/reports under the working directory (a recording process is told the command's)."""
    return (workdir or Path.cwd()) / "outputs" / "reports"


def write_sweep_report(
    uri: str, parent: str, study: str | None = None, workdir: Path | None = None
) -> Path:
    """The sweep's report; a study's also gets its verdict."""
    runs = load_runs(uri, sweep=parent)
    name = f"study-{study}" if study else f"sweep-{parent[:8]}"
    folder = write_report(
        runs, reports_root(workdir) / name, f"Study {study}" if study else f"Sweep {parent[:8]}"
    )
    if study:
        from vgx.studies import write_verdict

        write_verdict(runs, study, folder)
    return folder


def report_command(args: list[str]) -> int:
    from vgx.tracking import log_folder, tracking_uri

    parser = argparse.ArgumentParser(prog="vgx report", description=__doc__)
    parser.add_argument("--experiment", help="all runs of this MLflow experiment")
    parser.add_argument("--sweep", help="a sweep's parent run id, or 'latest' (the default)")
    parser.add_argument("--filter", help="an MLflow filter string, e.g. \"params.depth = '9'\"")
    parser.add_argument("--name", help="report folder under outputs/reports/")
    parser.add_argument("--uri", help="tracking store (default: as `vgx train`)")
    parser.add_argument(
        "--study", help="also judge the runs as this study (see `vgx study --list`)"
    )
    parsed = parser.parse_args(args)
    if parsed.study:
        from vgx.studies import STUDIES

        if parsed.study not in STUDIES:
            raise UsageError(
                f"--study={parsed.study!r}: unknown; expected one of {', '.join(STUDIES)}"
            )
    uri = tracking_uri(parsed.uri)
    sweep = parsed.sweep
    if sweep == "latest" or not (sweep or parsed.experiment or parsed.filter):
        sweep = latest_sweep(uri)
        if sweep is None:
            raise UsageError(f"no sweep in {uri}; name --experiment or --filter instead")
    runs = load_runs(uri, parsed.experiment, sweep, parsed.filter)
    name = parsed.name or (f"sweep-{sweep[:8]}" if sweep else parsed.experiment or "selection")
    if "/" in name or name.startswith("."):
        raise UsageError(f"--name={name!r}: not allowed; expected a plain folder name")
    folder = write_report(runs, reports_root() / name, f"Report {name}")
    if parsed.study:
        from vgx.studies import write_verdict

        write_verdict(runs, parsed.study, folder)
    if sweep:
        log_folder(uri, sweep, folder)
    print(f"vgx report: {len(runs.table)} runs; files in {folder}")
    return 0
