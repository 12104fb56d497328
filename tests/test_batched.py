"""The batched launcher: a run trained in a stack gives the numbers it gives alone (within float
tolerance), jobs are grouped by shape, groups over the budget are chunked, all are recorded."""

from __future__ import annotations

import dataclasses
import time

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import compose_config
from vgx.cli import main
from vgx.core.loop import train as train_stack
from vgx.core.loop import train_run as train
from vgx.core.stacking import bytes_per_run, stack_key
from vgx.sweeps.batched import plan_chunks

# A run alone is a stack of one and goes through the same code; the products of a larger stack
# round differently in the last bit (reductions over a stack's rows and vectorised loops split
# them differently). Measured worst relative difference over 20 epochs, seeds 0-2, of seven
# configurations (README): 2.4e-5; over 4 epochs it stays below 1e-5.
TOLERANCE = 1e-4
# The smallest singular values of a deep layer product are ill-conditioned: last-bit differences
# in the pre-activations move them by up to ~1e-3 (measured), so the Jacobian probe gets 1e-2.
JACOBIAN_TOLERANCE = 1e-2


def _configs(*overrides: str, seeds=(0, 1, 2)):
    return [compose_config(["progress=false", f"seed={s}", *overrides])[0] for s in seeds]


def _assert_same_histories(stacked, single):
    for a, b in zip(stacked, single, strict=True):
        assert a.status == b.status
        assert len(a.history) == len(b.history)
        for row_a, row_b in zip(a.history, b.history, strict=True):
            assert row_a.keys() == row_b.keys()
            for key in row_b:
                rel = JACOBIAN_TOLERANCE if key.startswith("jacobian/") else TOLERANCE
                assert row_a[key] == pytest.approx(row_b[key], rel=rel, abs=1e-7), key


@pytest.mark.parametrize(
    "overrides",
    [
        ["activation=sigmoid", "regularizer=l2", "clip=value"],
        ["activation=relu", "regularizer=l2", "clip=norm", "clip.threshold=0.3"],
        ["activation=tanh", "optimizer=sgd", "optimizer.momentum=0.9", "residual=true"],
        ["optimizer=sign", "regularizer=l1"],
        ["optimizer=rmsprop", "dataset=blobs", "depth=3", "width=16", "activation=relu"],
        ["norm=batch", "activation=relu", "dataset.n_samples=55"],
        ["norm=layer", "optimizer=rprop", "activation=tanh"],
        ["regularizer=dropout", "activation=relu", "width=32"],
        ["optimizer=gd", "regularizer=elastic", "regularizer.lam=0.1", "init=he_normal"],
    ],
    ids=[
        "sigmoid-l2-clip-value",
        "relu-l2-clip-norm",
        "tanh-sgd-momentum",
        "sign-l1",
        "softmax",
        "batch-norm-last-batch-of-one",
        "layer-norm-rprop",
        "dropout",
        "gd-elastic",
    ],
)
def test_a_stacked_run_gives_the_history_it_gives_alone(overrides):
    cfgs = _configs("epochs=4", *overrides)
    _assert_same_histories(train_stack(cfgs), [train(c) for c in cfgs])


def test_runs_with_different_lambda_and_lr_stack_and_keep_their_own_values():
    cfgs = _configs("epochs=3", "regularizer=l2", seeds=(0, 0, 0))
    for cfg, lam, lr in zip(cfgs, (0.0, 0.1, 1.0), (1e-3, 1e-2, 3e-3), strict=True):
        cfg.regularizer.lam, cfg.optimizer.lr = lam, lr
    assert len({stack_key(c) for c in cfgs}) == 1
    _assert_same_histories(train_stack(cfgs), [train(c) for c in cfgs])


def test_a_diverging_run_stops_alone_and_the_others_go_on():
    cfgs = _configs(
        "activation=relu",
        "init=normal",
        "init.std=1",
        "depth=12",
        "width=32",
        "optimizer=sgd",
        "epochs=6",
        seeds=(0, 0),
    )
    cfgs[1].optimizer.lr = 1e-9  # too small to explode
    cfgs[0].optimizer.lr = 1.0
    stacked, single = train_stack(cfgs), [train(c) for c in cfgs]
    assert [r.status for r in stacked] == ["diverged", "finished"]
    assert stacked[0].diverged_epoch == single[0].diverged_epoch
    _assert_same_histories(stacked[1:], single[1:])


