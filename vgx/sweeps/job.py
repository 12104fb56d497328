"""One run end to end: validated config → training → MLflow run, files and a summary."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from vgx.config import TrainConfig, validate
from vgx.errors import Interrupted
from vgx.results import TrainResult

# Keys that change where or how a run is shown, not what it computes: left out of config_hash.
NOT_HASHED = ("tracking", "progress", "device", "resume")


@dataclass
class RunOutcome:
    run_id: str
    run_name: str
    result: TrainResult | None  # None when a finished run was reused instead of trained
    val_loss: float  # the final validation loss: a sweeper's objective


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    """{'optimizer': {'lr': 0.001}} → {'optimizer.lr': '0.001'}: MLflow params are flat strings."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


def config_hash(cfg: TrainConfig) -> str:
    """Same science, same hash: resume (sweeps) matches finished runs by it."""
    tree = {k: v for k, v in asdict(cfg).items() if k not in NOT_HASHED}
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:16]


@functools.cache
def provenance() -> dict[str, str]:
    """Versions and the project's git commit, so a run can be reproduced later (once per
    process: a batched sweep records many runs)."""
    import platform
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        vgx_version = version("vgx")
    except PackageNotFoundError:
        vgx_version = "unknown"
    # the installed torch's version, as torch.__version__ says it, without importing torch (2 s)
    # in the processes that only record
    torch_version = sys.modules["torch"].__version__ if "torch" in sys.modules else version("torch")
    tags = {"vgx.version": vgx_version, "torch.version": torch_version}
    tags["python.version"] = platform.python_version()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
        if commit.returncode == 0:
            tags["git.commit"] = commit.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return tags


def run_name(cfg: TrainConfig) -> str:
    return f"{cfg.activation.name}-d{cfg.depth}-w{cfg.width}-{cfg.optimizer.name}-s{cfg.seed}"


@contextmanager
def stop_on_signal() -> Iterator[threading.Event]:
    """Ctrl-C or SIGTERM asks the loop to stop at the next step, so that no write to the store is
    cut in half; a second signal stops at once."""
    requested = threading.Event()

    def handler(signum, frame):  # noqa: ANN001
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield requested
        return
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class ProgressBar:
    """One updating line on a terminal; silent in CI logs and pipes."""

    def __init__(self, epochs: int, enabled: bool) -> None:
        self.epochs = epochs
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, epoch: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        done = int(30 * epoch / self.epochs)
        sys.stderr.write(
            f"\r  [{'#' * done}{'.' * (30 - done)}] epoch {epoch}/{self.epochs}"
            f"  loss/train {metrics['loss/train']:.4f}  loss/val {metrics['loss/val']:.4f}"
        )
        if epoch == self.epochs:
            sys.stderr.write("\n")
        sys.stderr.flush()


def write_history(history: list[dict[str, float]], path: Path) -> Path:
    keys = list(history[0]) if history else []
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", *keys])
        for epoch, row in enumerate(history):
            writer.writerow([epoch, *(row.get(k, "") for k in keys)])
    return path


def run_experiment(
    cfg: TrainConfig,
    resolved: dict,
    output_dir: Path,
    uri: str,
    name: str | None = None,
    parent_run_id: str | None = None,
) -> RunOutcome:
    """Validate, then train and record. A bad value raises ConfigError before any run exists."""
    from vgx.core.loop import train_run
    from vgx.store.recording import open_recorder

    validate(cfg)
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
    (artifacts / "config.yaml").write_text(_yaml(resolved))
    write_history(result.history, artifacts / "history.csv")
    figures = None
    if result.history:
        figures = RunFigures(result.history, cfg.depth, name, artifacts / "figures")
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


def _yaml(resolved: dict) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(resolved))


def summary(outcome: RunOutcome, cfg: TrainConfig) -> str:
    """What a person wants to read when the run ends."""
    result = outcome.result
    if result is None:
        return (
            f"vgx: {outcome.run_name}: a finished run with the same config_hash exists "
            f"({outcome.run_id}); reused, nothing trained (resume=false trains again)"
        )
    nan = float("nan")
    last = result.history[-1] if result.history else {}
    top = last.get(f"grad_norm/layer_{cfg.depth}", nan)
    ratio = last.get("grad_norm/layer_1", nan) / top if top else nan
    diverged = result.diverged_epoch
    headline = f"vgx: {outcome.run_name} {result.status} after {len(result.history) - 1} of "
    headline += f"{cfg.epochs} epochs" + (
        f" (diverged at epoch {diverged})" if diverged is not None else ""
    )
    lines = [
        headline,
        f"  loss      train {last.get('loss/train', nan):.4f}   val {last.get('loss/val', nan):.4f}"
        f"   test {result.final['loss/test']:.4f}",
        f"  accuracy  train {last.get('acc/train', nan):.3f}   val {last.get('acc/val', nan):.3f}"
        f"   test {result.final['acc/test']:.3f}",
        "  first-layer weight change ‖W1(t)−W1(0)‖/‖W1(0)‖: "
        f"{last.get('weight_change/layer_1', nan):.4g}",
        f"  gradient norm layer 1 / layer {cfg.depth}: {ratio:.3g}",
        f"  MLflow run {outcome.run_id} in experiment '{cfg.tracking.experiment}';"
        " open it with `vgx ui`",
    ]
    return "\n".join(lines)


def sweep_run_name(sweep_keys: list[str], job_overrides: list[str]) -> str | None:
    """A child run is named by what differs between the sweep's jobs: `depth=6,lam=0.01`."""
    values = {}
    for override in job_overrides:
        key, _, value = override.partition("=")
        values[key.lstrip("+~")] = value
    parts = [f"{key.split('.')[-1]}={_short(values[key])}" for key in sweep_keys if key in values]
    return ",".join(parts) or None


def _short(value: str) -> str:
    """0.48159606969527924 → 0.4816 (an optimizer's samples); 0.01 and 6 stay as they are."""
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.4g}" if len(value) > 8 else value
