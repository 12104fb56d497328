"""Wall time of a 12-run sweep (`regularizer.lam` × `depth`, 100 epochs) with Hydra's basic launcher
and with joblib on all cores, against one single `vgx train`, measured side by side.

    python bench/sweep.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = ["regularizer=l2", "regularizer.lam=0,1e-3,1e-2,1e-1", "depth=3,6,9"]
RUNS = 12


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "vgx.cli", "train", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def per_run_phases(folder: Path) -> dict[str, float]:
    """Median seconds per phase over the runs whose timings.json lies under `folder`."""
    found = [json.loads(p.read_text()) for p in folder.rglob("timings.json")]
    return {k: statistics.median(t[k] for t in found) for k in found[0]} if found else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    repeats = parser.parse_args().repeats
    walls: dict[str, list[float]] = {"single": [], "basic": [], "joblib": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
        timed(["epochs=1"], work, env)  # creates the store's tables, untimed
        for i in range(repeats):
            walls["single"].append(timed([f"hydra.run.dir={work}/single{i}"], work, env))
            walls["basic"].append(
                timed(["-m", *SWEEP, "resume=false", f"hydra.sweep.dir={work}/basic{i}"], work, env)
            )
            walls["joblib"].append(
                timed(
                    [
                        "-m",
                        *SWEEP,
                        "resume=false",
                        "hydra/launcher=joblib",
                        f"hydra.sweep.dir={work}/joblib{i}",
                    ],
                    work,
                    env,
                )
            )
        single_phases = per_run_phases(work / "single0")
        sweep_phases = per_run_phases(work / "basic0")
    single = statistics.median(walls["single"])
    print(f"12-run sweep ({' '.join(SWEEP)}), 100 epochs each")
    print(f"  {repeats} repeat(s), {os.cpu_count()} cores")
    for name in ("single", "basic", "joblib"):
        wall = statistics.median(walls[name])
        runs = 1 if name == "single" else RUNS
        print(f"  {name:<8} {wall:7.1f} s  {wall / runs:6.2f} s/run  {wall / single:5.1f}x one run")
    basic = statistics.median(walls["basic"])
    print(f"  joblib / basic: {statistics.median(walls['joblib']) / basic:.2f}")
    print("  per-run seconds inside a sweep vs a single run (median over runs):")
    for phase in single_phases:
        in_sweep = sweep_phases.get(phase, float("nan"))
        print(f"    {phase:<10} sweep {in_sweep:6.2f}   single {single_phases[phase]:6.2f}")
    print(f"    whole      sweep {basic / RUNS:6.2f}   single {single:6.2f}")
    print("    (a sweep pays Python start-up, imports and the store's opening once)")


if __name__ == "__main__":
    main()
