"""Figures, and the only importer of matplotlib: rendered once, at the end of a run."""

from __future__ import annotations

from dataclasses import dataclass
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
    # Unhinted glyphs: a seventh of a run's figure time less, and at 110 dpi they read as well.
    plt.rcParams["text.hinting"] = "no_hinting"
    return plt


def warm_up() -> None:
    """Import matplotlib and draw a throwaway run's figures ahead of the end of a run (the
    recording processes do it while runs train): the first draw loads fonts and fills caches,
    half a second that the first recorded run would otherwise wait for."""
    import io

    _pyplot()
    depth = 3
    history = [
        {
            "loss/train": 1.0 / (epoch + 1),
            "loss/val": 1.1 / (epoch + 1),
            "weight_change/layer_1": 0.1 * epoch,
            **{f"grad_norm/layer_{i}": 10.0**-i * (epoch + 1) for i in range(1, depth + 1)},
        }
        for epoch in range(3)
    ]
    canvases = _canvases(depth)
    epochs = list(range(len(history)))
    canvases.loss(epochs, history, "warm-up", io.BytesIO())
    canvases.gradients(history, "warm-up", io.BytesIO())
    canvases.weight_change(epochs, history, "warm-up", io.BytesIO())


@dataclass
class RunFigures:
    """A run's figures, to be drawn where the run is recorded (a picklable order)."""

    history: list[dict[str, float]]
    depth: int
    title: str
    folder: Path

    def render(self) -> list[Path]:
        return run_figures(self.history, self.depth, self.title, self.folder)


def run_figures(
    history: list[dict[str, float]], depth: int, title: str, folder: Path
) -> list[Path]:
    """The three pictures the documents look at, for one run."""
    folder.mkdir(parents=True, exist_ok=True)
    canvases = _canvases(depth)
    epochs = list(range(len(history)))
    return [
        canvases.loss(epochs, history, title, folder / "loss_curves.png"),
        canvases.gradients(history, title, folder / "grad_norm_heatmap.png"),
        canvases.weight_change(epochs, history, title, folder / "first_layer_weight_change.png"),
    ]


class _RunCanvases:
    """The per-run figures of one depth, drawn once and then given each run's data: a batched
    sweep draws them for every run, and building axes, ticks and colour bars anew was most of
    their cost."""

    def __init__(self, depth: int) -> None:
        from matplotlib.colors import LogNorm
        from matplotlib.ticker import MaxNLocator

        plt = _pyplot()
        self.depth = depth
        self.loss_fig, ax = plt.subplots(figsize=(6, 4))
        self.loss_ax = ax
        self.loss_lines = [
            ax.plot([], [], style, label=key.split("/")[1])[0] for key, style in LOSS_LINES
        ]
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
        self.heat_fig.subplots_adjust(**{**RUN_MARGINS, "left": 0.1, "right": 0.98})
        _fixed_label_positions(ax, ylabel_x=-0.06)
        self.colorbar.ax.yaxis.set_label_coords(5.2, 0.5)  # clear of tick labels like 10⁻¹⁰

        self.change_fig, ax = plt.subplots(figsize=(6, 4))
        self.change_ax = ax
        (self.change_line,) = ax.plot([], [])
        ax.set(xlabel="epoch", ylabel="‖W₁(t) − W₁(0)‖ / ‖W₁(0)‖")
        self.change_fig.subplots_adjust(**{**RUN_MARGINS, "left": 0.16})
        _fixed_label_positions(ax, ylabel_x=-0.14)

    def loss(self, epochs: list[int], history: list[dict], title: str, path: Path) -> Path:
        for line, (key, _) in zip(self.loss_lines, LOSS_LINES, strict=True):
            line.set_data(epochs, [row[key] for row in history])
        _rescale(self.loss_ax, f"Loss — {title}")
        return _save(self.loss_fig, path, tight=False, close=False)

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
        return _save(self.heat_fig, path, tight=False, close=False)

    def weight_change(self, epochs: list[int], history: list[dict], title: str, path: Path) -> Path:
        self.change_line.set_data(epochs, [row["weight_change/layer_1"] for row in history])
        _rescale(self.change_ax, f"First-layer weight change — {title}")
        return _save(self.change_fig, path, tight=False, close=False)


