"""Multirun sweeps: parent and children in MLflow, names, resume, parallel jobs, the report."""

from __future__ import annotations

import multiprocessing

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from vgx.analysis.report import summary_table
from vgx.analysis.runs import load_runs
from vgx.cli import main
from vgx.sweeps.identity import sweep_run_name


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def _uri(workdir) -> str:
    return f"sqlite:///{workdir / 'outputs' / 'mlflow.db'}"


def _runs(uri: str, **filters):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("vgx")
    runs = client.search_runs([experiment.experiment_id])
    return [r for r in runs if all(r.data.tags.get(k) == v for k, v in filters.items())]


SWEEP = ["train", "-m", "depth=2,3", "regularizer=l2", "regularizer.lam=0,0.1", "epochs=2"]


def test_sweep_records_a_parent_with_named_children_and_a_report(workdir):
    assert main(SWEEP) == 0
    uri = _uri(workdir)
    (parent,) = _runs(uri, **{"vgx.kind": "sweep"})
    children = _runs(uri, **{"mlflow.parentRunId": parent.info.run_id})
    assert len(children) == 4
    assert {c.info.run_name for c in children} == {
        "d2,lam0",
        "d2,lam0.1",
        "d3,lam0",
        "d3,lam0.1",
    }
    assert all(c.info.status == "FINISHED" for c in children)
    assert parent.info.status == "FINISHED"
    assert "depth=2,3" in parent.data.params["overrides"]
    report_files = {a.path for a in MlflowClient(uri).list_artifacts(parent.info.run_id, "report")}
    assert {"report/runs.csv", "report/runs.md", "report/figures"} <= report_files
    folder = workdir / "outputs" / "reports" / f"sweep-{parent.info.run_id[:8]}"
    table = pd.read_csv(folder / "runs.csv")
    assert len(table) == 4
    assert {"depth", "regularizer.lam", "diagnosis", "grad_ratio_1_to_last"} <= set(table.columns)
    assert (folder / "figures" / "error_vs_lambda.png").exists()
    assert (folder / "figures" / "initial_grad_norm_vs_depth.png").exists()
    assert list((workdir / "outputs" / "sweeps").glob("*/*/0"))


def test_a_sweep_run_again_trains_only_what_did_not_finish_unless_resume_is_false(workdir):
    assert main(SWEEP) == 0
    uri = _uri(workdir)
    assert main(SWEEP) == 0
    parents = sorted(_runs(uri, **{"vgx.kind": "sweep"}), key=lambda r: r.info.start_time)
    assert len(parents) == 2
    assert _runs(uri, **{"mlflow.parentRunId": parents[1].info.run_id}) == []  # nothing trained
    first_children = _runs(uri, **{"mlflow.parentRunId": parents[0].info.run_id})
    assert all(parents[1].info.run_id in c.data.tags["sweeps"] for c in first_children)
    # a failed run and a deleted one are trained again, the other two are not
    client = MlflowClient(uri)
    client.set_tag(first_children[0].info.run_id, "status", "failed")
    client.delete_run(first_children[1].info.run_id)
    assert main(SWEEP) == 0
    newest = max(_runs(uri, **{"vgx.kind": "sweep"}), key=lambda r: r.info.start_time)
    assert len(_runs(uri, **{"mlflow.parentRunId": newest.info.run_id})) == 2
    assert len(load_runs(uri, sweep=newest.info.run_id).table) == 4  # the report sees all four
    # resume=false trains everything again
    assert main([*SWEEP, "resume=false"]) == 0
    newest = max(_runs(uri, **{"vgx.kind": "sweep"}), key=lambda r: r.info.start_time)
    assert len(_runs(uri, **{"mlflow.parentRunId": newest.info.run_id})) == 4


@pytest.mark.slow  # two sweeps of four runs and a third; resume's own test is in the fast suite
def test_runs_measured_by_an_earlier_version_of_the_probes_are_trained_again(workdir, monkeypatch):
    from vgx import results

    assert main(SWEEP) == 0
    monkeypatch.setattr(results, "MEASURES_VERSION", results.MEASURES_VERSION + 1)
    assert main(SWEEP) == 0
    uri = _uri(workdir)
    newest = max(_runs(uri, **{"vgx.kind": "sweep"}), key=lambda r: r.info.start_time)
    retrained = _runs(uri, **{"mlflow.parentRunId": newest.info.run_id})
    assert len(retrained) == 4  # none of the first sweep's runs reused
    assert main(SWEEP) == 0  # measured the same way now: reused
    newest = max(_runs(uri, **{"vgx.kind": "sweep"}), key=lambda r: r.info.start_time)
    assert _runs(uri, **{"mlflow.parentRunId": newest.info.run_id}) == []


