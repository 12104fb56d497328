"""How long MLflow's UI takes to show a large sweep: `vgx ui` over a store, then headless
Chromium loads the experiment's runs table (the sweep's parent with its children) and the
parent's own page; the wall time of each load, Chromium's start included, medians of 3.

    python bench/ui_load.py --store outputs/mlflow.db     # a store with a sweep in it
    python bench/ui_load.py --runs 1000                   # makes one: the 1,000-run sweep

Needs Chromium (`make install-browser`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
FLAGS += ["--disable-background-networking", "--disable-component-update", "--disable-quic"]


def load(url: str, profile: Path) -> tuple[float, str]:
    """Wall seconds until Chromium has the page's DOM once its scripts have fetched the runs
    (virtual time skips the idle waits, not the fetches), and the DOM."""
    start = time.perf_counter()
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=60000"]
        + ["--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return time.perf_counter() - start, done.stdout


def make_store(runs: int, folder: Path) -> Path:
    store = folder / "mlflow.db"
    seeds = runs // 4
    command = [sys.executable, "-m", "vgx.cli", "train", "-m", "hydra/launcher=batched"]
    command += [f"seed=range(0,{seeds})", "regularizer=l2", "regularizer.lam=0,1e-3,1e-2,1e-1"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    subprocess.run([*command, "progress=false"], cwd=folder, env=env, check=True)
    return store


def latest_sweep(store: Path) -> tuple[str, str, str, list[str]]:
    """(experiment id, parent run id, its name, its children's names) of the latest sweep."""
    with sqlite3.connect(store) as db:
        experiment, parent, name = db.execute(
            "SELECT r.experiment_id, r.run_uuid, r.name FROM runs r"
            " JOIN tags t ON t.run_uuid = r.run_uuid WHERE t.key = 'vgx.kind'"
            " AND t.value = 'sweep' ORDER BY r.start_time DESC LIMIT 1"
        ).fetchone()
        children = db.execute(
            "SELECT r.name FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid"
            " WHERE t.key = 'mlflow.parentRunId' AND t.value = ?",
            (parent,),
        ).fetchall()
    return str(experiment), parent, name, [child for (child,) in children]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parsed = parser.parse_args()
    if CHROMIUM is None:
        print("no Chromium: make install-browser")
        return 1
    work = Path(tempfile.mkdtemp(prefix="vgx-ui-bench-"))
    store = parsed.store.absolute() if parsed.store else make_store(parsed.runs, work)
    experiment, parent, name, children = latest_sweep(store)
    port = 5000 + os.getpid() % 1000
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    ui = subprocess.Popen(
        [sys.executable, "-m", "vgx.cli", "ui", "--no-browser", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        for line in ui.stdout:
            if re.search(r"runs of experiment", line):
                break
        base = f"http://127.0.0.1:{port}"
        # what each page must show once loaded: the table with the parent's row; the parent
        # with its children listed
        pages = {
            "runs table (experiment)": (
                f"{base}/#/experiments/{experiment}/runs",
                lambda dom: name[:40] in dom and "matching runs" in dom,
            ),
            "the sweep's parent run": (
                f"{base}/#/experiments/{experiment}/runs/{parent}",
                lambda dom: "Child runs" in dom and any(child in dom for child in children),
            ),
        }
        size = store.stat().st_size / 1e9
        print(f"store {store} ({size:.2f} GB), a sweep of {len(children)} runs")
        for page, (url, shown) in pages.items():
            walls = []
            for repeat in range(parsed.repeats):
                wall, dom = load(url, work / f"profile-{page[:3]}-{repeat}")
                loaded = shown(dom)
                walls.append(wall if loaded else float("inf"))  # not shown: no time to report
            shown_walls = ", ".join(f"{w:.1f}" for w in walls)
            print(f"  {page:<26} {statistics.median(walls):5.1f} s (each: {shown_walls})")
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
