"""A Hydra multirun as one MLflow sweep: a parent run made before any job, its id handed to every
job as an override (works with any launcher: local, joblib, Ray, SLURM), the report at the end.

The parent run and the report go through the recording process where there is one: it has
imported MLflow while this process checked the command line, and this one imports torch while
the parent run is made, so neither waits for the other (README, Performance)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

from vgx.errors import Interrupted
from vgx.sweeps.preflight import Plan


def run_sweep(
    app: Callable[[], None], args: list[str], plan: Plan, study: str | None = None
) -> str:
    """Run the multirun under a parent run; returns the parent's run id."""
    from vgx.store.recording import background, call
    from vgx.store.tracking import start_sweep, tracking_uri

    uri = tracking_uri(plan.first.tracking.uri)
    experiment = plan.first.tracking.experiment
    recorder = background()
    if recorder is None:
        parent = start_sweep(uri, experiment, plan.overrides, study)
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

    def end(status: str) -> Path | None:
        return call(_end, uri, parent, status, study, workdir)

    from vgx.sweeps.progress import end_sweep, start_sweep

    start_sweep(plan.jobs_checked, getattr(plan.first, "progress", True))
    try:
        app()
    except BaseException as exc:
        end_sweep()
        stopped = isinstance(exc, (KeyboardInterrupt, Interrupted))
        with contextlib.suppress(Exception):  # the error to show is the sweep's own
            end("interrupted" if stopped else "failed")
        raise
    end_sweep()
    page = end("finished")
    print(f"vgx: sweep {parent} finished; report in {page.parent}", flush=True)
    print(f"vgx: report page {page}", flush=True)
    return parent


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