def test_finished_runs_are_found_for_many_hashes_at_once_as_a_search_a_hash_finds_them(tmp_path):
    from vgx.store.tracking import find_finished

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    vgx, other = client.create_experiment("vgx"), client.create_experiment("other")

    def run(experiment: str, config_hash: str, status: str, start: int, deleted=False) -> str:
        made = client.create_run(experiment, start_time=start, tags={"config_hash": config_hash})
        client.set_tag(made.info.run_id, "status", status)
        if deleted:
            client.delete_run(made.info.run_id)
        return made.info.run_id

    run(vgx, "a", "finished", 1000)
    newest_a = run(vgx, "a", "diverged", 2000)
    run(vgx, "a", "failed", 3000)  # newer, but its training did not end
    only_b = run(vgx, "b", "finished", 1000)
    run(vgx, "c", "finished", 1000, deleted=True)
    run(other, "d", "finished", 1000)  # another experiment's
    run(vgx, "e", "running", 1000)
    hashes = ["a", "b", "c", "d", "e", *(f"unknown{i}" for i in range(2000)), "b"]

    found = find_finished(uri, "vgx", hashes)

    assert {h: r.info.run_id for h, r in found.items()} == {"a": newest_a, "b": only_b}
    for config_hash in ("a", "b", "c", "d", "e"):  # what MLflow's own search says
        searched = client.search_runs(
            [vgx], f"tags.config_hash = '{config_hash}'", order_by=["attributes.start_time DESC"]
        )
        ended = [r for r in searched if r.data.tags["status"] in ("finished", "diverged")]
        expected = ended[0].info.run_id if ended else None
        assert (found[config_hash].info.run_id if config_hash in found else None) == expected
    assert find_finished(uri, "no such experiment", hashes) == {}


def test_report_gradient_ratio_falls_with_depth_for_sigmoid(workdir):
    assert main(["train", "-m", "depth=2,4,8", "epochs=1"]) == 0
    uri = _uri(workdir)
    (parent,) = _runs(uri, **{"vgx.kind": "sweep"})
    table = summary_table(load_runs(uri, sweep=parent.info.run_id))
    assert table["depth"].tolist() == [2, 4, 8]
    ratios = table["grad_ratio_1_to_last"].tolist()
    assert ratios[0] > ratios[1] > ratios[2]


def test_child_run_names_show_only_the_swept_keys():
    overrides = ["regularizer=l2", "regularizer.lam=0.01", "depth=6", "epochs=5"]
    assert sweep_run_name(["depth", "regularizer.lam"], overrides) == "d6,lam0.01"
    assert sweep_run_name([], overrides) is None


