"""Wall time of `vgx train` (defaults, whole process) against a bare PyTorch script of the same
training, measured side by side, and where vgx's time goes. Also `vgx train` with its recording
in the training process ($VGX_BACKGROUND_RECORDING=0), to show what the recording process buys.

    python bench/single_run.py [--repeats 5]
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

HERE = Path(__file__).parent
PHASES = ("tracking", "train", "probes", "figures")


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} s  ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    vgx_walls, inline_walls, bare_walls, imports = [], [], [], []
    phases: dict[str, list[float]] = {p: [] for p in PHASES}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
        # one untimed run creates the store's tables (~3 s, once per store)
        timed([sys.executable, "-m", "vgx.cli", "train", "epochs=1"], work, env)
        for i in range(repeats):
            run_dir = work / f"run{i}"
            command = [sys.executable, "-m", "vgx.cli", "train", f"hydra.run.dir={run_dir}"]
            vgx_walls.append(timed(command, work, env))
            inline = [sys.executable, "-m", "vgx.cli", "train", f"hydra.run.dir={run_dir}-inline"]
            inline_walls.append(timed(inline, work, {**env, "VGX_BACKGROUND_RECORDING": "0"}))
            bare_walls.append(timed([sys.executable, str(HERE / "bare_train.py")], work, env))
            imports.append(
                timed([sys.executable, "-c", "import torch, sklearn, mlflow, hydra"], work, env)
            )
            seconds = json.loads((run_dir / "timings.json").read_text())
            for phase in PHASES:
                phases[phase].append(seconds[phase])
    vgx_median = statistics.median(vgx_walls)
    bare_median = statistics.median(bare_walls)
    print(f"single run, defaults (seed 002's network, 100 epochs), {repeats} repeats, medians")
    print(f"  vgx train, whole process      {spread(vgx_walls)}")
    print(f"  same, recording inline        {spread(inline_walls)}")
    print(f"  bare PyTorch script           {spread(bare_walls)}")
    print(f"  ratio vgx / bare              {vgx_median / bare_median:7.2f}x")
    inline_ratio = statistics.median(inline_walls) / bare_median
    print(f"  ratio inline / bare           {inline_ratio:7.2f}x")
    print("  where vgx's time goes (median seconds the run waited for it, share of the process):")
    accounted = 0.0
    for phase in PHASES:
        value = statistics.median(phases[phase])
        accounted += value
        print(f"    {phase:<28}{value:6.2f} s  {100 * value / vgx_median:5.1f} %")
    rest = vgx_median - accounted
    print(f"    {'start-up, imports, Hydra':<28}{rest:6.2f} s  {100 * rest / vgx_median:5.1f} %")
    print(f"  (import torch, sklearn, mlflow, hydra alone: {statistics.median(imports):.2f} s)")
    probe_share = statistics.median(phases["probes"]) / statistics.median(phases["train"])
    print(f"  probes / training             {probe_share:7.2f}")


if __name__ == "__main__":
    main()
