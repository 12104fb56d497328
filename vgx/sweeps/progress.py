"""Progress on a terminal (tqdm): a run's epochs with its loss and the time left; a sweep's runs
done of N, its current stack and the time left. Silent when stderr is not a terminal (CI logs,
pipes), and wherever `progress=false`."""

from __future__ import annotations

import sys

from tqdm import tqdm


def _on_terminal() -> bool:
    return sys.stderr.isatty()


class RunProgress:
    """One run's epochs: epoch k of N, loss/train and loss/val, elapsed and time left."""

    def __init__(self, epochs: int, enabled: bool) -> None:
        self.bar = None
        if enabled and _on_terminal():
            inside = _sweep is not None and _sweep.bar is not None
            self.bar = tqdm(
                total=epochs,
                unit="epoch",
                desc="  run" if inside else "train",
                position=1 if inside else 0,
                leave=not inside,
                file=sys.stderr,
            )

    def __call__(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.bar is None:
            return
        self.bar.update(epoch - self.bar.n)  # epoch 0 is the untrained net: nothing done yet
        self.bar.set_postfix(
            {
                "loss/train": f"{metrics['loss/train']:.4f}",
                "loss/val": f"{metrics['loss/val']:.4f}",
            },
            refresh=False,
        )
        if epoch == self.bar.total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class SweepProgress:
    """A sweep's runs done of N; a batched sweep also names the stack it is training."""

    def __init__(self, jobs: int, enabled: bool = True) -> None:
        self.bar = None
        if enabled and jobs > 1 and _on_terminal():
            self.bar = tqdm(
                total=jobs,
                unit="run",
                desc="sweep",
                position=0,
                dynamic_ncols=True,
                file=sys.stderr,
            )

    def done(self, runs: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(runs)

    def stack(self, number: int, stacks: int, runs: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"stack {number}/{stacks} ({runs} runs)")

    def write(self, text: str) -> None:
        """A line on stdout that leaves the bar whole below it."""
        if self.bar is None:
            print(text, flush=True)
        else:
            tqdm.write(text, file=sys.stdout)
            sys.stdout.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


_sweep: SweepProgress | None = None


def start_sweep(jobs: int, enabled: bool = True) -> SweepProgress:
    """The sweep's bar, which the jobs of this process advance (`sweep()`)."""
    global _sweep
    _sweep = SweepProgress(jobs, enabled)
    return _sweep


def sweep() -> SweepProgress:
    """The running sweep's bar; a silent one outside a sweep (or in a launcher's worker)."""
    return _sweep if _sweep is not None else SweepProgress(0, False)


def end_sweep() -> None:
    global _sweep
    if _sweep is not None:
        _sweep.close()
    _sweep = None
