"""How a batched sweep's cost grows with its size: wall time, seconds a run, store bytes a run
and the peak memory of all the sweep's processes together, for sweeps of 1, 16, 64, 256 and
1,000 runs of the default network (seeds × 4 values of λ, 100 epochs, every metric recorded),
beside one `vgx train`, each in a fresh store.

    python bench/scaling.py [--sizes 1,16,64,256,1000] [--figure docs/figures/scaling.png]
"""

from __future__ import annotations

import argparse
import os
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


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measure(runs: int) -> dict[str, float]:
    """Wall time, the store's size, and the peak memory of the sweep's processes together
    (sampled every 0.2 s)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = work / "mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
        command = [sys.executable, "-m", "vgx.cli", "train", *sweep_args(runs), "progress=false"]
        start = time.perf_counter()
        log = work / "sweep.log"  # a file, not a pipe: a pipe nobody reads fills and blocks
        with log.open("w") as output:
            sweep = subprocess.Popen(command, cwd=work, env=env, stdout=output, stderr=output)
            peak = 0
            while sweep.poll() is None:
                peak = max(peak, tree_rss(sweep.pid))
                time.sleep(0.2)
        wall = time.perf_counter() - start
        if sweep.returncode != 0:
            raise RuntimeError(f"the sweep failed: {log.read_text().strip().splitlines()[-1:]}")
        return {"runs": runs, "wall": wall, "bytes": store.stat().st_size, "peak": peak}


def figure(rows: list[dict[str, float]], single: float, path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from vgx.store.run_figures import pyplot, save_figure

    plt = pyplot()
    fig, (wall_ax, run_ax) = plt.subplots(1, 2, figsize=(10, 4))
    sizes = [r["runs"] for r in rows]
    wall_ax.plot(sizes, [r["wall"] for r in rows], "o-", label="whole sweep (wall)")
    wall_ax.plot(
        sizes, [single * n for n in sizes], ":", color="0.6", label="one run after another"
    )
    wall_ax.axhline(single, color="0.5", linestyle="--", label=f"one vgx train ({single:.1f} s)")
    wall_ax.set(xscale="log", yscale="log", xlabel="runs in the sweep", ylabel="seconds")
    wall_ax.set_title("Wall time of a batched sweep")
    wall_ax.legend(fontsize=8)
    run_ax.plot(sizes, [r["wall"] / r["runs"] for r in rows], "o-", label="seconds a run")
    run_ax.set(xscale="log", xlabel="runs in the sweep", ylabel="seconds a run")
    memory_ax = run_ax.twinx()
    memory_ax.plot(sizes, [r["peak"] / 1e9 for r in rows], "s--", color="C3", label="peak GB")
    memory_ax.set_ylabel("peak memory of all processes (GB)", color="C3")
    run_ax.set_title("Per run, and memory (2 cores, 100 epochs a run)")
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
    print(f"{'runs':>6} {'wall s':>8} {'s/run':>7} {'× one run':>10} {'MB/run':>7} {'peak GB':>8}")
    for runs in sizes:
        row = measure(runs) if runs > 1 else {**measure(1), "wall": single}
        rows.append(row)
        wall = row["wall"]
        print(
            f"{runs:>6} {wall:>8.1f} {wall / runs:>7.2f} {wall / single:>10.1f}"
            f" {row['bytes'] / runs / 1e6:>7.2f} {row['peak'] / 1e9:>8.2f}"
        )
    if parsed.figure:
        figure(rows, single, parsed.figure)
        print(f"figure: {parsed.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