LOSS_LINES = (("loss/train", "-"), ("loss/val", "--"))  # the metric, its line style
_CANVASES: dict[int, _RunCanvases] = {}


def _canvases(depth: int) -> _RunCanvases:
    if depth not in _CANVASES:
        _CANVASES[depth] = _RunCanvases(depth)
    return _CANVASES[depth]


def _rescale(ax, title: str) -> None:  # noqa: ANN001
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


def _save(fig, path: Path, tight: bool = True, close: bool = True) -> Path:
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=110, pil_kwargs={"compress_level": 1})  # zlib at 6 was a quarter of it
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def report_figures(runs, folder: Path, title: str) -> list[Path]:
    """The sweep's pictures; each appears only where the keys it compares vary. Runs that differ
    only in `seed` are drawn as one line per setting, the median over the seeds in a band from
    min to max: 64 runs of 4 settings read as 4 lines, not 64."""
    from vgx.report import label

    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    table, histories, varied = runs.table, runs.histories, runs.varied
    rows = [(label(run, varied), run, histories.get(run["run_id"])) for _, run in table.iterrows()]
    rows = [(name, run, h) for name, run, h in rows if h is not None and not h.empty]
    paths = []
    if not rows:
        return paths
    settings = run_settings(rows, varied)
    over_seeds = any(len(members) > 1 for members in settings.values())
    shown = [k for k in varied if k != "seed"] if over_seeds else varied
    legend_title = ", ".join(k.removesuffix(".name") for k in shown) or None
    if over_seeds:
        seeds = max(len(members) for members in settings.values())
        title = f"{title} (median of {seeds} seeds, band: min–max)"
    many = len(settings) > 8

    def finish(ax, fig, name: str) -> None:
        # beside the plot, never over the curves; many lines get a smaller font and two columns
        ax.legend(
            title=legend_title,
            fontsize="x-small" if many else "small",
            ncol=2 if len(settings) > 16 else 1,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
        )
        paths.append(_save(fig, folder / name))

    def draw(ax, name: str, frame, style: str = "-", colour=None, label=None) -> None:  # noqa: ANN001
        """The setting's median line, and its band where it has several seeds."""
        (line,) = ax.plot(frame.index, frame["median"], style, color=colour, label=label or name)
        if over_seeds:
            ax.fill_between(
                frame.index, frame["low"], frame["high"], color=line.get_color(), alpha=0.15
            )

    fig, axes = plt.subplots(1, 2, figsize=(14, 4.6), sharey=True)
    for name, members in settings.items():
        for ax, at in zip(axes, ("first", "last"), strict=True):
            draw(ax, name, layer_profile(members, at))
    axes[0].set(title="at initialisation (epoch 0)", xlabel="layer (1 = input side)")
    axes[1].set(title="after the last epoch", xlabel="layer (1 = input side)")
    axes[0].set(ylabel="‖∂J/∂W‖ (log scale)", yscale="log")
    fig.suptitle(f"Gradient norm by layer — {title}")
    finish(axes[1], fig, "grad_norm_by_layer.png")

    fig, ax = plt.subplots(figsize=(11, 4.6))
    change = {name: spread(members, "weight_change/layer_1") for name, members in settings.items()}
    for name, frame in change.items():
        draw(ax, name, frame)
    ax.set(
        xlabel="epoch",
        ylabel="‖W₁(t) − W₁(0)‖ / ‖W₁(0)‖ (log scale)",
        yscale="symlog" if _spans_decades([f["median"] for f in change.values()]) else "linear",
        title=f"First-layer weight change — {title}",
    )
    finish(ax, fig, "first_layer_weight_change.png")

    fig, ax = plt.subplots(figsize=(11, 4.6))
    for i, (name, members) in enumerate(settings.items()):
        colour = COLOURS[i % len(COLOURS)]
        draw(ax, name, spread(members, "loss/train"), "-", colour, f"{name} (train)")
        val = spread(members, "loss/val")  # no band: two overlapping bands read as one blob
        ax.plot(val.index, val["median"], "--", color=colour)
    ax.set(xlabel="epoch", ylabel="cross-entropy loss (nats); dashed: validation")
    ax.set_title(f"Loss curves — {title}")
    finish(ax, fig, "loss_curves.png")

    if "regularizer.lam" in varied:
        paths.append(_error_against_lambda(plt, table, varied, folder, title))
    if "depth" in varied:
        paths.append(_initial_norm_against_depth(plt, rows, folder, title))
    return paths


