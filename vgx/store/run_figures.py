"""A run's own figures (loss, gradient by layer as a heat map and as lines on one log axis,
first-layer weight change), drawn where the run is recorded; the plotting set-up that the sweep
figures share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vgx.results import CURVE_PREFIX

# Okabe–Ito: distinguishable with the common forms of colour blindness.
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def pyplot():
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["axes.prop_cycle"] = plt.cycler(color=COLOURS)
    # Unhinted glyphs: a seventh of a run's figure time less, and at 110 dpi they read as well.
    plt.rcParams["text.hinting"] = "no_hinting"
    return plt


def warm_up() -> None:
    """Import matplotlib and draw a throwaway run's figures ahead of the end of a run (the
    recording processes do it while runs train): the first draw loads fonts and fills caches,
    half a second that the first recorded run would otherwise wait for."""
    import io

    pyplot()
    depth = 3
    history = [
        {
            "loss/train": 1.0 / (epoch + 1),
            "loss/val": 1.1 / (epoch + 1),
            "weight_change/layer_1": 0.1 * epoch,
            **{f"grad_norm/layer_{i}": 10.0**-i * (epoch + 1) for i in range(1, depth + 1)},
            **{f"delta_norm/layer_{i}": 10.0**-i * (epoch + 2) for i in range(1, depth + 1)},
        }
        for epoch in range(3)
    ]
    canvases = _canvases(depth)
    epochs = list(range(len(history)))
    canvases.loss(epochs, history, "warm-up", io.BytesIO())
    canvases.gradients(history, "warm-up", io.BytesIO())
    canvases.gradient_lines(epochs, history, "warm-up", io.BytesIO())
    canvases.weight_change(epochs, history, "warm-up", io.BytesIO())


@dataclass
class RunFigures:
    """A run's figures, to be drawn where the run is recorded (a picklable order)."""

    history: list[dict[str, float]]
    depth: int
    title: str
    folder: Path
    constant_loss: float | None = None  # the best constant predictor's: a reference line

    def render(self) -> list[Path]:
        return run_figures(self.history, self.depth, self.title, self.folder, self.constant_loss)


def run_figures(
    history: list[dict[str, float]],
    depth: int,
    title: str,
    folder: Path,
    constant_loss: float | None = None,
) -> list[Path]:
    """The pictures the documents look at, for one run."""
    folder.mkdir(parents=True, exist_ok=True)
    if history and "grad_norm/W_h" in history[0]:
        return through_time_figures(history, title, folder, constant_loss)
    canvases = _canvases(depth)
    epochs = list(range(len(history)))
    return [
        canvases.loss(epochs, history, title, folder / "loss_curves.png", constant_loss),
        canvases.gradients(history, title, folder / "grad_norm_heatmap.png"),
        canvases.gradient_lines(epochs, history, title, folder / "gradient_lines.png"),
        canvases.weight_change(epochs, history, title, folder / "first_layer_weight_change.png"),
    ]


# What the gradient-lines figure shows, panel by panel: the metric family and its axis label.
GRADIENT_PANELS = (
    ("grad_norm", "‖∂J/∂W_i‖ (weight gradient)"),
    ("delta_norm", "‖∂J/∂b_i‖ (error signal)"),
)


