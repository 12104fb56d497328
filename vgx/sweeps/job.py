"""One run end to end: validated config → training → MLflow run, files and a summary."""

from __future__ import annotations

import json
import time
from pathlib import Path

from vgx.config import TrainConfig, keys_in_force
from vgx.errors import Interrupted
from vgx.results import RunOutcome, TrainResult
from vgx.store.history import config_yaml, write_history
from vgx.store.provenance import provenance
from vgx.store.tracking import now_ms
from vgx.sweeps.identity import config_hash, flatten, run_name
from vgx.sweeps.progress import RunProgress
from vgx.sweeps.signals import stop_on_signal


def run_experiment(
    cfg: TrainConfig,
    resolved: dict,
    output_dir: Path,
    uri: str,
    name: str | None = None,
    parent_run_id: str | None = None,
    overrides: list[str] | None = None,
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
    tags = run_tags(cfg, overrides)
    recorder = open_recorder(uri, cfg.tracking.experiment)
    started_ms = now_ms()
    recorder.start(name, run_params(resolved), tags, parent=parent_run_id, started_ms=started_ms)
    seconds = {"tracking": time.perf_counter() - clock}
    progress = RunProgress(cfg.epochs, cfg.progress)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        if recorded_epoch(epoch, cfg.epochs, cfg.tracking.every):
            recorder.log_epoch(epoch, metrics)
        progress(epoch, metrics)

    try:
        with stop_on_signal() as stop:
            result = train_run(cfg, on_epoch, should_stop=stop.is_set)
    except KeyboardInterrupt:  # during set-up, before the loop could catch it
        recorder.finish("interrupted", {}, None, ended_ms=now_ms())
        raise Interrupted(name) from None
    except BaseException:
        recorder.finish("failed", {}, None, ended_ms=now_ms())
        raise
    finally:
        progress.close()  # a run that stopped early (diverged, interrupted) ends its bar too
    ended_ms = now_ms()
    seconds.update(result.seconds)
    _close_run(recorder, cfg, resolved, output_dir, name, result, seconds, ended_ms)
    val_loss = result.history[-1]["loss/val"] if result.history else float("nan")
    return RunOutcome(recorder.run_id, name, result, val_loss)


def draws_figures(cfg: TrainConfig) -> bool:
    """A single run draws its own figures when it ends; a sweep's children leave them to the
    sweep's report (its figures compare them) and to `vgx report --run ID`: drawing four PNGs
    a run was most of a batched sweep's recording (README, Performance)."""
    if cfg.tracking.run_figures is not None:
        return cfg.tracking.run_figures
    return cfg.tracking.parent_run_id is None


def recorded_epoch(epoch: int, epochs: int, every: int) -> bool:
    """Whether MLflow gets this epoch's metrics under `tracking.every`: every N-th epoch, always
    epoch 0 and the last (history.csv keeps every epoch whatever N is)."""
    return epoch % every == 0 or epoch == epochs


def run_params(resolved: dict) -> dict[str, str]:
    """MLflow params: the keys in force for this config (config.yaml keeps the whole)."""
    return keys_in_force(flatten(resolved))


def run_tags(cfg: TrainConfig, overrides: list[str] | None) -> dict[str, str]:
    tags = {"config_hash": config_hash(cfg), **provenance()}
    handed = ("tracking.parent_run_id=", "tracking.sweep_keys=")  # every job of a sweep has them
    shown = [o for o in overrides or [] if not o.startswith(handed)]
    if shown:
        tags["vgx.overrides"] = " ".join(shown)[:5000]
    return tags


def _close_run(
    recorder,  # noqa: ANN001 - a vgx.store.tracking.RunRecorder
    cfg: TrainConfig,
    resolved: dict,
    output_dir: Path,
    name: str,
    result: TrainResult,
    seconds: dict[str, float],
    ended_ms: int | None = None,
) -> None:
    """Artifacts, the test metrics and the final status of a trained run; then close it.

    `seconds` gets what the run waited for: its figures, and the tracking around them (a recorder
    in another process may have done much of its work while the run trained)."""
    from vgx.store.run_figures import RunFigures
    from vgx.sweeps.summary import description

    clock = time.perf_counter()
    artifacts = _artifact_folder(output_dir, resolved)
    write_history(result.history, artifacts / "history.csv")
    figures = None
    if result.history and draws_figures(cfg):
        figures = RunFigures(
            result.history,
            cfg.depth,
            name,
            artifacts / "figures",
            result.final.get("loss/constant"),
        )
    last = len(result.history) - 1
    if result.history and not recorded_epoch(last, cfg.epochs, cfg.tracking.every):
        recorder.log_epoch(last, result.history[-1])  # a run that stopped early: its last epoch
    recorder.log_epoch(last, dict(result.final))
    end_tags = {"mlflow.note.content": description(name, result, cfg, figures is not None)}
    if result.diverged_epoch is not None:
        end_tags["diverged_epoch"] = str(result.diverged_epoch)
    spent = recorder.finish(result.status, end_tags, artifacts, figures, ended_ms=ended_ms)
    waited = time.perf_counter() - clock
    seconds["figures"] = spent.get("figures", 0.0)
    seconds["tracking"] = seconds.get("tracking", 0.0) + waited - seconds["figures"]
    # Where the run's time went (bench/ reads it); beside the artifacts, not among them.
    (output_dir / "timings.json").write_text(json.dumps(seconds, indent=1))


def reuse_finished(cfg: TrainConfig, uri: str, parent_run_id: str | None) -> RunOutcome | None:
    """In a sweep with resume on: the finished run of the same config_hash, joined to the sweep."""
    return reuse_finished_many([(cfg, uri, parent_run_id)])[0]


def reuse_finished_many(checks: list[tuple]) -> list[RunOutcome | None]:
    """For each (cfg, uri, parent run id): `reuse_finished`'s answer, the store asked once per
    store and experiment rather than once per job."""
    from vgx.store.tracking import add_to_sweep, find_finished

    wanted: dict[tuple[str, str], list[str]] = {}
    for cfg, uri, parent in checks:
        if parent and cfg.resume:
            wanted.setdefault((uri, cfg.tracking.experiment), []).append(config_hash(cfg))
    found = {where: find_finished(*where, hashes) for where, hashes in wanted.items()}
    outcomes: list[RunOutcome | None] = []
    for cfg, uri, parent in checks:
        done = None
        if parent and cfg.resume:
            done = found[(uri, cfg.tracking.experiment)].get(config_hash(cfg))
        if done is None:
            outcomes.append(None)
            continue
        add_to_sweep(uri, done.info.run_id, parent)
        val_loss = done.data.metrics.get("loss/val", float("nan"))
        outcomes.append(RunOutcome(done.info.run_id, done.info.run_name, None, val_loss))
    return outcomes


def record_trained(
    cfg: TrainConfig,
    resolved: dict,
    output_dir: Path,
    uri: str,
    name: str | None,
    result: TrainResult,
    overrides: list[str] | None = None,
) -> RunOutcome:
    """Record a run trained elsewhere (in a stack) exactly as `run_experiment` records one; its
    start and end are the stack's."""
    name = name or run_name(cfg)
    clock = time.perf_counter()
    recorder = _stacked_run(cfg, resolved, uri, name, overrides, result.started_ms)
    for epoch, metrics in enumerate(result.history):
        if recorded_epoch(epoch, cfg.epochs, cfg.tracking.every):
            recorder.log_epoch(epoch, metrics)
    seconds = {"tracking": time.perf_counter() - clock, **result.seconds}
    _close_run(recorder, cfg, resolved, output_dir, name, result, seconds, result.ended_ms)
    val_loss = result.history[-1]["loss/val"] if result.history else float("nan")
    return RunOutcome(recorder.run_id, name, result, val_loss)


def record_failed(
    cfg: TrainConfig,
    resolved: dict,
    output_dir: Path,
    uri: str,
    name: str | None,
    error: str,
    overrides: list[str] | None = None,
) -> str:
    """Record a run whose stack failed before it could be recorded (an error in training, a
    worker or cluster job that died): FAILED in MLflow, the error in its description and its
    `vgx.error` tag, so that the sweep loses no run silently. Returns its run id."""
    name = name or run_name(cfg)
    recorder = _stacked_run(cfg, resolved, uri, name, overrides, None)
    artifacts = _artifact_folder(output_dir, resolved)
    end_tags = {
        "vgx.error": error[:5000],
        "mlflow.note.content": f"**{name}: not trained** — its stack failed: {error}",
    }
    recorder.finish("failed", end_tags, artifacts, ended_ms=now_ms())
    return recorder.run_id


def _stacked_run(
    cfg: TrainConfig,
    resolved: dict,
    uri: str,
    name: str,
    overrides: list[str] | None,
    started_ms: int | None,
):  # noqa: ANN202 - a vgx.store.tracking.RunRecorder
    """The recorder of a stack's run, started: written whole when it finishes."""
    from vgx.store.tracking import RunRecorder

    recorder = RunRecorder(uri, cfg.tracking.experiment, whole=True)
    tags = {**run_tags(cfg, overrides), "vgx.launcher": "batched"}
    parent = cfg.tracking.parent_run_id
    recorder.start(name, run_params(resolved), tags, parent=parent, started_ms=started_ms)
    return recorder


def _artifact_folder(output_dir: Path, resolved: dict) -> Path:
    """The run's artifacts folder, made, with its config.yaml in it."""
    artifacts = (output_dir / "artifacts").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "config.yaml").write_text(config_yaml(resolved))
    return artifacts
