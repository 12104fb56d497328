"""Mistakes across every command: exit code 2, one line naming what is wrong and what is allowed."""

from __future__ import annotations

import pytest

from vgx.cli import EXIT_USER_ERROR, main

MISTAKES = [
    (["train", "residual=maybe"], ["residual", "maybe", "bool"]),
    (["train", "epochs=1.5"], ["epochs", "1.5", "Integer"]),
    (["train", "seed=abc"], ["seed", "abc"]),
    (["train", "-m", "depth=choice()"], ["depth=choice()", "not a valid override"]),
    (["train", "init.std=-1"], ["init.std", "> 0"]),
    (["train", "clip.threshold=0"], ["clip.threshold", "> 0"]),
    (["train", "optimizer.momentum=1"], ["optimizer.momentum", "[0, 1)"]),
    (["train", "tracking.uri=ftp://host/store"], ["tracking.uri", "ftp://", "sqlite", "http"]),
    (["train", "tracking.experiment= "], ["tracking.experiment", "non-empty"]),
    (
        ["train", "hydra.run.dir=/proc/vgx-cannot-write", "epochs=1"],
        ["hydra.run.dir", "/proc", "cannot create"],
    ),
    (["study", "vanishing"], ["study 'vanishing'", "sigmoid_vs_relu"]),
    (["study", "init", "depth=0"], ["depth", ">= 1"]),
    (["study", "dying_relu", "activation=swish"], ["activation", "swish", "relu"]),
    (["theory", "activation=nope"], ["activation", "nope", "tanh"]),
    (["theory", "depth=-1"], ["depth", ">= 1"]),
    (["ui", "--port", "0"], ["--port=0", "1…65535"]),
    (["frobnicate"], ["unknown command", "train"]),
]


@pytest.mark.parametrize(("args", "words"), MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_mistake_gives_one_line(args, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert main(args) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err
    assert not (tmp_path / "mlflow.db").exists()


def test_ui_warns_when_asked_to_listen_beyond_this_machine(capsys, monkeypatch, tmp_path):
    from vgx.store import ui

    monkeypatch.setattr(ui, "port_in_use", lambda host, port: True)  # stop before serving
    (tmp_path / "any.db").touch()
    assert main(["ui", "--host", "0.0.0.0", "--uri", f"sqlite:///{tmp_path / 'any.db'}"]) == 2
    err = capsys.readouterr().err
    assert "warning: listening on 0.0.0.0" in err and "already in use" in err


def test_experiment_names_cannot_move_artifacts_out_of_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["train", "epochs=1", "depth=2", "tracking.experiment=../../escape"]) == 0
    created = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file()}
    assert created == {"outputs"}
    assert not (tmp_path.parent / "escape").exists()
