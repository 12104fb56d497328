"""How a batched sweep's cost grows with its size: wall time, seconds a run and store bytes a run
for sweeps of 1, 16, 64, 256 and 1,000 runs of the default network (seeds × 4 values of λ,
100 epochs, every metric recorded), beside one `vgx train`, each in a fresh store.

    python bench/scaling.py [--sizes 1,16,64,256,1000] [--figure docs/figures/scaling.png]

The training time of each sweep's stacks is read from its output, so the rest (start-up,
recording, the report) can be told apart.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAMBDAS = "0,1e-3,1e-2,1e-1"


def sweep_args(runs: int) -> list[str]:
    if runs == 1:
        return []
    seeds = runs // 4
    return ["-m", "hydra/launcher=batched", f"seed=range(0,{seeds})", "regularizer=l2"] + [
        f"regularizer.lam={LAMBDAS}"
    ]


def measure(runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = work / "mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
        command = [sys.executable, "-m", "vgx.cli", "train", *sweep_args(runs), "progress=false"]
        start = time.perf_counter()
        done = subprocess.run(
            command, cwd=work, env=env, check=True, capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        trained = sum(float(s) for s in re.findall(r"trained in ([\d.]+) s", done.stdout))
        return {"runs": runs, "wall": wall, "train": trained, "bytes": store.stat().st_size}


def figure(rows: list[dict[str, float]], single: float, path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from vgx.store.run_figures import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sizes = [r["runs"] for r in rows]
    ax.plot(sizes, [r["wall"] for r in rows], "o-", label="whole sweep (wall)")
    ax.plot(sizes, [r["train"] for r in rows], "s--", label="training its stacks")
    ax.axhline(single, color="0.5", linestyle=":", label=f"one vgx train ({single:.1f} s)")
    ax.set(xscale="log", yscale="log", xlabel="runs in the sweep", ylabel="seconds")
    ax.set_title("Cost of a batched sweep by size (2 cores, 100 epochs a run)")
    ax.legend()
    save_figure(fig, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,16,64,256,1000")
    parser.add_argument("--figure", type=Path, default=None)
    parsed = parser.parse_args()
    sizes = [int(s) for s in parsed.sizes.split(",")]
    singles = sorted(measure(1)["wall"] for _ in range(3))
    single = singles[1]  # the median of three: one run's wall time, fresh store included
    rows = []
    print(f"{'runs':>6} {'wall s':>8} {'s/run':>7} {'× one run':>10} {'train s':>8} {'MB/run':>7}")
    for runs in sizes:
        row = measure(runs) if runs > 1 else {**measure(1), "wall": single, "train": 0.0}
        rows.append(row)
        wall = row["wall"]
        print(
            f"{runs:>6} {wall:>8.1f} {wall / runs:>7.2f} {wall / single:>10.1f}"
            f" {row['train']:>8.1f} {row['bytes'] / runs / 1e6:>7.2f}"
        )
    if parsed.figure:
        figure(rows, single, parsed.figure)
        print(f"figure: {parsed.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
