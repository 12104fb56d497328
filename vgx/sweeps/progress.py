"""Progress of a run on a terminal."""

from __future__ import annotations

import sys


class ProgressBar:
    """One updating line on a terminal; silent in CI logs and pipes."""

    def __init__(self, epochs: int, enabled: bool) -> None:
        self.epochs = epochs
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, epoch: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        done = int(30 * epoch / self.epochs)
        sys.stderr.write(
            f"\r  [{'#' * done}{'.' * (30 - done)}] epoch {epoch}/{self.epochs}"
            f"  loss/train {metrics['loss/train']:.4f}  loss/val {metrics['loss/val']:.4f}"
        )
        if epoch == self.epochs:
            sys.stderr.write("\n")
        sys.stderr.flush()