def test_jobs_are_grouped_by_shape_and_every_kind_stacks():
    cfgs = _configs("depth=3", seeds=(0, 1)) + _configs("depth=4", seeds=(0, 1))
    cfgs += _configs("norm=batch", seeds=(0, 1)) + _configs("optimizer=rprop", seeds=(0,))
    # the initializer only draws the starting weights: runs that differ in it share a stack
    cfgs += _configs(seeds=(0,)) + _configs("init=he_normal", seeds=(5,))
    chunks = plan_chunks(cfgs, max_batch=256, budget_bytes=2**30)
    assert sorted(map(sorted, chunks)) == [[0, 1], [2, 3], [4, 5], [6], [7, 8]]


def test_the_stack_with_the_most_work_comes_first():
    # workers take stacks in this order: the long one must not be left to the end
    cfgs = _configs("depth=3", seeds=(0,)) + _configs("width=64", seeds=(0, 1))
    cfgs += _configs("depth=3", "epochs=200", seeds=(0,))
    chunks = plan_chunks(cfgs, max_batch=256, budget_bytes=2**30)
    # wider: more multiply-adds a step, and two runs; then twice the epochs of the first job
    assert chunks == [[1, 2], [3], [0]]


def test_a_lone_stack_with_work_enough_is_split_across_the_workers():
    heavy = _configs("width=256", "depth=6", "epochs=500", seeds=range(5))
    assert sorted(map(len, plan_chunks(heavy, 256, 2**40, workers=2))) == [2, 3]
    assert sorted(map(len, plan_chunks(heavy, 256, 2**40, workers=4))) == [1, 1, 1, 2]
    assert len(plan_chunks(heavy, 256, 2**40, workers=1)) == 1
    light = _configs(seeds=range(8))  # the default network: the workers' start would cost more
    assert len(plan_chunks(light, 256, 2**40, workers=2)) == 1


def test_the_workers_first_stacks_are_staggered_and_every_job_trains_once():
    # equal stacks on two workers would end together and record at once: the second worker's
    # first stack is half of one, its other half goes last
    first = _configs(seeds=(0,))[0]
    cfgs = [dataclasses.replace(first, seed=s) for s in range(300)]
    one_worker = plan_chunks(cfgs, max_batch=100, budget_bytes=2**40, workers=1)
    assert [len(c) for c in one_worker] == [100, 100, 100]
    two = plan_chunks(cfgs, max_batch=100, budget_bytes=2**40, workers=2)
    assert [len(c) for c in two] == [100, 50, 100, 50]
    assert sorted(i for chunk in two for i in chunk) == list(range(300))
    three = plan_chunks(cfgs, max_batch=100, budget_bytes=2**40, workers=3)
    assert [len(c) for c in three] == [100, 66, 33, 67, 34]
    small = plan_chunks(cfgs[:120], max_batch=40, budget_bytes=2**40, workers=2)
    assert [len(c) for c in small] == [40, 40, 40]  # below STAGGER_FROM: not worth splitting


def test_a_group_larger_than_the_budget_is_chunked():
    cfgs = _configs("width=64", seeds=range(10))
    per_run = bytes_per_run(cfgs[0], 2, 200)  # 200 training examples
    chunks = plan_chunks(cfgs, max_batch=256, budget_bytes=3 * per_run + 1)
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [len(c) for c in plan_chunks(cfgs, max_batch=4, budget_bytes=2**40)] == [4, 4, 2]