def run_settings(rows: list, varied: list[str]) -> dict[str, list]:
    """The runs grouped by setting: every varied key but `seed` equal. Without a varied seed,
    every run is its own setting (named by `rows`' labels)."""
    from vgx.report import label

    if "seed" not in varied:
        return {name: [(run, history)] for name, run, history in rows}
    others = [k for k in varied if k != "seed"]
    settings: dict[str, list] = {}
    order: dict[str, tuple] = {}
    for _, run, history in rows:
        name = label(run, others) if others else "all runs"
        settings.setdefault(name, []).append((run, history))
        order[name] = tuple(_sort_key(run.get(f"params.{k}")) for k in others)
    return {name: settings[name] for name in sorted(settings, key=order.__getitem__)}


def _sort_key(value: object) -> tuple:
    """Params come back as strings: 0.001 before 0.01 before 0.1, numbers before words."""
    try:
        return (0, float(str(value)), "")
    except ValueError:
        return (1, 0.0, str(value))


def spread(members: list, key: str):  # noqa: ANN201 - a pandas DataFrame
    """Per epoch: median, low (min) and high (max) of `key` over the runs; a run that stopped
    early (diverged) counts while it lasted."""
    import pandas as pd

    return _band(pd.concat([history.set_index("epoch")[key] for _, history in members], axis=1))


def _band(values):  # noqa: ANN001, ANN202 - pandas DataFrames: one column per run
    import pandas as pd

    return pd.DataFrame(
        {"median": values.median(axis=1), "low": values.min(axis=1), "high": values.max(axis=1)}
    )


def layer_profile(members: list, at: str):  # noqa: ANN201 - a pandas DataFrame
    """Per layer: median, low and high of ‖∂J/∂W_i‖ at the first or last recorded epoch."""
    import pandas as pd

    columns = []
    for run, history in members:
        depth = int(run["params.depth"])
        row = history.iloc[0 if at == "first" else -1]
        columns.append(
            pd.Series(
                [row[f"grad_norm/layer_{i}"] for i in range(1, depth + 1)], range(1, depth + 1)
            )
        )
    return _band(pd.concat(columns, axis=1))


def _spans_decades(series_list) -> bool:
    values = [float(v) for s in series_list for v in s if float(v) > 0]
    return bool(values) and max(values) / min(values) > 100