@pytest.mark.slow
def test_joblib_eight_runs_on_two_workers_lose_nothing(workdir):
    args = ["train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    assert main([*args, "seed=0,1,2,3", "regularizer.lam=0,0.1", "regularizer=l2", "epochs=3"]) == 0
    uri = _uri(workdir)
    (parent,) = _runs(uri, **{"vgx.kind": "sweep"})
    children = _runs(uri, **{"mlflow.parentRunId": parent.info.run_id})
    assert len(children) == 8
    client = MlflowClient(uri)
    for child in children:
        assert child.data.tags["status"] == "finished"
        for key in ("loss/train", "grad_norm/layer_1", "dead/layer_8", "weight_change/layer_9"):
            assert len(client.get_metric_history(child.info.run_id, key)) == 4, key
    # a run of the parallel sweep has the history the same config gives alone
    from tests.conftest import compose_config
    from vgx.core.loop import train_run as train

    (child,) = [c for c in children if c.info.run_name == "lam0.1,s2"]
    alone = train(
        compose_config(
            ["progress=false", "seed=2", "regularizer=l2", "regularizer.lam=0.1", "epochs=3"]
        )[0]
    )
    recorded = sorted(
        client.get_metric_history(child.info.run_id, "loss/train"), key=lambda m: m.step
    )
    assert [m.value for m in recorded] == pytest.approx(
        [h["loss/train"] for h in alone.history], rel=1e-6
    )


def test_optuna_search_minimises_the_validation_loss_vgx_returns(workdir):
    import yaml

    args = ["train", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3"]
    args += ["hydra.sweeper.sampler.seed=0", "regularizer=l2", "regularizer.lam=interval(0,1)"]
    assert main([*args, "depth=2", "epochs=2"]) == 0
    uri = _uri(workdir)
    (parent,) = _runs(uri, **{"vgx.kind": "sweep"})
    children = _runs(uri, **{"mlflow.parentRunId": parent.info.run_id})
    assert len(children) == 3
    (results,) = (workdir / "outputs" / "sweeps").glob("*/*/optimization_results.yaml")
    best = yaml.safe_load(results.read_text())["best_value"]
    assert best == pytest.approx(min(c.data.metrics["loss/val"] for c in children))


def test_slurm_launcher_config_composes(workdir):
    from hydra import compose, initialize_config_dir

    from vgx.config import conf_dir
    from vgx.sweeps.composition import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.cpus_per_task == 2


@pytest.mark.slow
def test_submitit_jobs_in_their_own_processes_join_the_sweep(workdir):
    assert main(["train", "-m", "hydra/launcher=submitit_local", "depth=2,3", "epochs=2"]) == 0
    uri = _uri(workdir)
    (parent,) = _runs(uri, **{"vgx.kind": "sweep"})
    children = _runs(uri, **{"mlflow.parentRunId": parent.info.run_id})
    assert sorted(c.info.run_name for c in children) == ["d2", "d3"]


@pytest.mark.slow
def test_a_real_study_runs_end_to_end_and_judges_its_claim(workdir):
    assert main(["study", "dying_relu", "epochs=3", "seed=0,1"]) == 0
    folder = workdir / "outputs" / "reports" / "study-dying_relu"
    verdict = (folder / "verdict.md").read_text()
    assert verdict.startswith("## dying_relu: ")
    assert verdict.split(": ", 1)[1].split("\n")[0] in ("holds", "does not hold", "mixed")
    assert (folder / "figures" / "dead_units.png").exists()
    client = MlflowClient(_uri(workdir))
    experiment = client.get_experiment_by_name("study-dying_relu")
    runs = client.search_runs([experiment.experiment_id])
    assert sum(r.data.tags.get("vgx.study") == "dying_relu" for r in runs) == 1
    assert sum(r.data.tags.get("vgx.launcher") == "batched" for r in runs) == 8  # 2 × 2 × 2 seeds


@pytest.mark.slow
def test_several_studies_run_one_after_the_other_in_one_command(workdir, capsys, monkeypatch):
    from vgx.sweeps.workers import LocalWorkers

    started = []
    start = LocalWorkers._start
    monkeypatch.setattr(LocalWorkers, "_start", lambda *a: started.append(1) or start(*a))
    args = ["study", "dying_relu,mse_vs_cross_entropy", "epochs=2", "seed=0", "depth=2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "study 1/2: dying_relu" in out and "study 2/2: mse_vs_cross_entropy" in out
    first, second = out.split("study 2/2")
    assert "training in worker pid" in first and "training in worker pid" in second
    assert len(started) == 2  # one pool of two workers for both studies' stacks
    assert not any(p.name == "vgx-stack-worker" for p in multiprocessing.active_children())
    client = MlflowClient(_uri(workdir))
    for name in ("dying_relu", "mse_vs_cross_entropy"):
        experiment = client.get_experiment_by_name(f"study-{name}")
        runs = client.search_runs([experiment.experiment_id])
        (parent,) = [r for r in runs if r.data.tags.get("vgx.study") == name]
        assert parent.info.status == "FINISHED" and "verdict" in parent.data.tags
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert children and all(c.info.status == "FINISHED" for c in children)
        assert (workdir / "outputs" / "reports" / f"study-{name}" / "verdict.md").exists()


def test_a_bad_override_to_several_studies_is_refused_before_any_trains(workdir, capsys):
    assert main(["study", "--all", "depth=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "depth" in err
    assert not (workdir / "outputs" / "mlflow.db").exists()
    assert main(["study", "dying_relu,vanishing"]) == 2
    assert "'vanishing': unknown" in capsys.readouterr().err


@pytest.mark.slow
def test_the_vgx_command_leaves_a_batched_sweep_whole_when_it_exits_fast(workdir):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    vgx = shutil.which("vgx") or str(Path(sys.executable).parent / "vgx")
    done = subprocess.run(
        [vgx, "train", "-m", "hydra/launcher=batched", "seed=0,1", "depth=2,3", "epochs=2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.rstrip().splitlines()[-2:]  # flushed before exit
    assert last[0].startswith("vgx: sweep ") and last[1].startswith("vgx: report page ")
    uri = _uri(workdir)
    (parent,) = _runs(uri, **{"vgx.kind": "sweep"})
    children = _runs(uri, **{"mlflow.parentRunId": parent.info.run_id})
    assert len(children) == 4
    assert all(c.info.status == "FINISHED" for c in [parent, *children])
    assert all(len(c.data.metrics) > 20 for c in children)


@pytest.mark.slow
def test_a_recurrent_study_runs_end_to_end_and_its_claim_holds(workdir):
    """rnn_identity_init as shipped (6 runs, ~35 s): the verdict is computed from what MLflow
    recorded; on this sweep's seeds it holds (README, Results)."""
    assert main(["study", "rnn_identity_init"]) == 0
    folder = workdir / "outputs" / "reports" / "study-rnn_identity_init"
    assert (folder / "verdict.md").read_text().startswith("## rnn_identity_init: holds")
    assert (folder / "figures" / "identity_vs_gaussian_through_time.png").stat().st_size > 10_000
    assert (folder / "figures" / "delta_by_step.png").exists()
    client = MlflowClient(_uri(workdir))
    experiment = client.get_experiment_by_name("study-rnn_identity_init")
    children = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if r.data.tags.get("vgx.kind") != "sweep"
    ]
    assert sorted(r.info.run_name for r in children) == sorted(
        f"{init},s{seed}" for init in ("identity", "normal") for seed in range(3)
    )
    for run in children:
        steps = client.get_metric_history(run.info.run_id, "delta_norm/step_39")
        assert sorted(m.step for m in steps) == list(range(21))
