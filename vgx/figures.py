"""Figures, and the only importer of matplotlib: rendered once, at the end of a run."""

from __future__ import annotations

from pathlib import Path

# Okabe–Ito: distinguishable with the common forms of colour blindness.
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _pyplot():
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["axes.prop_cycle"] = plt.cycler(color=COLOURS)
    return plt


def run_figures(
    history: list[dict[str, float]], depth: int, title: str, folder: Path
) -> list[Path]:
    """The three pictures the documents look at, for one run."""
    from matplotlib.colors import LogNorm

    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    epochs = list(range(len(history)))
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, style in (("loss/train", "-"), ("loss/val", "--")):
        ax.plot(epochs, [row[key] for row in history], style, label=key.split("/")[1])
    ax.set(xlabel="epoch", ylabel="cross-entropy loss (nats)", title=f"Loss — {title}")
    ax.legend()
    paths.append(_save(fig, folder / "loss_curves.png"))

    grid = [[row[f"grad_norm/layer_{i}"] for row in history] for i in range(1, depth + 1)]
    positive = [v for line in grid for v in line if v > 0 and v == v and v != float("inf")]
    fig, ax = plt.subplots(figsize=(7, 0.35 * depth + 2.2))
    if positive:
        floor = min(positive)
        clean = [
            [v if v > 0 and v == v and v != float("inf") else floor for v in line] for line in grid
        ]
        image = ax.imshow(
            clean,
            aspect="auto",
            origin="lower",
            cmap="viridis",
            norm=LogNorm(vmin=floor, vmax=max(positive)),
            extent=(-0.5, len(history) - 0.5, 0.5, depth + 0.5),
            interpolation="nearest",
        )
        fig.colorbar(image, ax=ax, label="‖∂J/∂W‖ (log scale)")
    ax.set(
        xlabel="epoch", ylabel="layer (1 = input side)", title=f"Gradient norm by layer — {title}"
    )
    paths.append(_save(fig, folder / "grad_norm_heatmap.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [row["weight_change/layer_1"] for row in history])
    ax.set(
        xlabel="epoch",
        ylabel="‖W₁(t) − W₁(0)‖ / ‖W₁(0)‖",
        title=f"First-layer weight change — {title}",
    )
    paths.append(_save(fig, folder / "first_layer_weight_change.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
