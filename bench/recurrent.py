"""Recurrent runs: vgx's loop against a bare PyTorch loop of the same training, and stacked runs.

    python bench/recurrent.py [--repeats 5] [--epochs 10]

1. One RNN (tanh) and one LSTM run on the adding problem (T = 50, 32 units, 800 sequences,
   batch 32, Adam): vgx's loop (its probes every epoch included, and apart) against a plain
   script with torch.nn.RNN / torch.nn.LSTM and a Linear read-out, same data, batches and
   epochs, no measurement. Interleaved, medians of the repeats.
2. Stacked runs: K = 1, 16, 64 RNN runs of one shape (seeds 0…K−1) trained as one stack; wall
   time and runs per second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import compose_config  # noqa: E402
from vgx.core.data import load  # noqa: E402
from vgx.core.loop import cpu_threads, train, train_run  # noqa: E402

TASK = ["dataset=adding", "dataset.n_samples=1000", "dataset.length=50", "width=32", "depth=1"]


def bare_loop(model: str, epochs: int, seed: int = 0) -> float:
    """The same training as a plain PyTorch script would write it: seconds."""
    cfg = compose_config([f"model={model}", *TASK])[0]
    splits = load(cfg.dataset)
    torch.manual_seed(seed)
    cell = {"rnn": nn.RNN, "lstm": nn.LSTM}[model](2, cfg.width, batch_first=True)
    readout = nn.Linear(cfg.width, 1)
    parameters = [*cell.parameters(), *readout.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=cfg.optimizer.lr)
    x, y = splits.x_train, splits.y_train
    order = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    with cpu_threads(torch.device("cpu"), 0):  # one thread, as vgx picks for work this small
        for _ in range(epochs):
            for idx in torch.randperm(len(y), generator=order).split(cfg.batch_size):
                optimizer.zero_grad()
                outputs, _ = cell(x[idx])
                loss = ((readout(outputs[:, -1]).squeeze(-1) - y[idx]) ** 2).mean()
                loss.backward()
                optimizer.step()
    return time.perf_counter() - started


def vgx_run(model: str, epochs: int) -> tuple[float, float]:
    """(wall seconds, of which probes) of one vgx run, as `vgx train` trains it."""
    cfg = compose_config(
        [f"model={model}", "activation=tanh", *TASK, f"epochs={epochs}", "progress=false"]
    )[0]
    started = time.perf_counter()
    result = train_run(cfg)
    return time.perf_counter() - started, result.seconds["probes"]


def stacked(runs: int, epochs: int) -> float:
    cfgs = [
        compose_config(
            ["model=rnn", "activation=tanh", *TASK, f"epochs={epochs}", f"seed={s}",
             "progress=false"]
        )[0]
        for s in range(runs)
    ]  # fmt: skip
    started = time.perf_counter()
    train(cfgs)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    print(f"adding problem T = 50, 32 units, {args.epochs} epochs; medians of {args.repeats}")
    for model in ("rnn", "lstm"):
        bare, ours, probes = [], [], []
        for _ in range(args.repeats):
            bare.append(bare_loop(model, args.epochs))
            wall, probe = vgx_run(model, args.epochs)
            ours.append(wall)
            probes.append(probe)
        b, o, p = (statistics.median(v) for v in (bare, ours, probes))
        print(
            f"{model:>4}: bare torch.nn.{model.upper()} loop {b:6.2f} s   vgx {o:6.2f} s "
            f"(probes {p:5.2f} s, training alone {o - p:6.2f} s)   vgx/bare {o / b:4.2f}×, "
            f"training alone {(o - p) / b:4.2f}×"
        )
    print("stacked RNN runs (5 epochs each):")
    for runs in (1, 16, 64):
        wall = statistics.median(stacked(runs, 5) for _ in range(max(1, args.repeats // 2)))
        print(f"  K = {runs:>2}: {wall:6.2f} s   {runs / wall:6.2f} runs/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
