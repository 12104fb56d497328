"""A Hydra multirun as one MLflow sweep: a parent run made before any job, its id handed to every
job as an override (works with any launcher: local, joblib, Ray, SLURM), the report at the end.

The parent run and the report go through the recording process where there is one: it has
imported MLflow while this process checked the command line, and this one imports torch while
the parent run is made; a batched sweep on an SQLite store does not wait for the parent at all
until it records a run (vgx/sweeps/parent.py)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

from vgx.errors import Interrupted
from vgx.sweeps.parent import choose_parent, forget_parent
from vgx.sweeps.preflight import Plan

BATCHED = "hydra/launcher=batched"


def run_sweep(
    app: Callable[[], None],
    args: list[str],
    plan: Plan,
    study: str | None = None,
    reports: LaterReports | None = None,
) -> str:
    """Run the multirun under a parent run; returns the parent's run id. With `reports`, the
    finished sweep's report is written there while the caller goes on."""
    from vgx.store.recording import background, call
    from vgx.store.tracking import start_sweep, tracking_uri

    uri = tracking_uri(plan.first.tracking.uri)
    experiment = plan.first.tracking.experiment
    recorder = background()
    pending = None
    if recorder is None:
        parent = start_sweep(uri, experiment, plan.overrides, study)
    elif uri.startswith("sqlite:") and BATCHED in args:  # its launcher waits for the parent
        pending = choose_parent(
            lambda chosen: recorder.call(
                start_sweep, uri, experiment, plan.overrides, study, chosen
            )
        )
        parent = pending.chosen
    else:
        made = recorder.call(start_sweep, uri, experiment, plan.overrides, study)
        import vgx.core.loop  # noqa: F401 - torch, which the jobs need, while the parent run is made

        parent = made()
    handed = [
        f"tracking.parent_run_id={parent}",
        f"tracking.sweep_keys=[{','.join(plan.sweep_keys)}]",
    ]
    sys.argv = ["vgx train", *args, *handed]

    workdir = Path.cwd()  # the report's place: this command's, not the recording process's

    def made() -> str:
        return parent if pending is None else pending.confirmed()

    def end(status: str) -> Path | None:
        return call(_end, uri, made(), status, study, workdir)

    from vgx.sweeps.progress import end_sweep
    from vgx.sweeps.progress import start_sweep as start_progress

    start_progress(plan.jobs_checked, getattr(plan.first, "progress", True))
    try:
        app()
    except BaseException as exc:
        end_sweep()
        stopped = isinstance(exc, (KeyboardInterrupt, Interrupted))
        with contextlib.suppress(Exception):  # the error to show is the sweep's own
            end("interrupted" if stopped else "failed")
        raise
    finally:
        forget_parent()
    end_sweep()
    parent = made()
    if reports is not None:
        reports.submit(uri, parent, study, workdir)
        return parent
    _said(parent, end("finished"))
    return parent


def _said(parent: str, page: Path) -> None:
    print(f"vgx: sweep {parent} finished; report in {page.parent}", flush=True)
    print(f"vgx: report page {page}", flush=True)


class LaterReports:
    """Several sweeps in one command: each finished sweep's report (its table, figures, a
    study's verdict; then the parent is closed) is written by a process of its own while the
    next sweep trains. Written before the next sweep started, they took 1–5 s a study with
    the workers idle: 46 s of `vgx study --all`."""

    def __init__(self) -> None:
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_reporter,
            initargs=(os.getpid(),),
        )
        self._pending: list[tuple[str, str, object]] = []  # uri, parent, its future

    def submit(self, uri: str, parent: str, study: str | None, workdir: Path) -> None:
        from vgx.helper_processes import starting_helpers

        with starting_helpers():  # the pool starts its process with the first task
            future = self._pool.submit(_end, uri, parent, "finished", study, workdir)
        future.add_done_callback(lambda done: done.exception() or _said(parent, done.result()))
        self._pending.append((uri, parent, future))

    def wait(self) -> None:
        """Every report written and its parent closed; a report that failed fails its parent
        (the first such error is raised once all are done)."""
        from vgx.store.recording import call

        failed: BaseException | None = None
        for uri, parent, future in self._pending:
            try:
                future.result()
            except BaseException as exc:  # the pool broke, or the report raised
                failed = failed or exc
                with contextlib.suppress(Exception):
                    call(_end, uri, parent, "failed", None, Path.cwd())
        self._pool.shutdown()
        if failed is not None:
            raise failed


def _start_reporter(parent: int) -> None:
    """The report process leaves signals to the command, and ends with it."""
    from vgx.sweeps.workers import follow_parent

    follow_parent(parent)


def _end(uri: str, parent: str, status: str, study: str | None, workdir: Path) -> Path | None:
    """Close the parent run; a finished sweep first gets its report (the parent's artifacts,
    description, verdict tag and headline metrics). Returns the report's page."""
    from vgx.store.tracking import describe_parent, finish_sweep

    if status != "finished":
        finish_sweep(uri, parent, status, None)
        return None
    from vgx.analysis.commands import write_sweep_report

    written = write_sweep_report(uri, parent, study, workdir)
    describe_parent(uri, parent, written.description, written.tags, written.metrics)
    finish_sweep(uri, parent, status, written.folder)
    return written.page
