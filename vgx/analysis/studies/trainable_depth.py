"""Schoenholz et al. 2017: a random tanh net is trainable to a depth of about 6 ξ_c, ξ_c being the
depth scale over which the correlation map forgets two inputs' correlation; the grid of final
training accuracy over σ_w² and depth, with the 6 ξ_c curve over it."""

from __future__ import annotations

import math

import pandas as pd

from vgx.analysis.studies.base import Paper, Study, Verdict, conclude

TRAINED = 0.5  # "trained": the final training accuracy reaches 50% (chance: 10%)
AGREEMENT = 0.8  # the claim holds where "trained" agrees with "depth < 6 ξ_c" in 80% of cells
XI_MULTIPLE = 6


def sigma_w2(frame: pd.DataFrame) -> pd.Series:
    return (frame.init_std**2 * frame.width).round(3)


def six_xi(sigma_w2_value: float, sigma_b2: float) -> float:
    from vgx.analysis.theory import predict

    return XI_MULTIPLE * predict("tanh", sigma_w2_value, sigma_b2).xi_c


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (σ_w², depth): the median final training accuracy over seeds, trained or
    not, and the theory's 6 ξ_c."""
    frame = frame.assign(sigma_w2=sigma_w2(frame))
    grid = (
        frame.groupby(["sigma_w2", "depth"])
        .agg(accuracy=("train_accuracy", "median"), seeds=("seed", "count"))
        .reset_index()
    )
    sigma_b2 = float(frame.bias_std.median()) ** 2
    limits = {w: six_xi(w, sigma_b2) for w in grid.sigma_w2.unique()}
    grid["six_xi_c"] = grid.sigma_w2.map(limits)
    grid["trained"] = grid.accuracy >= TRAINED
    grid["predicted"] = grid.depth < grid.six_xi_c
    return grid


def judge_trainable_depth(frame: pd.DataFrame) -> Verdict:
    grid = cells(frame)
    agree = grid.trained == grid.predicted
    beyond = grid[~grid.predicted]
    share = float(agree.mean()) if len(grid) else math.nan
    parts = {
        f"'trained' agrees with 'depth < 6 ξ_c' in at least {AGREEMENT:.0%} of the cells": (
            bool(len(grid)) and share >= AGREEMENT,
            f"{int(agree.sum())} of {len(grid)} cells ({share:.0%})",
        ),
        "no net deeper than 6 ξ_c trains": (
            bool(len(beyond)) and not bool(beyond.trained.any()),
            f"{int(beyond.trained.sum())} of {len(beyond)} cells beyond 6 ξ_c trained",
        ),
    }
    rows = grid.assign(
        accuracy=grid.accuracy.round(3), six_xi_c=grid.six_xi_c.round(1), agrees=agree
    )
    missed = grid[~agree]
    words = [
        f"final training accuracy ≥ {TRAINED:.0%} counts as trained; cells where it disagrees "
        "with the theory: "
        + (
            ", ".join(
                f"σ_w² {r.sigma_w2:g} depth {r.depth} (accuracy {r.accuracy:.2f}, 6 ξ_c "
                f"{r.six_xi_c:.0f})"
                for r in missed.itertuples()
            )
            or "none"
        )
    ]
    return conclude(parts, rows.reset_index(drop=True), words)


def figure_trainable_depth(frame: pd.DataFrame, folder) -> object:  # noqa: ANN001
    """The paper's phase diagram, small: final training accuracy over σ_w² × depth, and the
    6 ξ_c curve computed on a fine σ_w² grid."""
    import numpy as np

    from vgx.analysis.figures import pyplot, save_figure

    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    grid = cells(frame)
    widths, depths = sorted(grid.sigma_w2.unique()), sorted(grid.depth.unique())
    image = grid.pivot(index="depth", columns="sigma_w2", values="accuracy").loc[depths, widths]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    shown = ax.pcolormesh(
        np.arange(len(widths) + 1) - 0.5,
        np.arange(len(depths) + 1) - 0.5,
        image.to_numpy(),
        cmap="viridis",
        vmin=0,
        vmax=1,
    )
    fig.colorbar(shown, ax=ax, label="final training accuracy (median of seeds)")
    fine = np.linspace(min(widths), max(widths), 60)
    sigma_b2 = float(frame.bias_std.median()) ** 2
    limit = [six_xi(w, sigma_b2) for w in fine]
    # positions on the cell axes: σ_w² and depth interpolated between the grid's ticks
    x = np.interp(fine, widths, np.arange(len(widths)))
    y = np.interp(limit, depths, np.arange(len(depths)), right=len(depths) - 0.5 + 1)
    ax.plot(x, np.minimum(y, len(depths) - 0.5), "w--", label="6 ξ_c (mean-field theory)")
    ax.set_xticks(range(len(widths)), [f"{w:g}" for w in widths])
    ax.set_yticks(range(len(depths)), [str(d) for d in depths])
    ax.set(xlabel="σ_w²", ylabel="depth (layers)", title="Trainability of tanh nets, σ_b² = 0.05")
    ax.legend(loc="lower right", fontsize="small")
    return save_figure(fig, folder / "trainable_depth_grid.png")


STUDY = Study(
    "trainable_depth",
    "A random tanh net (σ_b² = 0.05) trains when its depth is below about 6 ξ_c, ξ_c the depth "
    "scale of the correlation map, across σ_w² from 1 to 4",
    "Schoenholz et al. 2017",
    judge_trainable_depth,
    figure_trainable_depth,
    headline_figure="trainable_depth_grid.png",
    rule=f"over the grid's cells (median of the seeds in each): {AGREEMENT:.0%} agreement",
    paper=Paper(
        "Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, Deep Information Propagation",
        "their trainability figure (accuracy over σ_w² × depth on MNIST and CIFAR-10)",
        "the boundary of the trainable region follows 6 ξ_c",
    ),
)
