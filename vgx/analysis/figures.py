"""A sweep's and a study's figures: one line per setting, the median over seeds in a band."""

from __future__ import annotations

from pathlib import Path

from vgx.results import CURVE_PREFIX
from vgx.store.run_figures import COLOURS, pyplot, save_figure


def report_figures(runs, folder: Path, title: str) -> list[Path]:
    """The sweep's pictures; each appears only where the keys it compares vary. Runs that differ
    only in `seed` are drawn as one line per setting, the median over the seeds in a band from
    min to max: 64 runs of 4 settings read as 4 lines, not 64."""
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    table, histories, varied = runs.table, runs.histories, runs.varied
    rows = [
        (_values(run, varied), run, histories.get(run["run_id"])) for _, run in table.iterrows()
    ]
    rows = [(name, run, h) for name, run, h in rows if h is not None and not h.empty]
    paths = []
    if not rows:
        return paths
    settings = run_settings(rows, varied)
    over_seeds = any(len(members) > 1 for members in settings.values())
    shown = [k for k in varied if k != "seed"] if over_seeds else varied
    legend_title = ", ".join(k.removesuffix(".name") for k in shown) or None
    styles = line_styles(settings, shown)
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
        paths.append(save_figure(fig, folder / name))

    def draw(ax, name: str, frame, label: bool = True) -> None:  # noqa: ANN001
        """The setting's median line, and its band where it has several seeds."""
        colour, style = styles[name]
        (line,) = ax.plot(
            frame.index, frame["median"], style, color=colour, label=name if label else None
        )
        if over_seeds:
            ax.fill_between(
                frame.index, frame["low"], frame["high"], color=line.get_color(), alpha=0.15
            )

    if any("grad_norm/W_h" in history for _, _, history in rows):
        _through_time_figures(plt, settings, draw, finish, title)
        return paths
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.6), sharey=True)
    for name, members in settings.items():
        for ax, at in zip(axes, ("first", "last"), strict=True):
            draw(ax, name, layer_profile(members, at))
    axes[0].set(title="at initialisation (epoch 0)", xlabel="layer (1 = input side)")
    axes[1].set(title="after the last epoch", xlabel="layer (1 = input side)")
    axes[0].set(ylabel="‖∂J/∂W‖ (log scale)", yscale="log")
    after_start = [k for k in shown if k.split(".")[0] in ACT_AFTER_EPOCH_0]
    if after_start:
        axes[0].text(
            0.02,
            0.02,
            f"{', '.join(after_start)} act only from the first update:\n"
            "settings that differ only there coincide here",
            transform=axes[0].transAxes,
            fontsize="small",
            color="0.35",
        )
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

    _loss_figure(plt, settings, draw, finish, title, "cross-entropy loss (nats)")

    if "regularizer.lam" in varied:
        paths.append(_error_against_lambda(plt, table, varied, folder, title))
    if "depth" in varied:
        paths.append(_initial_norm_against_depth(plt, rows, folder, title))
    return paths


def _through_time_figures(plt, settings: dict, draw, finish, title: str) -> None:  # noqa: ANN001
    """A recurrent sweep's pictures: ‖∂ℓ/∂h_t‖ against the distance from the read-out at epoch 0
    and at the end; W_h's gradient and the loss over the epochs."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.6), sharey=True)
    for name, members in settings.items():
        for ax, at in zip(axes, ("first", "last"), strict=True):
            draw(ax, name, time_profile(members, at))
    axes[0].set(title="at initialisation (epoch 0)", ylabel="‖∂ℓ/∂h_t‖ (log scale)", yscale="log")
    axes[1].set(title="after the last epoch")
    for ax in axes:
        ax.set(xlabel="steps back from the read-out, k = T − t")
    fig.suptitle(f"Gradient through time — {title}")
    finish(axes[1], fig, "delta_by_step.png")

    fig, ax = plt.subplots(figsize=(11, 4.6))
    for name, members in settings.items():
        draw(ax, name, spread(members, "grad_norm/W_h"))
    ax.set(xlabel="epoch", ylabel="‖∂J/∂W_h‖ (log scale)", yscale="log")
    ax.set_title(f"Gradient of the recurrent weights — {title}")
    finish(ax, fig, "grad_norm_W_h.png")

    _loss_figure(plt, settings, draw, finish, title, "loss")


def _loss_figure(plt, settings: dict, draw, finish, title: str, ylabel: str) -> None:  # noqa: ANN001
    """Training and validation loss by setting, side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.6), sharey=True)
    for name, members in settings.items():
        for ax, key in zip(axes, ("loss/train", "loss/val"), strict=True):
            draw(ax, name, spread(members, key))
    axes[0].set(title="training set", xlabel="epoch", ylabel=ylabel)
    axes[1].set(title="validation set", xlabel="epoch")
    axes[0].set_ylim(bottom=0)  # a flat ln 2 never looks like a fall
    fig.suptitle(f"Loss curves — {title}")
    finish(axes[1], fig, "loss_curves.png")


def time_profile(members: list, at: str):  # noqa: ANN201 - a pandas DataFrame
    """Per distance k from the read-out: median, low and high of ‖∂ℓ/∂h_{T−k}‖ at the first or
    last epoch, from the whole curve in history.csv (the log-spaced grid where it is missing)."""
    import pandas as pd

    columns = []
    for _, history in members:
        row = history.iloc[0 if at == "first" else -1]
        curve = {
            int(key.rsplit("_", 1)[1]): row[key]
            for key in row.index
            if key.startswith(CURVE_PREFIX)
        }
        if curve:
            steps = max(curve)
            columns.append(pd.Series({steps - t: v for t, v in curve.items()}).sort_index())
        else:
            grid = {int(k.rsplit("_", 1)[1]): row[k] for k in row.index if "/step_" in k}
            columns.append(pd.Series(grid).sort_index())
    return _band(pd.concat(columns, axis=1))