class _RunCanvases:
    """The per-run figures of one depth, drawn once and then given each run's data: a batched
    sweep draws them for every run, and building axes, ticks and colour bars anew was most of
    their cost."""

    def __init__(self, depth: int) -> None:
        from matplotlib.colors import LogNorm
        from matplotlib.ticker import MaxNLocator

        plt = pyplot()
        self.depth = depth
        self.loss_fig, ax = plt.subplots(figsize=(6, 4))
        self.loss_ax = ax
        self.loss_lines = [
            ax.plot([], [], style, label=key.split("/")[1])[0] for key, style in LOSS_LINES
        ]
        self.constant_line = ax.axhline(
            float("nan"), color="0.5", linestyle=":", label="constant predictor (class prior)"
        )
        ax.set(xlabel="epoch", ylabel="cross-entropy loss (nats)")
        ax.legend()
        self.loss_fig.subplots_adjust(**RUN_MARGINS)
        _fixed_label_positions(ax, ylabel_x=-0.13)

        self.heat_fig, ax = plt.subplots(figsize=(7, 0.35 * depth + 2.2))
        self.heat_ax = ax
        self.image = ax.imshow(
            [[1.0, 10.0]] * depth,
            aspect="auto",
            origin="lower",
            cmap="viridis",
            norm=LogNorm(vmin=1.0, vmax=10.0),
            interpolation="nearest",
        )
        self.colorbar = self.heat_fig.colorbar(self.image, ax=ax, label="‖∂J/∂W‖ (log scale)")
        ax.set(xlabel="epoch", ylabel="layer (1 = input side)")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # layers are whole numbers
        self.heat_fig.subplots_adjust(**{**RUN_MARGINS, "left": 0.1, "right": 0.9})
        _fixed_label_positions(ax, ylabel_x=-0.06)
        # clear of tick labels like 10⁻¹⁰, and inside the canvas (a test reads its pixels)
        self.colorbar.ax.yaxis.set_label_coords(4.2, 0.5)

        # every layer's gradient on one log axis: layer 1 far below the last is the vanishing
        self.lines_fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
        self.lines_axes = axes
        colours = plt.get_cmap("viridis")
        self.layer_lines = []
        for ax, (_, label) in zip(axes, GRADIENT_PANELS, strict=True):
            lines = [
                ax.plot([], [], color=colours(i / max(1, depth - 1)), label=f"layer {i + 1}")[0]
                for i in range(depth)
            ]
            self.layer_lines.append(lines)
            ax.set_yscale("log")
            ax.set(xlabel="epoch", ylabel=label)
            _fixed_label_positions(ax, ylabel_x=-0.16)
        shown = [0, depth - 1] if depth > 6 else list(range(depth))  # a legend of 9 is noise
        axes[1].legend(
            [self.layer_lines[1][i] for i in shown],
            [f"layer {i + 1}" + (" (input side)" if i == 0 else "") for i in shown],
            fontsize="small",
        )
        self.lines_fig.subplots_adjust(left=0.09, right=0.98, bottom=0.12, top=0.86, wspace=0.3)

        self.change_fig, ax = plt.subplots(figsize=(6, 4))
        self.change_ax = ax
        (self.change_line,) = ax.plot([], [])
        ax.set(xlabel="epoch", ylabel="‖W₁(t) − W₁(0)‖ / ‖W₁(0)‖")
        self.change_fig.subplots_adjust(**{**RUN_MARGINS, "left": 0.16})
        _fixed_label_positions(ax, ylabel_x=-0.14)

    def loss(
        self,
        epochs: list[int],
        history: list[dict],
        title: str,
        path: Path,
        constant_loss: float | None = None,
    ) -> Path:
        for line, (key, _) in zip(self.loss_lines, LOSS_LINES, strict=True):
            line.set_data(epochs, [row[key] for row in history])
        reference = float("nan") if constant_loss is None else constant_loss
        self.constant_line.set_ydata([reference, reference])
        self.constant_line.set_visible(constant_loss is not None)
        _rescale(self.loss_ax, f"Loss — {title}")
        # from 0, and above the reference: a loss flat at ln 2 must not be zoomed into a fall
        top = self.loss_ax.get_ylim()[1]
        if constant_loss is not None:
            top = max(top, 1.1 * constant_loss)
        self.loss_ax.set_ylim(0, top)
        return save_figure(self.loss_fig, path, tight=False, close=False)

    def gradients(self, history: list[dict], title: str, path: Path) -> Path:
        from matplotlib.colors import LogNorm

        grid = [[row[f"grad_norm/layer_{i}"] for row in history] for i in range(1, self.depth + 1)]
        positive = [v for line in grid for v in line if v > 0 and v == v and v != float("inf")]
        visible = bool(positive)
        self.image.set_visible(visible)
        self.colorbar.ax.set_visible(visible)
        if visible:
            floor, top = min(positive), max(positive)
            clean = [
                [v if v > 0 and v == v and v != float("inf") else floor for v in line]
                for line in grid
            ]
            self.image.set_data(clean)
            self.image.set_norm(LogNorm(vmin=floor, vmax=top if top > floor else floor * 10))
            self.colorbar.update_normal(self.image)
        self.image.set_extent((-0.5, len(history) - 0.5, 0.5, self.depth + 0.5))
        self.heat_ax.set_title(f"Gradient norm by layer — {title}", y=1.0)
        return save_figure(self.heat_fig, path, tight=False, close=False)

    def gradient_lines(
        self, epochs: list[int], history: list[dict], title: str, path: Path
    ) -> Path:
        for ax, lines, (family, _) in zip(
            self.lines_axes, self.layer_lines, GRADIENT_PANELS, strict=True
        ):
            for i, line in enumerate(lines, start=1):
                key = f"{family}/layer_{i}"
                values = [row.get(key, float("nan")) for row in history]
                # a log axis has no place for 0, ±inf or NaN: those epochs are left out
                line.set_data(epochs, [v if 0 < v < float("inf") else float("nan") for v in values])
            _rescale(ax, "")
        self.lines_fig.suptitle(f"Gradient by layer, one log axis — {title}", y=0.97)
        return save_figure(self.lines_fig, path, tight=False, close=False)

    def weight_change(self, epochs: list[int], history: list[dict], title: str, path: Path) -> Path:
        self.change_line.set_data(epochs, [row["weight_change/layer_1"] for row in history])
        _rescale(self.change_ax, f"First-layer weight change — {title}")
        return save_figure(self.change_fig, path, tight=False, close=False)


LOSS_LINES = (("loss/train", "-"), ("loss/val", "--"))  # the metric, its line style