def _error_against_lambda(plt, table, varied, folder: Path, title: str) -> Path:
    """Seed 003's bias/variance picture: train and dev error as λ grows, median over seeds."""
    others = [k for k in varied if k not in ("regularizer.lam", "seed")]
    data = table.assign(
        lam=table["params.regularizer.lam"].astype(float),
        train_error=1 - table["metrics.acc/train"],
        val_error=1 - table["metrics.acc/val"],
    )
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    groups = data.groupby([f"params.{k}" for k in others]) if others else [((), data)]
    for i, (key, group) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(f"{k}={v}" for k, v in zip(others, key, strict=True))
        med = group.groupby("lam")[["train_error", "val_error"]].median().sort_index()
        colour = COLOURS[i % len(COLOURS)]
        suffix = f" ({name})" if name else ""
        ax.plot(med.index, med.train_error, "o-", color=colour, label="train" + suffix)
        ax.plot(med.index, med.val_error, "s--", color=colour, label="validation" + suffix)
    ax.set_xscale("symlog", linthresh=min([v for v in data.lam.unique() if v > 0] or [1e-4]))
    ax.set(
        xlabel="λ (symlog scale)",
        ylabel="error (1 − accuracy), median over seeds",
        title=f"Error against λ — {title}",
    )
    ax.legend(fontsize="small")
    return _save(fig, folder / "error_vs_lambda.png")


def _initial_norm_against_depth(plt, rows, folder: Path, title: str) -> Path:
    """How the gradient reaching layer 1 at initialisation falls with depth, per activation."""
    by_activation: dict[str, list[tuple[int, float]]] = {}
    for _, run, history in rows:
        activation = str(run.get("params.activation.name"))
        by_activation.setdefault(activation, []).append(
            (int(run["params.depth"]), float(history["grad_norm/layer_1"].iloc[0]))
        )
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for activation, points in sorted(by_activation.items()):
        points.sort()
        ax.plot([d for d, _ in points], [v for _, v in points], "o-", label=activation)
    ax.set(
        xlabel="depth (Linear layers)",
        ylabel="‖∂J/∂W₁‖ at epoch 0 (log scale)",
        yscale="log",
        title=f"Gradient reaching layer 1 against depth — {title}",
    )
    ax.legend(title="activation")
    return _save(fig, folder / "initial_grad_norm_vs_depth.png")


def bar_chart(
    bars: dict[str, tuple[float, float, float]],
    title: str,
    ylabel: str,
    path: Path,
    log: bool = False,
    reference: dict[str, float] | None = None,
    reference_label: str = "",
) -> Path:
    """One bar per setting: the median over seeds, whiskers from min to max; optional markers
    (e.g. a theory value) per bar."""
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(bars)
    medians = [bars[n][0] for n in names]
    low = [bars[n][0] - bars[n][1] for n in names]
    high = [bars[n][2] - bars[n][0] for n in names]
    fig, ax = plt.subplots(figsize=(max(7.5, 0.9 * len(names) + 2), 4.4))
    ax.bar(
        names,
        medians,
        yerr=[low, high],
        capsize=4,
        color=COLOURS[0],
        label="measured (median, min–max)",
    )
    if reference:
        ax.scatter(
            [n for n in names if n in reference],
            [reference[n] for n in names if n in reference],
            marker="D",
            color=COLOURS[3],
            zorder=3,
            label=reference_label,
        )
    if log:
        ax.set_yscale("log")
    ax.set(title=title, ylabel=ylabel)
    ax.tick_params(axis="x", rotation=20)
    ax.legend(fontsize="small")
    return _save(fig, path)


def median_curves(
    curves: dict[str, list[list[float]]],
    title: str,
    ylabel: str,
    path: Path,
    log: bool = True,
) -> Path:
    """One line per setting: the median over its seeds at each epoch, shaded from min to max."""
    import numpy as np

    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    styles = ["-", "--", "-.", ":"]
    for i, (name, series) in enumerate(curves.items()):
        length = min(len(s) for s in series)
        values = np.array([s[:length] for s in series], dtype=float)
        epochs = np.arange(length)
        colour = COLOURS[i % len(COLOURS)]
        ax.plot(
            epochs,
            np.median(values, axis=0),
            styles[i // len(COLOURS) % 4],
            color=colour,
            label=name,
        )
        ax.fill_between(epochs, values.min(axis=0), values.max(axis=0), color=colour, alpha=0.15)
    if log:
        ax.set_yscale("log")
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
    ax.legend(fontsize="small")
    return _save(fig, path)
