"""The batched launcher against one `vgx train` and the other launchers, measured side by side.

    python bench/batched.py [--repeats 5] [--sweep-repeats 5] [--full] [--only PART]

1. a 64-run sweep of the default network (16 seeds × 4 values of λ, 100 epochs, every probe and
   metric recorded) with hydra/launcher=batched, against a single `vgx train` (whole processes);
   with --full also the basic and joblib launchers (about 2 minutes each on 2 cores);
2. training throughput of a stack (in-process, probes included, recording excluded) for
   K = 1, 4, 16, 64, 256 runs (`--sizes 64,256,1024 --device cuda` on a GPU);
3. training time of one run (in-process) against depth and width.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = ["seed=range(0,16)", "regularizer=l2", "regularizer.lam=0,1e-3,1e-2,1e-1", "resume=false"]


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "vgx.cli", "train", *args]
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def median(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} s ({min(values):.1f}–{max(values):.1f})"


def sweeps(repeats: int, full: bool) -> None:
    launchers = {"batched": ["hydra/launcher=batched"]}
    if full:
        launchers |= {"basic": [], "joblib": ["hydra/launcher=joblib"]}
    walls: dict[str, list[float]] = {"single": [], **{k: [] for k in launchers}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
        timed(["epochs=1"], work, env)  # the store's tables, untimed
        for _ in range(repeats):
            walls["single"].append(timed([], work, env))
            for name, extra in launchers.items():
                walls[name].append(timed(["-m", *extra, *SWEEP], work, env))
    single = statistics.median(walls["single"])
    print(f"64-run sweep ({' '.join(SWEEP[:3])}), 100 epochs, {repeats} repeat(s), medians")
    print(f"  single vgx train        {median(walls['single'])}")
    for name in launchers:
        wall = statistics.median(walls[name])
        print(f"  {name:<8} 64 runs      {median(walls[name])}  {wall / single:5.1f}x one run")


def throughput(repeats: int, sizes: list[int], device: str) -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent))
    import torch

    from tests.conftest import compose_config
    from vgx.core.loop import train as train_stack

    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {os.cpu_count()} cores"
    print(f"stacked training on {device} ({name}), default network, 100 epochs, probes included")
    for k in sizes:
        overrides = ["progress=false", f"device={device}"]
        cfgs = [compose_config([*overrides, f"seed={s}"])[0] for s in range(k)]
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            train_stack(cfgs)
            seconds.append(time.perf_counter() - start)
        best = statistics.median(seconds)
        print(f"  K={k:<4} {best:7.2f} s   {k / best:7.1f} runs/s")


def scaling(repeats: int) -> None:
    from tests.conftest import compose_config
    from vgx.core.loop import train_run as train

    print("one run, 100 epochs, training and probes (in-process)")
    for label, overrides in [
        *[(f"depth={d}", [f"depth={d}"]) for d in (3, 10, 20, 50)],
        *[(f"width={w}", [f"width={w}"]) for w in (10, 64, 256, 512)],
    ]:
        seconds = []
        for _ in range(repeats):
            cfg = compose_config(["progress=false", *overrides])[0]
            start = time.perf_counter()
            train(cfg)
            seconds.append(time.perf_counter() - start)
        print(f"  {label:<10} {statistics.median(seconds):6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="also the basic and joblib launchers")
    parser.add_argument("--sweep-repeats", type=int, default=5, help="repeats of the sweeps")
    parser.add_argument("--only", choices=["sweeps", "throughput", "scaling"], help="one part")
    parser.add_argument("--sizes", default="1,4,16,64,256", help="stack sizes of the throughput")
    parser.add_argument("--device", default="cpu", help="the throughput's device: cpu or cuda")
    parsed = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, torch on CPU")
    if parsed.only in (None, "sweeps"):
        sweeps(parsed.sweep_repeats, parsed.full)
    if parsed.only in (None, "throughput"):
        sizes = [int(k) for k in parsed.sizes.split(",")]
        throughput(parsed.repeats, sizes, parsed.device)
    if parsed.only in (None, "scaling"):
        scaling(parsed.repeats)


if __name__ == "__main__":
    main()
