"""The report's pure parts, and its one-line errors."""

from __future__ import annotations

import socket
import time

import pandas as pd
import pytest

from vgx.analysis.figures import layer_profile, run_settings, spread
from vgx.analysis.report import diagnose
from vgx.analysis.runs import _local_folder
from vgx.cli import EXIT_USER_ERROR, main


@pytest.mark.parametrize(
    ("train_error", "dev_error", "expected"),
    [  # seed 003's table
        (0.01, 0.11, "high variance"),
        (0.15, 0.16, "high bias"),
        (0.15, 0.30, "high bias and high variance"),
        (0.005, 0.01, "neither"),
    ],
)
def test_bias_variance_labels_follow_seed_003(train_error, dev_error, expected):
    assert diagnose(train_error, dev_error) == expected


def test_optimal_error_moves_the_bias_line():
    assert diagnose(0.15, 0.16, optimal_error=0.14) == "neither"


def test_nan_errors_get_no_label():
    assert diagnose(float("nan"), 0.1) == "no result"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def _one_run_folder(tmp_path_factory):
    """Trained once for the module: these tests read the store and write only reports."""
    folder = tmp_path_factory.mktemp("one_run")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        assert main(["train", "epochs=1", "depth=2"]) == 0
    return folder


@pytest.fixture
def store_with_one_run(_one_run_folder, monkeypatch):
    monkeypatch.chdir(_one_run_folder)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return _one_run_folder


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--filter", "params.depth = '99'"], ["no runs found", "params.depth = '99'"]),
        (["--experiment", "nope"], ["--experiment='nope'", "unknown", "vgx"]),
        (["--filter", "params.depth >>> 3"], ["--filter", "MLflow refused"]),
        (["--sweep", "latest"], ["no sweep"]),
        (["--experiment", "vgx", "--name", "../escape"], ["--name", "plain folder name"]),
    ],
)
def test_report_mistakes_give_one_line(store_with_one_run, capsys, args, words):
    assert main(["report", *args]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err


def test_report_on_an_unreachable_server_fails_within_seconds(capsys):
    uri = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    assert main(["report", "--uri", uri, "--experiment", "vgx"]) == EXIT_USER_ERROR
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err.strip()
    assert f"tracking server {uri} cannot be reached" in err
    assert len(err.splitlines()) == 1


def test_report_of_an_experiment_writes_table_and_figures(store_with_one_run, capsys):
    assert main(["report", "--experiment", "vgx"]) == 0
    folder = store_with_one_run / "outputs" / "reports" / "vgx"
    assert (folder / "runs.csv").read_text().count("\n") == 2  # header + one run
    assert (folder / "figures" / "loss_curves.png").exists()
    assert "1 runs" in capsys.readouterr().out


def _run(seed: int, lam: str, depth: int = 2) -> pd.Series:
    return pd.Series(
        {"params.seed": str(seed), "params.regularizer.lam": lam, "params.depth": str(depth)}
    )


def _history(values: list[float], grads: tuple[float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "epoch": range(len(values)),
            "loss/train": values,
            "grad_norm/layer_1": [grads[0]] * len(values),
            "grad_norm/layer_2": [grads[1]] * len(values),
        }
    )


def test_runs_that_differ_only_in_seed_form_one_setting_in_numeric_order():
    rows = [
        ("", _run(0, "0.1"), _history([1.0], (1, 1))),
        ("", _run(1, "0.01"), _history([1.0], (1, 1))),
        ("", _run(1, "0.1"), _history([1.0], (1, 1))),
        ("", _run(0, "0.01"), _history([1.0], (1, 1))),
    ]
    settings = run_settings(rows, ["regularizer.lam", "seed"])
    assert list(settings) == ["0.01", "0.1"]  # values: the legend's title names the key once
    assert [run["params.seed"] for run, _ in settings["0.1"]] == ["0", "1"]


def test_without_a_varied_seed_every_run_is_its_own_line():
    rows = [("a", _run(0, "0.1"), _history([1.0], (1, 1))), ("b", _run(0, "0"), None)]
    assert list(run_settings(rows, ["regularizer.lam"])) == ["a", "b"]


def test_a_setting_is_drawn_as_median_and_min_max_over_its_seeds():
    members = [
        (_run(0, "0"), _history([3.0, 2.0, 1.0], (1e-4, 1.0))),
        (_run(1, "0"), _history([5.0, 4.0], (1e-2, 3.0))),  # diverged after epoch 1
        (_run(2, "0"), _history([4.0, 0.0, 2.0], (1e-3, 2.0))),
    ]
    curve = spread(members, "loss/train")
    assert curve["median"].tolist() == [4.0, 2.0, 1.5]  # epoch 2: the two runs that lasted
    assert curve["low"].tolist() == [3.0, 0.0, 1.0]
    assert curve["high"].tolist() == [5.0, 4.0, 2.0]
    profile = layer_profile(members, "first")
    assert profile.index.tolist() == [1, 2]
    assert profile["median"].tolist() == [1e-3, 2.0]
    assert profile["low"].tolist() == [1e-4, 1.0]


def test_histories_are_read_in_place_from_local_artifact_folders(tmp_path):
    assert _local_folder(tmp_path.as_uri()) == tmp_path
    assert _local_folder(str(tmp_path)) == tmp_path
    assert _local_folder("mlflow-artifacts:/1/abc/artifacts") is None
    assert _local_folder("s3://bucket/1/abc/artifacts") is None


def test_histories_read_together_equal_each_read_alone(tmp_path):
    from vgx.analysis.runs import _histories, _history
    from vgx.store.history import write_history

    mlp = [{"loss/train": 1.0 / (e + 1), "grad_norm/layer_1": e * 0.5} for e in range(4)]
    mlp[1]["grad_norm/layer_1"] = float("nan")
    del mlp[2]["grad_norm/layer_1"]  # an empty field
    rnn = [{"loss/train": 2.0, "grad_norm/step_1": 3}, {"loss/train": 1.5, "grad_norm/step_1": 4}]
    runs = []
    for i, history in enumerate([mlp, rnn, mlp[:1], mlp, rnn]):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        write_history(history, folder / "history.csv")
        runs.append((f"run{i}", folder.as_uri()))
    edited = tmp_path / "run3" / "history.csv"  # a blank line: no longer a row a line
    edited.write_text(edited.read_text().replace("\r\n", "\r\n\r\n", 1))
    (tmp_path / "empty").mkdir()
    runs.append(("empty", (tmp_path / "empty").as_uri()))  # failed before its first epoch
    together = _histories(None, runs)
    assert list(together) == [run_id for run_id, _ in runs]
    for run_id, uri in runs:
        pd.testing.assert_frame_equal(together[run_id], _history(None, run_id, uri))
    assert together["run1"]["grad_norm/step_1"].tolist() == [3, 4]
    assert together["empty"].empty and len(together["run3"]) == 4


def test_the_runs_table_read_from_the_stores_tables_is_mlflows_search(tmp_path):
    import math

    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from vgx.store.tracking import runs_table

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    vgx, other = client.create_experiment("vgx"), client.create_experiment("other")

    def run(experiment: str, sweeps: str | None, start: int, **extra) -> str:
        tags = {"status": "finished", **({"sweeps": sweeps} if sweeps else {})}
        made = client.create_run(experiment, start_time=start, tags=tags)
        run_id = made.info.run_id
        metrics = [Metric(k, v, 1000, s) for k, v, s in extra.get("metrics", [])]
        params = [Param(k, v) for k, v in extra.get("params", {}).items()]
        client.log_batch(run_id, metrics=metrics, params=params)
        if extra.get("end"):
            client.set_terminated(run_id, end_time=start + 10)
        return run_id

    run(vgx, "p1", 100, metrics=[("loss", 1.0, 0), ("loss", 0.5, 1)], params={"depth": "3"}, end=1)
    run(vgx, "p1,p2", 200, metrics=[("loss", math.nan, 1), ("acc", math.inf, 0)], end=1)
    run(vgx, "p2", 200, params={"lr": "0.1"})  # the same start: the run id decides
    run(vgx, None, 50, metrics=[("acc", 0.25, 3)])
    gone = run(vgx, "p1", 300, params={"only": "deleted"})  # deleted runs are left out
    client.log_batch(gone, tags=[RunTag("x", "y")])
    client.delete_run(gone)
    run(other, "p1", 400, params={"depth": "9"})

    mlflow.set_tracking_uri(uri)
    for experiments, sweep in (([vgx], None), ([vgx], "p1"), ([vgx, other], "p1"), ([vgx], "p9")):
        read = runs_table(uri, experiments, "", sweep)
        clause = f"tags.sweeps LIKE '%{sweep}%'" if sweep else ""
        searched = mlflow.search_runs(experiments, clause, output_format="pandas")
        assert sorted(read.columns) == sorted(searched.columns)
        pd.testing.assert_frame_equal(
            read[sorted(read.columns)], searched[sorted(searched.columns)], check_dtype=False
        )
        assert (read.dtypes.sort_index() == searched.dtypes.sort_index()).all() or searched.empty
