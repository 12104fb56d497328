"""A Hydra multirun as one MLflow sweep: a parent run made before any job, its id handed to every
job as an override (works with any launcher: local, joblib, Ray, SLURM), the report at the end."""

from __future__ import annotations

import sys
from collections.abc import Callable

from vgx.errors import Interrupted
from vgx.preflight import Plan


def run_sweep(
    app: Callable[[], None], args: list[str], plan: Plan, study: str | None = None
) -> str:
    """Run the multirun under a parent run; returns the parent's run id."""
    from vgx.report import write_sweep_report
    from vgx.tracking import finish_sweep, start_sweep, tracking_uri

    uri = tracking_uri(plan.first.tracking.uri)
    experiment = plan.first.tracking.experiment
    parent = start_sweep(uri, experiment, plan.overrides, study)
    handed = [
        f"tracking.parent_run_id={parent}",
        f"tracking.sweep_keys=[{','.join(plan.sweep_keys)}]",
    ]
    sys.argv = ["vgx train", *args, *handed]
    try:
        app()
    except BaseException as exc:
        stopped = isinstance(exc, (KeyboardInterrupt, Interrupted))
        finish_sweep(uri, parent, "interrupted" if stopped else "failed", None)
        raise
    folder = write_sweep_report(uri, parent, study)
    finish_sweep(uri, parent, "finished", folder)
    print(f"vgx: sweep {parent} finished; report in {folder}", flush=True)
    return parent