def curve_steps(row: dict[str, float]) -> list[int]:
    """The time steps t of a recurrent run's ‖∂ℓ/∂h_t‖ curve in a history row, in order."""
    return sorted(int(key[len(CURVE_PREFIX) :]) for key in row if key.startswith(CURVE_PREFIX))


def _positive(values: list[float]) -> list[float]:
    """NaN where a log axis has no place: 0, ±inf, NaN."""
    return [v if 0 < v < float("inf") else float("nan") for v in values]


def through_time_figures(
    history: list[dict[str, float]], title: str, folder: Path, constant_loss: float | None
) -> list[Path]:
    """A recurrent run's pictures: its loss; ‖∂ℓ/∂h_t‖ over time step and epoch (a heat map,
    log colour); that curve at a few epochs beside the weight matrices' gradient norms."""
    import math

    from matplotlib.colors import LogNorm

    plt = pyplot()
    epochs = list(range(len(history)))
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, style in LOSS_LINES:
        ax.plot(epochs, [row[key] for row in history], style, label=key.split("/")[1])
    if constant_loss is not None:
        ax.axhline(constant_loss, color="0.5", linestyle=":", label="constant predictor")
    ax.set(xlabel="epoch", ylabel="loss", title=f"Loss — {title}")
    top = max([v for row in history for v in (row["loss/train"], row["loss/val"]) if v == v] or [1])
    ax.set_ylim(0, max(top, 1.1 * (constant_loss or 0)) * 1.05 or 1)
    ax.legend()
    paths.append(save_figure(fig, folder / "loss_curves.png"))

    steps = curve_steps(history[0])
    grid = [[row.get(f"{CURVE_PREFIX}{t}", math.nan) for row in history] for t in steps]
    positive = [v for line in grid for v in line if 0 < v < math.inf]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if positive:
        floor, peak = min(positive), max(positive)
        clean = [[v if 0 < v < math.inf else floor for v in line] for line in grid]
        image = ax.imshow(
            clean,
            aspect="auto",
            origin="lower",
            cmap="viridis",
            norm=LogNorm(vmin=floor, vmax=peak if peak > floor else floor * 10),
            interpolation="nearest",
            extent=(-0.5, len(history) - 0.5, 0.5, len(steps) + 0.5),
        )
        fig.colorbar(image, ax=ax, label="‖∂ℓ/∂h_t‖ (log scale)")
    ax.set(xlabel="epoch", ylabel=f"time step t (read-out at t = {len(steps)})")
    ax.set_title(f"Gradient through time — {title}")
    paths.append(save_figure(fig, folder / "delta_through_time.png"))

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    shown = sorted({0, len(history) // 2, len(history) - 1})
    for epoch in shown:
        curve = [history[epoch].get(f"{CURVE_PREFIX}{t}", math.nan) for t in steps]
        left.plot(steps, _positive(curve), label=f"epoch {epoch}")
    left.set_yscale("log")
    left.set(xlabel="time step t", ylabel="‖∂ℓ/∂h_t‖", title="back through time")
    left.legend(fontsize="small")
    names = [k.split("/", 1)[1] for k in history[0] if k.startswith("grad_norm/")]
    for name in names:
        right.plot(epochs, _positive([row[f"grad_norm/{name}"] for row in history]), label=name)
    right.set_yscale("log")
    right.set(xlabel="epoch", ylabel="‖∂J/∂W‖", title="weight gradients")
    right.legend(fontsize="small")
    fig.suptitle(f"Gradient through time — {title}")
    paths.append(save_figure(fig, folder / "gradient_lines.png"))
    return paths


_CANVASES: dict[int, _RunCanvases] = {}


def _canvases(depth: int) -> _RunCanvases:
    if depth not in _CANVASES:
        _CANVASES[depth] = _RunCanvases(depth)
    return _CANVASES[depth]


def _rescale(ax, title: str) -> None:  # noqa: ANN001
    ax.set_autoscale_on(True)  # a reused canvas: the last run's fixed limits are not this one's
    ax.relim()
    ax.autoscale_view()
    ax.set_title(title, y=1.0)  # a given y: matplotlib does not measure the ticks to place it


def _fixed_label_positions(ax, ylabel_x: float) -> None:  # noqa: ANN001
    """Axis labels at fixed places (axes fractions): matplotlib otherwise measures every tick
    label of every draw to place them, a fifth of a run's figure time."""
    ax.xaxis.set_label_coords(0.5, -0.09)
    ax.yaxis.set_label_coords(ylabel_x, 0.5)


# Margins of the per-run figures: fixed, because tight_layout is 0.5 s of the 0.9 s a run's three
# figures take (bench: a sweep draws them for every run).
RUN_MARGINS = {"left": 0.14, "right": 0.97, "bottom": 0.12, "top": 0.91}


def save_figure(fig, path: Path, tight: bool = True, close: bool = True) -> Path:
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=110, pil_kwargs={"compress_level": 1})  # zlib at 6 was a quarter of it
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path
