"""`vgx report` and the end of a sweep: select runs, write the report, judge a study."""

from __future__ import annotations

import argparse
from pathlib import Path

from vgx.analysis.report import reports_root, write_report
from vgx.analysis.runs import latest_sweep, load_runs
from vgx.errors import UsageError


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
        from vgx.analysis.studies import write_verdict

        write_verdict(runs, study, folder)
    return folder


def report_command(args: list[str]) -> int:
    from vgx.store.tracking import log_folder, tracking_uri

    parser = argparse.ArgumentParser(
        prog="vgx report", description="tables, figures and bias/variance labels of recorded runs"
    )
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
        from vgx.analysis.studies import STUDIES

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
        from vgx.analysis.studies import write_verdict

        write_verdict(runs, parsed.study, folder)
    if sweep:
        log_folder(uri, sweep, folder)
    print(f"vgx report: {len(runs.table)} runs; files in {folder}")
    return 0