# Config groups whose settings change nothing before the first update (epoch 0).
ACT_AFTER_EPOCH_0 = ("optimizer", "regularizer", "clip", "epochs", "batch_size")
LINE_STYLES = ("-", "--", ":", "-.")


def line_styles(settings: dict[str, list], keys: list[str]) -> dict[str, tuple[str, str]]:
    """(colour, line style) per setting: one hue per value of the first varied key, one line
    style per value of the second, so that a reader finds a key's value by its look."""

    def values(name: str, key: str) -> str:
        run = settings[name][0][0]
        return str(run.get(f"params.{key}"))

    first = keys[0] if keys else None
    second = keys[1] if len(keys) > 1 else None
    hues = sorted({values(n, first) for n in settings}, key=_sort_key) if first else []
    dashes = sorted({values(n, second) for n in settings}, key=_sort_key) if second else []
    styles = {}
    for i, name in enumerate(settings):
        hue = hues.index(values(name, first)) if first else i
        dash = dashes.index(values(name, second)) if second else 0
        styles[name] = (COLOURS[hue % len(COLOURS)], LINE_STYLES[dash % len(LINE_STYLES)])
    return styles


def run_settings(rows: list, varied: list[str]) -> dict[str, list]:
    """The runs grouped by setting: every varied key but `seed` equal. Without a varied seed,
    every run is its own setting (named by `rows`' labels)."""
    if "seed" not in varied:
        return {name: [(run, history)] for name, run, history in rows}
    others = [k for k in varied if k != "seed"]
    settings: dict[str, list] = {}
    order: dict[str, tuple] = {}
    for _, run, history in rows:
        # the values alone: the legend's title names the keys once
        name = _values(run, others) if others else "all runs"
        settings.setdefault(name, []).append((run, history))
        order[name] = tuple(_sort_key(run.get(f"params.{k}")) for k in others)
    return {name: settings[name] for name in sorted(settings, key=order.__getitem__)}


def _values(run, keys: list[str]) -> str:  # noqa: ANN001 - a row of the runs table
    """A run's values of the varied keys, the keys left to the legend's title: 'sigmoid, adam'."""
    text = ", ".join(str(run.get(f"params.{k}")) for k in keys)
    return text or str(run.get("tags.mlflow.runName", run["run_id"][:8]))


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

    # one column a run, indexed by epoch (set_index would copy every column of every history)
    columns = [
        pd.Series(history[key].to_numpy(), index=history["epoch"].to_numpy())
        for _, history in members
    ]
    return _band(pd.concat(columns, axis=1))


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
    return save_figure(fig, folder / "error_vs_lambda.png")


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
    return save_figure(fig, folder / "initial_grad_norm_vs_depth.png")


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
    plt = pyplot()
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
    return save_figure(fig, path)


def median_curves(
    curves: dict[str, list[list[float]]],
    title: str,
    ylabel: str,
    path: Path,
    log: bool = True,
) -> Path:
    """One line per setting: the median over its seeds at each epoch, shaded from min to max."""
    import numpy as np

    plt = pyplot()
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
    return save_figure(fig, path)


def through_time_panels(
    loss_curves: dict[str, list[list[float]]],
    time_curves: dict[str, list[list[float]]],
    title: str,
    loss_label: str,
    path: Path,
    reference: tuple[float, str] | None = None,
) -> Path:
    """A recurrent study's picture: the training loss by setting (median over seeds, band
    min–max; a line that stops has diverged) beside ‖∂ℓ/∂h_t‖ at epoch 0 against the distance
    k = T − t from the read-out: how much of the gradient reaches the steps far back."""
    import numpy as np

    plt = pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    for i, (name, series) in enumerate(loss_curves.items()):
        length = max(len(s) for s in series)
        values = np.array([s + [np.nan] * (length - len(s)) for s in series], dtype=float)
        values[~np.isfinite(values)] = np.nan  # a line that stops has diverged
        _nan_band(left, values, i, name)
    if reference is not None:
        left.axhline(reference[0], color="0.5", linestyle=":", label=reference[1])
    left.set(xlabel="epoch", ylabel=loss_label, yscale="log", title="training loss")
    left.legend(fontsize="small")
    for i, (name, series) in enumerate(time_curves.items()):
        series = [s for s in series if s]
        if not series:
            continue
        length = min(len(s) for s in series)
        values = np.array([s[::-1][:length] for s in series], dtype=float)  # k = 0 first
        values[~(values > 0)] = np.nan  # a log axis has no place for 0
        _nan_band(right, values, i, name)
    right.set(
        xlabel="steps back from the read-out, k = T − t",
        ylabel="‖∂ℓ/∂h_t‖ at epoch 0 (log scale)",
        yscale="log",
        title="gradient through time, untrained",
    )
    right.legend(fontsize="small")
    fig.suptitle(title)
    return save_figure(fig, path)


def _nan_band(ax, values, i: int, name: str) -> None:  # noqa: ANN001 - an Axes, an array
    """Setting `i`'s median over its seeds (the rows of `values`) and its min–max band, NaN
    left out: an epoch where every seed's run has stopped draws nothing."""
    import warnings

    import numpy as np

    colour, style = COLOURS[i % len(COLOURS)], LINE_STYLES[i // len(COLOURS) % len(LINE_STYLES)]
    x = np.arange(values.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # All-NaN columns
        median = np.nanmedian(values, axis=0)
        low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    ax.plot(x, median, style, color=colour, label=name)
    ax.fill_between(x, low, high, color=colour, alpha=0.15)
