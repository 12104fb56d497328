"""What a student sees first: params that mean something, runs that describe themselves, short
child names, a sweep parent that shows its report, a report page, progress on a terminal."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from tests.conftest import compose_config
from vgx.analysis.studies import STUDIES
from vgx.cli import main
from vgx.config import conf_dir, keys_in_force
from vgx.sweeps.identity import MAX_NAME, flatten, sweep_run_name


def _uri(workdir) -> str:  # noqa: ANN001
    return f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def _flat(*overrides: str) -> dict[str, str]:
    return flatten(compose_config(list(overrides))[1])


def test_params_are_the_keys_in_force_for_the_config():
    sigmoid = keys_in_force(_flat("activation=sigmoid", "init=xavier_uniform"))
    assert "activation.slope" not in sigmoid and "init.std" not in sigmoid
    assert "init.gain" in sigmoid  # Xavier reads its gain
    assert not any(k.split(".")[0] in ("tracking", "progress", "resume", "device") for k in sigmoid)
    assert "dataset.n_classes" not in sigmoid and "regularizer.lam" not in sigmoid
    assert "clip.threshold" not in sigmoid and "optimizer.momentum" not in sigmoid
    leaky = keys_in_force(_flat("activation=leaky_relu", "init=normal", "init.std=0.5"))
    assert leaky["activation.slope"] == "0.01" and leaky["init.std"] == "0.5"
    assert "init.gain" not in leaky
    l2 = keys_in_force(_flat("regularizer=l2", "clip=norm", "optimizer=sgd", "dataset=blobs"))
    assert {"regularizer.lam", "clip.threshold", "optimizer.momentum", "dataset.n_classes"} <= set(
        l2
    )
    digits = keys_in_force(_flat("dataset=digits", "init=torch_default"))
    assert "dataset.n_samples" not in digits and "init.bias" not in digits


def _study_jobs(name: str) -> list[list[str]]:
    params = OmegaConf.load(conf_dir() / "study" / f"{name}.yaml").hydra.sweeper.params
    keys = list(params)
    values = [str(params[k]).split(",") for k in keys]
    return [
        [f"{k}={v}" for k, v in zip(keys, combo, strict=True)]
        for combo in itertools.product(*values)
    ]


@pytest.mark.parametrize("name", list(STUDIES))
def test_child_names_are_short_and_unique_within_every_study(name):
    params = OmegaConf.load(conf_dir() / "study" / f"{name}.yaml").hydra.sweeper.params
    names = [sweep_run_name(list(params), job) for job in _study_jobs(name)]
    assert len(set(names)) == len(names)
    assert all(len(n) <= MAX_NAME for n in names)


def test_child_names_put_the_distinguishing_values_first_and_stay_unique_when_cut():
    keys = ["seed", "activation", "optimizer"]
    assert sweep_run_name(keys, ["seed=2", "activation=relu", "optimizer=adam"]) == "relu,adam,s2"
    assert sweep_run_name(["residual", "norm"], ["residual=false", "norm=none"]) == (
        "no-residual,no-norm"
    )
    long_keys = ["dataset.name", "activation", "init", "optimizer", "seed"]
    jobs = [
        [
            "dataset.name=spirals",
            "activation=leaky_relu",
            f"init={init}",
            "optimizer=rmsprop",
            "seed=0",
        ]
        for init in ("xavier_uniform", "xavier_normal")
    ]
    cut = [sweep_run_name(long_keys, job) for job in jobs]
    assert cut[0] != cut[1] and all(len(n) <= MAX_NAME for n in cut)


def test_a_run_describes_itself_and_spans_its_training(workdir):
    assert main(["train", "epochs=200", "activation=sigmoid", "progress=false"]) == 0
    client = MlflowClient(_uri(workdir))
    experiment = client.get_experiment_by_name("vgx")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    (run,) = client.search_runs([experiment.experiment_id])
    params = run.data.params
    assert "activation.slope" not in params and "init.std" not in params
    assert params["activation.name"] == "sigmoid" and params["depth"] == "9"
    note = run.data.tags["mlflow.note.content"]
    loss = run.data.metrics["loss/train"]
    assert f"| loss | {loss:.4f} |" in note  # the summary's numbers
    assert "gradient norm layer 1 / layer 9: epoch 0" in note
    assert "docs/metrics.md" in note and "saturation" in note
    # the run's times span its training, not the recording process's work
    (folder,) = (workdir / "outputs" / "runs").glob("*/*")
    trained = json.loads((folder / "timings.json").read_text())
    duration = (run.info.end_time - run.info.start_time) / 1000
    assert duration >= trained["train"] + trained["probes"] - 0.05
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert "figures/gradient_lines.png" in artifacts


def test_a_sweep_parent_shows_its_runs_table_and_headline_numbers(workdir, capsys):
    args = ["train", "-m", "hydra/launcher=batched", "depth=2,3", "seed=0,1", "epochs=2"]
    assert main(args) == 0
    client = MlflowClient(_uri(workdir))
    experiment = client.get_experiment_by_name("vgx")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("vgx.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(c.info.run_name for c in children) == ["d2,s0", "d2,s1", "d3,s0", "d3,s1"]
    assert {c.data.tags["vgx.overrides"] for c in children} >= {"depth=2 seed=0 epochs=2"}
    # a stack's runs span the stack's training: two stacks (depth 2, depth 3), two time spans
    spans = {(c.info.start_time, c.info.end_time) for c in children}
    assert len(spans) == 2 and all(start <= end for start, end in spans)
    note = parent.data.tags["mlflow.note.content"]
    assert all(c.info.run_name in note for c in children)
    assert parent.data.metrics["sweep/runs"] == 4
    best = min(c.data.metrics["loss/val"] for c in children)
    assert parent.data.metrics["sweep/best_loss_val"] == pytest.approx(best)
    out = capsys.readouterr().out
    page = re.search(r"report page (\S+report\.html)", out).group(1)
    text = Path(page).read_text(encoding="utf-8")
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) >= 3 and all(len(i) > 1000 for i in images)
    assert text.count("<figcaption>") == len(images)
    assert "d3,s1" in text  # the runs table
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/report.html" in artifacts
    # a child draws no figures of its own; `vgx report --run` draws them on demand
    child = children[0]
    assert client.list_artifacts(child.info.run_id, "figures") == []
    assert "vgx report --run" in child.data.tags["mlflow.note.content"]
    assert main(["report", "--run", child.info.run_id]) == 0
    drawn = {a.path for a in client.list_artifacts(child.info.run_id, "figures")}
    assert {"figures/gradient_lines.png", "figures/loss_curves.png"} <= drawn


def test_a_sweep_child_draws_its_figures_when_asked(workdir):
    args = ["train", "-m", "depth=2,3", "epochs=2", "tracking.run_figures=true"]
    assert main([*args, "progress=false"]) == 0
    client = MlflowClient(_uri(workdir))
    runs = client.search_runs([client.get_experiment_by_name("vgx").experiment_id])
    children = [r for r in runs if r.data.tags.get("vgx.kind") != "sweep"]
    assert all(len(client.list_artifacts(c.info.run_id, "figures")) == 4 for c in children)


def test_a_study_parent_carries_its_verdict(workdir):
    assert main(["study", "batchnorm", "seed=0", "epochs=3", "depth=3"]) == 0
    client = MlflowClient(_uri(workdir))
    experiment = client.get_experiment_by_name("study-batchnorm")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("vgx.kind") == "sweep"]
    folder = workdir / "outputs" / "reports" / "study-batchnorm"
    outcome = (folder / "verdict.md").read_text().splitlines()[0].split(": ", 1)[1]
    assert parent.data.tags["verdict"] == outcome
    assert parent.data.tags["mlflow.note.content"].startswith(f"## batchnorm: {outcome}")
    assert parent.data.metrics["verdict/parts"] >= parent.data.metrics["verdict/parts_met"]
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "Claim" in page and f"Verdict: {outcome}" in page


def test_progress_shows_epochs_and_loss_on_a_terminal_and_nothing_elsewhere(monkeypatch, capsys):
    from vgx.sweeps import progress

    quiet = progress.RunProgress(3, enabled=True)  # pytest's stderr is no terminal
    quiet(1, {"loss/train": 0.5, "loss/val": 0.6})
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress, "_on_terminal", lambda: True)
    bar = progress.RunProgress(3, enabled=True)
    for epoch in range(4):
        bar(epoch, {"loss/train": 0.25, "loss/val": 0.5})
    err = capsys.readouterr().err
    assert "3/3" in err and "loss/train=0.2500" in err
    off = progress.RunProgress(3, enabled=False)
    off(1, {"loss/train": 0.5, "loss/val": 0.6})
    sweep = progress.start_sweep(8)
    sweep.stack(1, 2, 4)
    sweep.done(4)
    progress.end_sweep()
    err = capsys.readouterr().err
    assert "4/8" in err and "stack 1/2" in err


def test_ui_refuses_a_port_in_use_and_names_a_free_one(workdir):
    import socket

    from vgx.errors import UsageError
    from vgx.store.ui import serve

    (workdir / "outputs").mkdir()
    (workdir / "outputs" / "mlflow.db").touch()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=rf"--port={port}: already in use.*--port \d+"):
            serve(["--port", str(port), "--no-browser"])
