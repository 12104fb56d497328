"""What a student reads off vgx's output: summaries, names, counts and figures that say what
was measured and nothing else."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from tests.conftest import compose_config
from vgx.core.loop import train
from vgx.core.objective import constant_loss
from vgx.results import RunOutcome, TrainResult
from vgx.sweeps.identity import config_hash, run_name
from vgx.sweeps.summary import summary


def test_the_summary_labels_the_gradient_ratio_at_epoch_0_and_at_the_end():
    cfg, _ = compose_config(["depth=3"])
    first = {"grad_norm/layer_1": 6.3e-5, "grad_norm/layer_3": 1.0}
    last = {"grad_norm/layer_1": 0.0041, "grad_norm/layer_3": 1.0}
    result = TrainResult(history=[first, last], final={"loss/test": 0.69, "acc/test": 0.5})
    text = summary(RunOutcome("id", "name", result, 0.69), cfg)
    line = next(x for x in text.splitlines() if "gradient norm layer 1 / layer 3" in x)
    assert "epoch 0 6.3e-05" in line and "epoch 1 0.0041" in line


def test_gd_and_sgd_are_told_apart_by_name_and_hash():
    gd, _ = compose_config(["optimizer=gd"])
    sgd, _ = compose_config(["optimizer=sgd", "optimizer.lr=0.1"])
    assert gd.optimizer.name == "gd"
    assert run_name(gd) != run_name(sgd) and "-gd-" in run_name(gd)
    assert config_hash(gd) != config_hash(sgd)


def test_gd_trains_as_sgd_without_momentum():
    gd, _ = compose_config(["optimizer=gd", "epochs=3", "depth=3"])
    sgd, _ = compose_config(["optimizer=sgd", "optimizer.lr=0.1", "epochs=3", "depth=3"])
    (a,), (b,) = train([gd]), train([sgd])
    assert a.history[-1]["loss/train"] == b.history[-1]["loss/train"]


def test_gd_refuses_a_momentum(capsys):
    from vgx.cli import main
    from vgx.errors import EXIT_USER_ERROR

    assert main(["train", "optimizer=gd", "optimizer.momentum=0.9"]) == EXIT_USER_ERROR
    assert "optimizer=sgd takes a momentum" in capsys.readouterr().err


def test_accuracies_are_counts_over_n():
    """A perfect validation score reads exactly 1 (a float sum gave 0.99999958)."""
    cfg, _ = compose_config(
        [
            "activation=relu",
            "init=he_normal",
            "depth=3",
            "width=32",
            "epochs=60",
            "optimizer.lr=0.01",
        ]
    )
    (result,) = train([cfg])
    n_train, n_val = 200, 25
    for row in result.history:
        assert row["acc/train"] * n_train == pytest.approx(round(row["acc/train"] * n_train), abs=0)
        assert row["acc/val"] * n_val == round(row["acc/val"] * n_val)
    assert result.final["acc/test"] * 25 == round(result.final["acc/test"] * 25)
    assert result.history[-1]["acc/val"] == 1.0  # 0 errors: exactly


def test_the_constant_predictor_loss_is_the_label_entropy():
    assert constant_loss(torch.tensor([0.0, 1.0] * 50), 2) == pytest.approx(math.log(2))
    assert constant_loss(torch.tensor([0, 0, 0, 1]), 2) == pytest.approx(
        -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    )
    assert constant_loss(torch.tensor([0, 1, 2]), 3) == pytest.approx(math.log(3))
    cfg, _ = compose_config(["epochs=1", "depth=2"])
    (result,) = train([cfg])
    assert result.final["loss/constant"] == pytest.approx(math.log(2), abs=1e-3)


def test_the_run_loss_figure_starts_at_0_and_draws_the_constant_predictor(tmp_path):
    from vgx.store.run_figures import _canvases, run_figures

    history = [
        {
            "loss/train": 0.706 - 0.016 * e / 5,
            "loss/val": 0.7,
            "weight_change/layer_1": 0.1 * e,
            **{f"grad_norm/layer_{i}": 10.0**-i for i in range(1, 4)},
        }
        for e in range(6)
    ]
    run_figures(history, 3, "flat", tmp_path, constant_loss=math.log(2))
    ax = _canvases(3).loss_ax
    low, high = ax.get_ylim()
    assert low == 0 and high >= 1.1 * math.log(2)
    reference = _canvases(3).constant_line
    assert reference.get_visible() and reference.get_ydata()[0] == pytest.approx(math.log(2))


def test_the_heat_maps_colour_bar_label_is_inside_the_picture(tmp_path):
    from vgx.store.run_figures import _canvases, run_figures

    history = [
        {
            "loss/train": 0.7,
            "loss/val": 0.7,
            "weight_change/layer_1": 0.0,
            **{f"grad_norm/layer_{i}": 10.0 ** (-i - 8) for i in range(1, 10)},
        }
        for _ in range(3)
    ]
    run_figures(history, 9, "deep", tmp_path)
    canvases = _canvases(9)
    fig = canvases.heat_fig
    fig.canvas.draw()
    label = canvases.colorbar.ax.yaxis.label
    assert label.get_text()
    box = label.get_window_extent(fig.canvas.get_renderer())
    assert box.x1 <= fig.bbox.x1 and box.x0 >= fig.bbox.x0


def _settings(keys: dict[str, list]) -> dict[str, list]:
    import itertools

    settings = {}
    for values in itertools.product(*keys.values()):
        run = pd.Series({f"params.{k}": v for k, v in zip(keys, values, strict=True)})
        settings[", ".join(values)] = [(run, None)]
    return settings


def test_sweep_lines_take_a_hue_per_first_key_and_a_style_per_second():
    from vgx.analysis.figures import line_styles

    keys = {"activation.name": ["sigmoid", "relu"], "optimizer.name": ["adam", "gd"]}
    styles = line_styles(_settings(keys), list(keys))
    assert styles["sigmoid, adam"][0] == styles["sigmoid, gd"][0]  # one hue per activation
    assert styles["sigmoid, adam"][0] != styles["relu, adam"][0]
    assert styles["sigmoid, adam"][1] != styles["sigmoid, gd"][1]  # a style per optimizer
    assert styles["sigmoid, adam"][1] == styles["relu, adam"][1]


def test_study_titles_name_the_data_set_the_runs_used(tmp_path, monkeypatch):
    from tests.test_verdicts import frame
    from vgx.analysis import figures
    from vgx.analysis.studies.sigmoid_vs_relu import figure_sigmoid_vs_relu

    titles = []
    monkeypatch.setattr(figures, "median_curves", lambda _c, title, *_a, **_k: titles.append(title))
    data = frame(
        [
            {"optimizer": "adam", "activation": a, "weight_change_curve": [0.0, 0.1, 0.2]}
            for a in ("sigmoid", "relu")
        ]
    ).assign(dataset="circles")
    figure_sigmoid_vs_relu(data, tmp_path)
    assert "9-layer net on circles" in titles[0] and "moons" not in titles[0]


def test_the_epoch_0_panel_says_why_optimizer_lines_coincide(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from vgx.analysis.figures import report_figures
    from vgx.analysis.runs import Runs

    texts = []
    original = Figure.savefig

    def capture(fig, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        texts.extend(t.get_text() for ax in fig.axes for t in ax.texts)
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    table = pd.DataFrame(
        [
            {
                "run_id": f"{o}{s}",
                "params.optimizer.name": o,
                "params.seed": str(s),
                "params.depth": "2",
            }
            for o in ("adam", "gd")
            for s in (0, 1)
        ]
    )
    history = pd.DataFrame(
        {
            "epoch": [0, 1],
            "loss/train": [0.7, 0.6],
            "loss/val": [0.7, 0.6],
            "weight_change/layer_1": [0.0, 0.1],
            "grad_norm/layer_1": [0.1, 0.1],
            "grad_norm/layer_2": [1.0, 1.0],
        }
    )
    runs = Runs(table, {r: history for r in table.run_id}, ["optimizer.name", "seed"])
    report_figures(runs, tmp_path, "sweep")
    assert any("optimizer.name act only from the first update" in t for t in texts)