def test_a_batched_sweep_records_every_job_like_vgx_train(tmp_path, monkeypatch):
    from vgx.store.recording import background, start_background

    start_background()
    assert background() is not None  # started before the change of folder below
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ["train", "-m", "hydra/launcher=batched", "seed=0,1", "depth=2,3", "norm=none,batch"]
    assert main([*args, "epochs=2"]) == 0
    uri = f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("vgx").experiment_id])
    children = [r for r in runs if r.data.tags.get("vgx.kind") != "sweep"]
    assert len(children) == 8
    assert {r.data.tags.get("vgx.launcher") for r in children} == {"batched"}  # norm too
    single = train(compose_config(["progress=false", "seed=1", "depth=3", "epochs=2"])[0])
    (stacked,) = [r for r in children if r.info.run_name == "d3,no-norm,s1"]
    history = client.get_metric_history(stacked.info.run_id, "grad_norm/layer_1")
    assert [m.step for m in history] == [0, 1, 2]
    for metric in history:
        assert metric.value == pytest.approx(
            single.history[metric.step]["grad_norm/layer_1"], rel=TOLERANCE
        )
    artifacts = {a.path for a in client.list_artifacts(stacked.info.run_id)}
    assert artifacts == {"config.yaml", "history.csv"}  # a child's figures: `vgx report --run`
    # the jobs' folders are this command's, whichever process recorded them
    assert len(list((tmp_path / "outputs" / "sweeps").glob("*/*/*/artifacts/history.csv"))) == 8
    assert stacked.data.params["depth"] == "3"


@pytest.mark.parametrize("store_took_it", [True, False])
def test_jobs_carry_the_id_the_sweeps_parent_was_made_with(store_took_it, tmp_path):
    import dataclasses

    from vgx.config import TrackingConfig, TrainConfig
    from vgx.sweeps.batched import Job, _confirm_parent
    from vgx.sweeps.parent import choose_parent, forget_parent

    pending = choose_parent(lambda chosen: lambda: chosen if store_took_it else "mlflows")
    cfg = dataclasses.replace(TrainConfig(), tracking=TrackingConfig(parent_run_id=pending.chosen))
    jobs = [Job(i, [], None, None, cfg, {}, tmp_path, None, "sqlite://") for i in range(3)]
    try:
        _confirm_parent(jobs)
    finally:
        forget_parent()
    expected = pending.chosen if store_took_it else "mlflows"
    assert [job.cfg.tracking.parent_run_id for job in jobs] == [expected] * 3


@pytest.mark.parametrize("runs", [0, 1, 3, 8, 17, 20, 64, 100, 1000])
@pytest.mark.parametrize("recorders", [1, 2, 4])
def test_a_stacks_runs_are_recorded_in_even_groups_every_recorder_gets_two(runs, recorders):
    from vgx.sweeps.batched import RUNS_A_RECORDING, recording_groups

    groups = recording_groups(runs, recorders)
    assert [i for start, end in groups for i in range(start, end)] == list(range(runs))
    sizes = [end - start for start, end in groups]
    assert all(0 < size <= RUNS_A_RECORDING for size in sizes)
    assert not sizes or max(sizes) - min(sizes) <= 1
    if recorders > 1:
        assert len(groups) >= min(runs, 2 * recorders)
    else:  # one recorder: no more transactions than the size asks
        assert len(groups) == -(-runs // RUNS_A_RECORDING)


def test_the_groups_of_a_recording_worker_that_died_are_recorded_by_the_sweep(monkeypatch, capsys):
    """A killed worker (out of memory, by hand) breaks the pool: the groups it held or that
    still waited are recorded from the trained results the sweep holds, and it says so."""
    import concurrent.futures
    import os
    import signal
    from types import SimpleNamespace

    from vgx.store import recording
    from vgx.sweeps import batched

    monkeypatch.setattr(recording, "_enabled", False)  # the groups recorded in this process
    recording_here = batched._Recording(workers=1)
    pool = recording_here.pool
    (worker,) = pool._processes.values()
    held = [batched.submit_to(pool, time.sleep, 60) for _ in range(2)]
    os.kill(worker.pid, signal.SIGKILL)
    concurrent.futures.wait(held, timeout=60)  # broken, not cancellable: the worker held them
    recorded: list[list] = []
    monkeypatch.setattr(batched, "_record_group", lambda group: recorded.append(group) or group)
    jobs = [SimpleNamespace(index=index) for index in range(3)]
    pending = [([jobs[0]], held[0], [0.5]), (jobs[1:], held[1], [1.5, 2.5])]
    try:
        recording_here.pending = pending
        assert recording_here.wait() == {0: 0.5, 1: 1.5, 2: 2.5}
        assert recording_here.pool is None
        assert recorded == [[0.5], [1.5, 2.5]]
        assert batched.submit_to(pool, os.getpid) is None  # later groups go to the sweep too
    finally:
        pool.shutdown()
    assert capsys.readouterr().out.strip() == batched.WORKER_STOPPED
