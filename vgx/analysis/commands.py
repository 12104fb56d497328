"""`vgx report` and the end of a sweep: select runs, write the report, judge a study."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vgx.analysis.page import write_page
from vgx.analysis.report import reports_root, write_report
from vgx.analysis.runs import Runs, latest_sweep, load_run, load_runs
from vgx.errors import UsageError

# MLflow keeps at most 8,000 characters of a tag; a description stays well under it.
DESCRIPTION_CHARS = 7000
TABLE_ROWS = 40  # rows of the runs table in a sweep's description (all of them in report/)


@dataclass
class Written:
    """A report as written: its folder and page, and what its sweep's parent run shows."""

    folder: Path
    page: Path
    description: str  # Markdown: MLflow's Description of the parent run
    tags: dict[str, str] = field(default_factory=dict)  # `verdict` for a study
    metrics: dict[str, float] = field(default_factory=dict)  # the headline numbers


def write_full_report(runs: Runs, folder: Path, title: str, study: str | None = None) -> Written:
    """The runs table and figures, a study's verdict, the page; what the parent shows."""
    table = write_report(runs, folder, title)
    shown = table.drop(columns=["run_id"])
    metrics = headline_numbers(table)
    if study is None:
        page = write_page(folder, title, shown)
        return Written(folder, page, runs_markdown(title, shown), {}, metrics)
    from vgx.analysis.studies import STUDIES, verdict_markdown, write_verdict

    verdict = write_verdict(runs, study, folder)
    about = STUDIES[study]
    facts = {
        "claim": about.claim,
        "source": about.source,
        "rule": about.rule,
        "outcome": verdict.outcome,
        "measured": verdict.measured,
        "rows": verdict.rows,
    }
    page = write_page(folder, title, shown, facts)
    metrics["verdict/parts"] = float(len(verdict.parts))
    metrics["verdict/parts_met"] = float(sum(verdict.parts.values()))
    text = verdict_markdown(about, verdict)
    text += f"\n\nThe {len(shown)} runs' table, figures and page: artifacts `report/`."
    return Written(folder, page, _fit(text), {"verdict": verdict.outcome}, metrics)


def headline_numbers(table: pd.DataFrame) -> dict[str, float]:
    """The sweep's numbers that MLflow shows on its parent run (and can chart across sweeps)."""

    def finite(column: str) -> pd.Series:
        values = pd.to_numeric(table.get(column, pd.Series(dtype=float)), errors="coerce")
        return values[values.map(math.isfinite)]

    numbers = {
        "sweep/runs": float(len(table)),
        "sweep/finished": float((table["status"] == "finished").sum()),
        "sweep/diverged": float((table["status"] == "diverged").sum()),
    }
    for name, column, pick in (
        ("best_loss_val", "loss/val", "min"),
        ("median_loss_train", "loss/train", "median"),
        ("median_acc_val", "acc/val", "median"),
        ("best_acc_val", "acc/val", "max"),
    ):
        values = finite(column)
        if not values.empty:
            numbers[f"sweep/{name}"] = float(getattr(values, pick)())
    return numbers


def runs_markdown(title: str, shown: pd.DataFrame) -> str:
    """A sweep's description: its runs table, cut to what MLflow keeps."""
    head = shown.head(TABLE_ROWS)
    text = f"**{title}**: {len(shown)} runs\n\n" + head.to_markdown(index=False, floatfmt=".4g")
    if len(shown) > len(head):
        text += f"\n\n… {len(shown) - len(head)} more rows in the artifact `report/runs.md`."
    return _fit(text)


def _fit(text: str) -> str:
    if len(text) <= DESCRIPTION_CHARS:
        return text
    return text[: DESCRIPTION_CHARS - 80] + "\n\n… cut here; the whole is in `report/`."


def write_sweep_report(
    uri: str, parent: str, study: str | None = None, workdir: Path | None = None
) -> Written:
    """The sweep's report; a study's also gets its verdict."""
    runs = load_runs(uri, sweep=parent)
    name = f"study-{study}" if study else f"sweep-{parent[:8]}"
    title = f"Study {study}" if study else f"Sweep {parent[:8]}"
    return write_full_report(runs, reports_root(workdir) / name, title, study)


def draw_run_figures(uri: str, run_id: str) -> int:
    """`vgx report --run ID`: the run's own figures, drawn from its history.csv, into
    outputs/reports/run-ID/figures and the run's artifacts under figures/."""
    from vgx.store.run_figures import run_figures
    from vgx.store.tracking import log_folder

    run, history = load_run(uri, run_id)
    depth = int(run.data.params.get("depth", "0"))
    folder = reports_root() / f"run-{run.info.run_id[:8]}" / "figures"
    rows = history.to_dict("records")
    paths = run_figures(
        rows, depth, run.info.run_name, folder, run.data.metrics.get("loss/constant")
    )
    log_folder(uri, run.info.run_id, folder, "figures")
    print(f"vgx report: {len(paths)} figures of run {run.info.run_name} ({run.info.run_id})")
    for path in paths:
        print(f"  {path}")
    return 0


def report_command(args: list[str]) -> int:
    from vgx.store.tracking import check_store, describe_parent, log_folder, tracking_uri

    parser = argparse.ArgumentParser(
        prog="vgx report", description="tables, figures and bias/variance labels of recorded runs"
    )
    parser.add_argument("--experiment", help="all runs of this MLflow experiment")
    parser.add_argument("--sweep", help="a sweep's parent run id, or 'latest' (the default)")
    parser.add_argument("--filter", help="an MLflow filter string, e.g. \"params.depth = '9'\"")
    parser.add_argument("--name", help="report folder under outputs/reports/")
    parser.add_argument("--uri", help="tracking store (default: as `vgx train`)")
    parser.add_argument(
        "--run", help="draw one run's own figures into its artifacts (a sweep's child has none)"
    )
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
    check_store(uri, must_exist=True)
    if parsed.run:
        return draw_run_figures(uri, parsed.run)
    sweep = parsed.sweep
    if sweep == "latest" or not (sweep or parsed.experiment or parsed.filter):
        sweep = latest_sweep(uri)
        if sweep is None:
            raise UsageError(f"no sweep in {uri}; name --experiment or --filter instead")
    runs = load_runs(uri, parsed.experiment, sweep, parsed.filter)
    name = parsed.name or (f"sweep-{sweep[:8]}" if sweep else parsed.experiment or "selection")
    if "/" in name or name.startswith("."):
        raise UsageError(f"--name={name!r}: not allowed; expected a plain folder name")
    written = write_full_report(runs, reports_root() / name, f"Report {name}", parsed.study)
    if sweep:
        log_folder(uri, sweep, written.folder)
        describe_parent(uri, sweep, written.description, written.tags, written.metrics)
    print(f"vgx report: {len(runs.table)} runs; files in {written.folder}")
    print(f"vgx report: page {written.page}")
    return 0
