"""One run end to end: validated config → training → MLflow run, files and a summary."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from vgx.config import TrainConfig
from vgx.errors import Interrupted
from vgx.results import TrainResult
from vgx.store.history import config_yaml, write_history
from vgx.store.provenance import provenance
from vgx.sweeps.identity import config_hash, flatten, run_name
from vgx.sweeps.progress import ProgressBar
from vgx.sweeps.signals import stop_on_signal


@dataclass
class RunOutcome:
    run_id: str
    run_name: str
    result: TrainResult | None  # None when a finished run was reused instead of trained
    val_loss: float  # the final validation loss: a sweeper's objective


def run_experiment(
    cfg: TrainConfig,
    resolved: dict,
    output_dir: Path,
    uri: str,
    name: str | None = None,
    parent_run_id: str | None = None,
) -> RunOutcome:
    """Train and record a validated config (the task validates it, once)."""
    from vgx.core.loop import train_run
    from vgx.store.recording import open_recorder

    name = name or run_name(cfg)
    clock = time.perf_counter()
    parent_run_id = parent_run_id or cfg.tracking.parent_run_id
    reused = reuse_finished(cfg, uri, parent_run_id)
    if reused is not None:
        return reused
    tags = {"config_hash": config_hash(cfg), **provenance()}
    recorder = open_recorder(uri, cfg.tracking.experiment)
    recorder.start(name, flatten(resolved), tags, parent=parent_run_id)
    seconds = {"tracking": time.perf_counter() - clock}
    progress = ProgressBar(cfg.epochs, cfg.progress)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        recorder.log_epoch(epoch, metrics)
        progress(epoch, metrics)

    try:
        with stop_on_signal() as stop:
            result = train_run(cfg, on_epoch, should_stop=stop.is_set)
    except KeyboardInterrupt:  # during set-up, before the loop could catch it
        recorder.finish("interrupted", {}, None)
        raise Interrupted(name) from None
    except BaseException:
        recorder.finish("failed", {}, None)
        raise
    seconds.update(result.seconds)
    _close_run(recorder, cfg, resolved, output_dir, name, result, seconds)
    val_loss = result.history[-1]["loss/val"] if result.history else float("nan")
    return RunOutcome(recorder.run_id, name, result, val_loss)


def _close_run(
    recorder,  # noqa: ANN001 - a vgx.store.tracking.RunRecorder
    cfg: TrainConfig,
    resolved: dict,
    output_dir: Path,
    name: str,
    result: TrainResult,
    seconds: dict[str, float],
) -> None:
    """Artifacts, the test metrics and the final status of a trained run; then close it.

    `seconds` gets what the run waited for: its figures, and the tracking around them (a recorder
    in another process may have done much of its work while the run trained)."""
    from vgx.store.run_figures import RunFigures

    clock = time.perf_counter()
    artifacts = (output_dir / "artifacts").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "config.yaml").write_text(config_yaml(resolved))
    write_history(result.history, artifacts / "history.csv")
    figures = None
    if result.history:
        figures = RunFigures(
            result.history,
            cfg.depth,
            name,
            artifacts / "figures",
            result.final.get("loss/constant"),
        )
    recorder.log_epoch(len(result.history) - 1, dict(result.final))
    end_tags = {}
    if result.diverged_epoch is not None:
        end_tags["diverged_epoch"] = str(result.diverged_epoch)
    spent = recorder.finish(result.status, end_tags, artifacts, figures)
    waited = time.perf_counter() - clock
    seconds["figures"] = spent.get("figures", 0.0)
    seconds["tracking"] = seconds.get("tracking", 0.0) + waited - seconds["figures"]
    # Where the run's time went (bench/ reads it); beside the artifacts, not among them.
    (output_dir / "timings.json").write_text(json.dumps(seconds, indent=1))


def reuse_finished(cfg: TrainConfig, uri: str, parent_run_id: str | None) -> RunOutcome | None:
    """In a sweep with resume on: the finished run of the same config_hash, joined to the sweep."""
    from vgx.store.tracking import add_to_sweep, find_finished

    if not (parent_run_id and cfg.resume):
        return None
    done = find_finished(uri, cfg.tracking.experiment, config_hash(cfg))
    if done is None:
        return None
    add_to_sweep(uri, done.info.run_id, parent_run_id)
    val_loss = done.data.metrics.get("loss/val", float("nan"))
    return RunOutcome(done.info.run_id, done.info.run_name, None, val_loss)


def record_trained(
    cfg: TrainConfig,
    resolved: dict,
    output_dir: Path,
    uri: str,
    name: str | None,
    result: TrainResult,
) -> RunOutcome:
    """Record a run trained elsewhere (in a stack) exactly as `run_experiment` records one."""
    from vgx.store.tracking import RunRecorder

    name = name or run_name(cfg)
    clock = time.perf_counter()
    recorder = RunRecorder(uri, cfg.tracking.experiment)
    tags = {"config_hash": config_hash(cfg), **provenance(), "vgx.launcher": "batched"}
    recorder.start(name, flatten(resolved), tags, parent=cfg.tracking.parent_run_id)
    for epoch, metrics in enumerate(result.history):
        recorder.log_epoch(epoch, metrics)
    seconds = {"tracking": time.perf_counter() - clock, **result.seconds}
    _close_run(recorder, cfg, resolved, output_dir, name, result, seconds)
    val_loss = result.history[-1]["loss/val"] if result.history else float("nan")
    return RunOutcome(recorder.run_id, name, result, val_loss)
